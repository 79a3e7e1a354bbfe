//! `sextant promote`: what qualifies from dev for prod, verified in the real registry, with the
//! values patch; written only without --dry-run.

mod support;

use std::process::Command;
use support::*;

fn repo(registry: &str, dev: &str, prod: &str) -> TempRepo {
    let release = "    - name: echo\n      namespace: echo\n      chart: charts/values-echo\n      values: [values/echo.yaml]\n";
    let repo = TempRepo::new();
    repo.chart("values-echo")
        .write("environments/dev/environment.yaml", &environment("dev", release))
        .write(
            "environments/prod/environment.yaml",
            &format!(
                "{}  promotion:\n    from: dev\n    images:\n      - {{release: echo, path: image.digest, repository: \"{registry}/echo\"}}\n",
                environment("prod", release)
            ),
        )
        .write("environments/dev/values/echo.yaml", &format!("image:\n  digest: {dev}\n"))
        .write(
            "environments/prod/values/echo.yaml",
            &format!("# prod\nimage:\n  digest: {prod}   # promoted\nreplicaCount: 3\n"),
        );
    repo
}

fn promote(repo: &TempRepo, registry: &str, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_sextant"))
        .args([
            "promote",
            "--from",
            "dev",
            "--to",
            "prod",
            "--repo",
            repo.path().to_str().unwrap(),
        ])
        .args(["--kubeconfig", dir.path().join("none").to_str().unwrap()])
        .args(extra)
        .env("SEXTANT_REGISTRY_INSECURE", registry)
        .env("SEXTANT_CACHE_DIR", dir.path())
        .output()
        .unwrap()
}

#[test]
fn promote_shows_the_verification_and_the_patch_and_writes_only_without_dry_run() {
    let registry = registry_testkit::Distribution::start();
    let pushed = support::block_on(registry.push_image("echo", "linux/amd64"));
    let old = format!("sha256:{}", "0".repeat(64));
    let repo = repo(&registry.host(), &pushed, &old);
    let prod = repo.path().join("environments/prod/values/echo.yaml");
    let before = std::fs::read_to_string(&prod).unwrap();

    let out = promote(&repo, &registry.host(), &["--dry-run", "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["digest"], pushed.as_str());
    assert_eq!(row["target"], old.as_str());
    assert_eq!(
        row["registry"]["Ok"], "verified in oci (bytes hashed)",
        "{row}"
    );
    assert_eq!(
        row["qualifies"], false,
        "no gate was read: nothing qualifies on its own say"
    );
    let patch = row["patch"].as_str().unwrap();
    assert!(
        patch.contains(&format!("-  digest: {old}   # promoted")),
        "{patch}"
    );
    assert!(
        patch.contains(&format!("+  digest: {pushed}   # promoted")),
        "{patch}"
    );
    assert_eq!(
        std::fs::read_to_string(&prod).unwrap(),
        before,
        "--dry-run writes nothing"
    );

    let out = promote(&repo, &registry.host(), &["--output", "patch"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&prod).unwrap(),
        before.replace(&old, &pushed)
    );
}

#[test]
fn promote_reports_a_digest_missing_from_the_registry() {
    let registry = registry_testkit::Distribution::start();
    let missing = format!("sha256:{}", "a".repeat(64));
    let repo = repo(
        &registry.host(),
        &missing,
        &format!("sha256:{}", "0".repeat(64)),
    );
    let out = promote(&repo, &registry.host(), &["--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("refused:"), "{table}");
    assert!(table.contains("no"), "{table}");
    let out = promote(&repo, &registry.host(), &["--dry-run", "--release", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("release \"nope\" is not promoted"));
}

/// The table names the chain through the target and, for an image with a signature policy,
/// who signed the source's digest (a key pair's `.sig` made by Python's cryptography), or why
/// it is refused.
#[test]
fn promote_shows_the_chain_and_the_signature_of_the_source_digest() {
    let registry = registry_testkit::Distribution::start();
    let image = format!("{}/echo", registry.host());
    let signed = support::block_on(registry.push_image("echo", "linux/amd64"));
    let unsigned = support::block_on(registry.push_image("echo", "linux/amd64"));
    let keys = tempfile::tempdir().unwrap();
    let public = keys.path().join("cosign.pub");
    registry_testkit::signers::keyed(
        &image,
        &signed,
        &public,
        registry_testkit::signers::Keyed {
            push: true,
            ..Default::default()
        },
    );
    let pem = std::fs::read_to_string(&public)
        .unwrap()
        .replace('\n', "\\n");
    let old = format!("sha256:{}", "0".repeat(64));
    let repo = repo(&registry.host(), &signed, &old);
    let release = "    - name: echo\n      namespace: echo\n      chart: charts/values-echo\n      values: [values/echo.yaml]\n";
    repo.write(
        "environments/prod/environment.yaml",
        &format!(
            "{}  promotion:\n    from: dev\n    images:\n      - {{release: echo, path: image.digest, repository: \"{image}\", verify: {{signature: {{key: \"{pem}\"}}}}}}\n",
            environment("prod", release)
        ),
    )
    .write(
        "environments/dr/environment.yaml",
        &format!(
            "{}  promotion:\n    from: prod\n    images:\n      - {{release: echo, path: image.digest, repository: \"{image}\"}}\n",
            environment("dr", release)
        ),
    )
    .write("environments/dr/values/echo.yaml", &format!("image:\n  digest: {old}\n"));

    let out = promote(&repo, &registry.host(), &["--dry-run"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.starts_with("chain: dev → prod → dr\n"), "{table}");
    assert!(table.contains("\tsigned by the key sha256:"), "{table}");

    repo.write(
        "environments/dev/values/echo.yaml",
        &format!("image:\n  digest: {unsigned}\n"),
    );
    let out = promote(&repo, &registry.host(), &["--dry-run", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = rows[0]["signature"]["Err"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("unsigned: the registry holds no Sigstore bundle"),
        "{}",
        rows[0]
    );
    assert_eq!(rows[0]["chain"], serde_json::json!(["dev", "prod", "dr"]));
}
