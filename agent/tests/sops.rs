//! SOPS-encrypted values through the CLI: a values file the real `sops` encrypted for an age
//! recipient renders the same objects as its plaintext twin; the decrypted value is nowhere on
//! disk (the agent's cache, helm's folders and the temporary folder scanned for it);
//! `sextant values` masks it; a key that cannot decrypt the file fails the render naming the
//! file, with no value in the message.

mod support;

use std::path::Path;
use std::process::Command;
use support::sops::{encrypt as sops_encrypt, key_pair};
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

/// `sextant render`'s objects, but for the environment's own label and the hash that covers
/// it: what a twin environment renders the same.
fn objects(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.contains("sextant.io/environment:") && !l.contains("sextant.io/hash:"))
        .map(str::to_string)
        .collect()
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

/// A live change to a field an encrypted value feeds: `sextant diff` and `sextant drift` show
/// no value of it, and the values patch the drift pull request would carry keeps the file a
/// SOPS file, with only the value's ciphertext and the MAC changing, which the real `sops`
/// decrypts to the live value.
#[test]
fn drift_on_a_field_an_encrypted_value_feeds_is_proposed_encrypted() {
    const ROTATED: &str = "r0tated-sentinel-0452";
    let repo = TempRepo::new();
    repo.write("charts/db/Chart.yaml", "apiVersion: v2\nname: db\nversion: 0.1.0\n")
        .write(
            "charts/db/templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\ndata:\n  dsn: \"postgres://app:{{ .Values.database.password }}@db:{{ .Values.database.port }}\"\n",
        )
        .write(
            "environments/dev/environment.yaml",
            &environment(
                "dev",
                "    - {name: db, namespace: app, chart: charts/db, values: [values/db.yaml]}\n",
            ),
        );
    let work = tempfile::tempdir().unwrap();
    let (keys, recipient) = key_pair();
    let key_file = work.path().join("keys.txt");
    std::fs::write(&key_file, &keys).unwrap();
    let encrypted = sops_encrypt(work.path(), &values(), &recipient);
    repo.write("environments/dev/values/db.yaml", &encrypted);
    std::fs::create_dir_all(work.path().join("tmp")).unwrap();
    let (_server, kubeconfig) = test_server(work.path());
    let on_cluster = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--env", "dev", "--kubeconfig", kubeconfig.to_str().unwrap()]);
        run(&repo, &key_file, work.path(), &all)
    };
    let applied = on_cluster(&["apply"]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let dsn = format!(r#"{{"data":{{"dsn":"postgres://app:{ROTATED}@db:5432"}}}}"#);
    let kubectl = Command::new(workspace().join(".tools/bin/kubectl"))
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .args([
            "patch",
            "configmap",
            "db",
            "-n",
            "app",
            "--type",
            "merge",
            "-p",
            &dsn,
        ])
        .output()
        .unwrap();
    assert!(
        kubectl.status.success(),
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );

    let diff = on_cluster(&["diff"]);
    let json = on_cluster(&["diff", "--output", "json"]);
    let report = on_cluster(&["drift", "--output", "json"]);
    let patch = on_cluster(&["drift", "--output", "patch"]);
    for out in [&diff, &json, &report, &patch] {
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for clear in [SENTINEL, ROTATED] {
            assert!(!text.contains(clear), "{clear} shown: {text}");
        }
    }
    let diff = String::from_utf8_lossy(&diff.stdout);
    assert!(
        diff.contains("-  dsn: (encrypted value changed)")
            && diff.contains("+  dsn: (encrypted value)"),
        "{diff}"
    );
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(
        report["releases"][0]["edits"],
        serde_json::json!([{"file": "environments/dev/values/db.yaml", "key": "database.password",
            "old": "(encrypted value)", "new": "(encrypted value changed)", "from_defaults": false}])
    );
    // Only the value's ciphertext and the MAC's two lines change.
    let patch = String::from_utf8_lossy(&patch.stdout).to_string();
    let changed: Vec<&str> = patch
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| {
            l.trim_start_matches('+')
                .trim_start()
                .split(':')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(changed, ["password", "lastmodified", "mac"], "{patch}");
    // The patch applied, the file decrypts with the real sops to the live value.
    let patch_file = work.path().join("drift.patch");
    std::fs::write(&patch_file, &patch).unwrap();
    let applied = Command::new("git")
        .args(["apply", patch_file.to_str().unwrap()])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let clear = support::sops::decrypt(repo.path(), "environments/dev/values/db.yaml", &key_file);
    assert_eq!(clear["database"]["password"], ROTATED);
    assert_eq!(clear["database"]["port"], 5432);
}

/// A KMS key made in moto's KMS (aws-sdk-kms, static test credentials).
fn kms_key(moto: &registry_testkit::moto::Moto) -> String {
    registry_testkit::moto::use_test_credentials();
    support::block_on(async {
        let config = sextant_registry::aws::sdk_config(
            registry_testkit::moto::REGION,
            std::time::Duration::from_secs(10),
            Some(&moto.url()),
        )
        .await;
        let kms = aws_sdk_kms::Client::new(&config);
        let key = kms.create_key().send().await.expect("CreateKey");
        key.key_metadata().unwrap().arn().unwrap().to_string()
    })
}

/// The AWS variables of a process that talks to `endpoint`'s KMS: static test credentials, the
/// standard endpoint variable, no instance metadata.
fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", registry_testkit::moto::REGION.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_ENDPOINT_URL_KMS", endpoint.into()),
    ]
}

