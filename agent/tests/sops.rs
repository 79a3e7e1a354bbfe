//! SOPS-encrypted values through the CLI: a values file the real `sops` encrypted for an age
//! recipient renders the same objects as its plaintext twin; the decrypted value is nowhere on
//! disk (the agent's cache, helm's folders and the temporary folder scanned for it);
//! `sextant values` masks it; a key that cannot decrypt the file fails the render naming the
//! file, with no value in the message.

mod support;

use age::secrecy::ExposeSecret as _;
use std::path::Path;
use std::process::Command;
use support::*;

const SENTINEL: &str = "s3cr3t-sentinel-0451";

fn values() -> String {
    format!("database:\n  password: {SENTINEL}\n  port: 5432\n  enabled: true\nreplicas: 2\n")
}

/// A chart whose Secret carries the password and whose ConfigMap the rest.
fn chart(repo: &TempRepo) {
    repo.write("charts/app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
        .write(
            "charts/app/templates/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  password: {{ .Values.database.password | quote }}\n",
        )
        .write(
            "charts/app/templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  port: {{ .Values.database.port | quote }}\n  enabled: {{ .Values.database.enabled | quote }}\n  replicas: {{ .Values.replicas | quote }}\n  region: {{ .Values.region | quote }}\n",
        );
    for env in ["plain", "secret"] {
        repo.write(
            &format!("environments/{env}/environment.yaml"),
            &environment(
                env,
                "    - {name: app, namespace: app, chart: charts/app, values: [values/app.yaml, values/common.yaml]}\n",
            ),
        )
        .write(&format!("environments/{env}/values/common.yaml"), "region: eu-west-1\n");
    }
}

/// An age key pair: the key file's text and the recipient.
fn key_pair() -> (String, String) {
    let id = age::x25519::Identity::generate();
    (
        format!("{}\n", id.to_string().expose_secret()),
        id.to_public().to_string(),
    )
}

fn sops_encrypt(dir: &Path, plain: &str, recipient: &str) -> String {
    let sops = workspace().join(".tools/bin/sops");
    let file = dir.join("values.yaml");
    std::fs::write(&file, plain).unwrap();
    let out = Command::new(sops)
        .args(["--encrypt", "--age", recipient])
        .arg(&file)
        .current_dir(dir)
        .output()
        .expect("sops: run `make tools`");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(file).unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// `sextant ARGS` with `keys` as SOPS_AGE_KEY_FILE and its own cache and temporary folder.
fn run(repo: &TempRepo, keys: &Path, scratch: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sextant"))
        .args(args)
        .args(["--repo", repo.path().to_str().unwrap()])
        .env("SEXTANT_HELM", helm())
        .env("SEXTANT_CACHE_DIR", scratch.join("cache"))
        .env("TMPDIR", scratch.join("tmp"))
        .env("SOPS_AGE_KEY_FILE", keys)
        .env_remove("SOPS_AGE_KEY")
        .env("HOME", scratch.join("home"))
        .output()
        .unwrap()
}

/// Every file under `dir` that holds `needle`.
fn holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(holding(&p, needle));
        } else if std::fs::read(&p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) {
            found.push(p.display().to_string());
        }
    }
    found
}

#[test]
fn an_encrypted_values_file_renders_as_its_twin_and_its_value_stays_off_disk() {
    let repo = TempRepo::new();
    chart(&repo);
    let work = tempfile::tempdir().unwrap();
    let (keys, recipient) = key_pair();
    let key_file = work.path().join("keys.txt");
    std::fs::write(&key_file, keys).unwrap();
    repo.write("environments/plain/values/app.yaml", &values())
        .write(
            "environments/secret/values/app.yaml",
            &sops_encrypt(work.path(), &values(), &recipient),
        );
    let (plain, secret) = (work.path().join("plain"), work.path().join("secret"));
    for d in [&plain, &secret] {
        std::fs::create_dir_all(d.join("tmp")).unwrap();
    }

    let twin = run(&repo, &key_file, &plain, &["render", "--env", "plain"]);
    let got = run(&repo, &key_file, &secret, &["render", "--env", "secret"]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    // The same objects, but for the environment's own label and the hash that covers it.
    let objects = |out: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(out)
            .lines()
            .filter(|l| !l.contains("sextant.io/environment:") && !l.contains("sextant.io/hash:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(objects(&got.stdout), objects(&twin.stdout));
    assert!(
        String::from_utf8_lossy(&got.stdout).contains(SENTINEL),
        "rendered into the Secret"
    );
    // A second render (a cache hit for a plain release) decrypts again: nothing was cached.
    let again = run(&repo, &key_file, &secret, &["render", "--env", "secret"]);
    assert_eq!(again.stdout, got.stdout);
    assert_eq!(
        holding(&secret, SENTINEL),
        Vec::<String>::new(),
        "the plaintext on disk"
    );

    let shown = run(
        &repo,
        &key_file,
        &secret,
        &["values", "--env", "secret", "--release", "app"],
    );
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(!text.contains(SENTINEL) && !text.contains("5432"), "{text}");
    assert!(text.contains("password: (encrypted value)"), "{text}");
    assert!(
        text.contains("region: eu-west-1"),
        "a plain file's value shows: {text}"
    );
    let refused = run(
        &repo,
        &key_file,
        &secret,
        &[
            "values",
            "--env",
            "secret",
            "--release",
            "app",
            "--show-secrets",
        ],
    );
    assert!(!refused.status.success(), "not a terminal");
}

#[test]
fn a_key_that_cannot_decrypt_fails_the_render_naming_the_file() {
    let repo = TempRepo::new();
    chart(&repo);
    let work = tempfile::tempdir().unwrap();
    let (_, recipient) = key_pair();
    let (other, _) = key_pair();
    let key_file = work.path().join("other.txt");
    std::fs::write(&key_file, other).unwrap();
    repo.write(
        "environments/secret/values/app.yaml",
        &sops_encrypt(work.path(), &values(), &recipient),
    );
    std::fs::create_dir_all(work.path().join("tmp")).unwrap();
    let out = run(
        &repo,
        &key_file,
        work.path(),
        &["render", "--env", "secret"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("environments/secret/values/app.yaml: cannot decrypt: no age key here decrypts the file's data key")
            && err.contains(&recipient)
            && err.contains("SOPS_AGE_KEY_FILE="),
        "{err}"
    );
    assert!(!err.contains(SENTINEL));
}