/// A server on 127.0.0.1 that answers every request as KMS throttling it, until dropped.
struct Throttling {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Throttling {
    fn start() -> Throttling {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf);
                let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: ThrottlingException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Throttling { addr, stop }
    }
}

impl Drop for Throttling {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// A values file the real sops encrypted with a key of moto's KMS renders as its plaintext twin
/// through the agent's KMS client; KMS down or throttled fails the render naming the file and
/// the key, as a failure a later try may fix, with no value in the message.
#[test]
fn a_file_encrypted_with_aws_kms_decrypts_through_kms_and_kms_down_or_throttled_fails_clearly() {
    let moto = registry_testkit::moto::Moto::start();
    let arn = kms_key(&moto);
    let repo = TempRepo::new();
    chart(&repo);
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("tmp")).unwrap();
    let file = work.path().join("values.yaml");
    std::fs::write(&file, values()).unwrap();
    let out = Command::new(workspace().join(".tools/bin/sops"))
        .args(["--encrypt", "--kms", &arn, "--encryption-context", "app:db"])
        .arg(&file)
        .current_dir(work.path())
        .envs(aws_env(&moto.url()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&file).unwrap();
    repo.write("environments/plain/values/app.yaml", &values())
        .write(
            "environments/secret/values/app.yaml",
            &String::from_utf8(out.stdout).unwrap(),
        );
    // No age key at all: only KMS opens the file.
    let no_keys = work.path().join("absent-keys.txt");
    let render = |env: &str, endpoint: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sextant"));
        c.args([
            "render",
            "--env",
            env,
            "--repo",
            repo.path().to_str().unwrap(),
        ])
        .env("SEXTANT_HELM", helm())
        .env("SEXTANT_CACHE_DIR", work.path().join("cache"))
        .env("TMPDIR", work.path().join("tmp"))
        .env("SOPS_AGE_KEY_FILE", &no_keys)
        .env_remove("SOPS_AGE_KEY")
        .env("HOME", work.path().join("home"))
        .envs(aws_env(endpoint));
        c.output().unwrap()
    };
    let twin = render("plain", &moto.url());
    let got = render("secret", &moto.url());
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(objects(&got.stdout), objects(&twin.stdout));
    for dir in ["cache-secret", "tmp", "home"] {
        assert_eq!(
            holding(&work.path().join(dir), SENTINEL),
            Vec::<String>::new()
        );
    }

    let throttling = Throttling::start();
    let throttled = render("secret", &format!("http://{}", throttling.addr));
    drop(throttling);
    let down = render(
        "secret",
        &format!("http://{}", service_kit::testing::closed_port()),
    );
    for (out, why) in [
        (&throttled, "ThrottlingException"),
        (&down, "KMS could not be reached"),
    ] {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("environments/secret/values/app.yaml: cannot decrypt: AWS KMS key")
                && err.contains(&arn)
                && err.contains(why),
            "{err}"
        );
        assert!(!err.contains(SENTINEL), "{err}");
    }
}
