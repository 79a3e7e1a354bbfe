//! `sextant apply` and `sextant diff` as a user runs them: the binary against the test API server
//! through a kubeconfig, checked with the real kubectl.

mod support;

use sextant_testkit::{Options, TestServer};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use support::*;

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    let bin = workspace().join(".tools/bin/kubectl");
    assert!(
        bin.is_file(),
        "{} is missing: run `make tools`",
        bin.display()
    );
    Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl")
}

#[test]
fn apply_local_then_kubectl_sees_it_and_diff_follows_a_manual_patch() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = test_server(dir.path());
    let repo = workspace();
    let repo = repo.to_str().unwrap();
    let k = kubeconfig.to_str().unwrap();
    let cache = dir.path().join("cache");

    let out = sextant(
        &cache,
        &[
            "apply",
            "--env",
            "local",
            "--repo",
            repo,
            "--kubeconfig",
            k,
            "--wave-timeout",
            "60s",
        ],
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(summary.contains("0 failed"), "{summary}");

    let got = kubectl(
        &kubeconfig,
        &[
            "get",
            "deployments",
            "-A",
            "-l",
            "app.kubernetes.io/managed-by=sextant,sextant.io/environment=local",
            "-o",
            "json",
        ],
    );
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(names == ["hash-service"], "{names:?}");
    for d in list["items"].as_array().unwrap() {
        assert!(d["metadata"]["annotations"]["sextant.io/hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
    }

    let diff = sextant(
        &cache,
        &["diff", "--env", "local", "--repo", repo, "--kubeconfig", k],
    );
    assert_eq!(
        diff.status.code(),
        Some(0),
        "in sync: {}{}",
        String::from_utf8_lossy(&diff.stdout),
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(diff.stdout.is_empty());

    let scaled = kubectl(
        &kubeconfig,
        &[
            "patch",
            "hpa/hash-service",
            "-n",
            "hash-service",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"maxReplicas":9}}"#,
        ],
    );
    assert!(
        scaled.status.success(),
        "{}",
        String::from_utf8_lossy(&scaled.stderr)
    );
    let diff = sextant(
        &cache,
        &["diff", "--env", "local", "--repo", repo, "--kubeconfig", k],
    );
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "out of sync: {text}{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(
        text.contains("live/HorizontalPodAutoscaler/hash-service/hash-service")
            && text.contains("-  maxReplicas: 9")
            && text.contains("+  maxReplicas: 4"),
        "{text}"
    );
}

/// A repository of two releases: `first` (wave 0, a Deployment that takes a while to become
/// ready) and `second` (wave 1, a ConfigMap).
fn two_wave_repo() -> TempRepo {
    let repo = TempRepo::new();
    repo.write("charts/first/Chart.yaml", "apiVersion: v2\nname: first\nversion: 0.1.0\n")
        .write(
            "charts/first/templates/d.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: slow\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: slow}}\n  template:\n    metadata: {labels: {app: slow}}\n    spec:\n      containers: [{name: c, image: busybox}]\n",
        )
        .write("charts/second/Chart.yaml", "apiVersion: v2\nname: second\nversion: 0.1.0\n")
        .write("charts/second/templates/c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\ndata: {k: v}\n")
        .write(
            "environments/e/environment.yaml",
            &environment(
                "e",
                "    - {name: first, namespace: app, chart: charts/first, wave: 0}\n    - {name: second, namespace: app, chart: charts/second, wave: 1}\n",
            ),
        );
    repo
}

#[test]
fn an_apply_killed_mid_wave_converges_when_run_again() {
    // Readiness takes long enough that the first run is surely inside wave 0 when it is killed.
    let server = TestServer::start(Options {
        ready_delay: Duration::from_secs(3),
        ..Options::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let repo = two_wave_repo();
    let cache = dir.path().join("cache");
    let args = [
        "apply",
        "--env",
        "e",
        "--repo",
        repo.path().to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--output",
        "json",
    ];

    let mut first = Command::new(env!("CARGO_BIN_EXE_sextant"))
        .args(args)
        .env("SEXTANT_HELM", helm())
        .env("SEXTANT_CACHE_DIR", &cache)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server
        .requests()
        .iter()
        .any(|r| r.is_write() && r.name.as_deref() == Some("slow"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never wrote wave 0"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap(); // SIGKILL: no chance to clean up
    first.wait().unwrap();
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.is_write() && r.name.as_deref() == Some("after")),
        "killed inside wave 0"
    );

    let second = sextant_ok(&cache, &args);
    let result: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(result["totals"]["failed"], 0);
    assert_eq!(
        result["totals"]["created"], 1,
        "only what the killed run had not written: {result}"
    );

    // Converged: nothing left to write, and both releases are in the inventory.
    server.clear_requests();
    let third = sextant(&cache, &args);
    assert!(third.status.success());
    assert!(
        !server.requests().iter().any(|r| r.is_write()),
        "converged: a third run writes nothing"
    );
    let got = kubectl(
        &kubeconfig,
        &[
            "get",
            "configmaps",
            "-n",
            "sextant-system",
            "-l",
            "sextant.io/environment=e",
            "-o",
            "name",
        ],
    );
    let names = String::from_utf8_lossy(&got.stdout);
    assert!(
        names.contains("sextant-inventory-e-first") && names.contains("sextant-inventory-e-second"),
        "{names}"
    );
}

#[test]
fn an_apply_stopped_by_sigterm_mid_wave_prints_its_partial_result_as_json_and_fails() {
    // Wave 0 cannot become ready while the test runs: the run is surely inside it at the signal.
    let server = TestServer::start(Options {
        ready_delay: Duration::from_secs(600),
        ..Options::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let repo = two_wave_repo();
    let mut run = Command::new(env!("CARGO_BIN_EXE_sextant"))
        .args([
            "apply",
            "--env",
            "e",
            "--repo",
            repo.path().to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--output",
            "json",
        ])
        .env("SEXTANT_HELM", helm())
        .env("SEXTANT_CACHE_DIR", dir.path().join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server
        .requests()
        .iter()
        .any(|r| r.is_write() && r.name.as_deref() == Some("slow"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never wrote wave 0"
        );
        assert!(run.try_wait().unwrap().is_none(), "the run ended by itself");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: kill(2) on the child's pid; no memory is involved.
    unsafe {
        libc::kill(run.id() as i32, libc::SIGTERM);
    }
    let out = run.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(143),
        "128 + SIGTERM: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the partial result is JSON ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(result["succeeded"], false);
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .starts_with("stopped before wave 1: asked to stop (SIGTERM or SIGINT"),
        "{result:#}"
    );
    assert_eq!(result["waves"][0]["wave"], 0);
    assert!(
        result["waves"][0]["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "slow" && o["outcome"] == "created"),
        "{result:#}"
    );
    assert_eq!(
        result["totals"]["created"], 2,
        "the namespace and slow: {result:#}"
    );
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.is_write() && r.name.as_deref() == Some("after")),
        "no wave after the signal"
    );
}

/// A repository whose one release renders a Secret (`stringData.password`) and a ConfigMap.
fn secret_repo(password: &str) -> TempRepo {
    let repo = TempRepo::new();
    repo.write(
        "charts/creds/Chart.yaml",
        "apiVersion: v2\nname: creds\nversion: 0.1.0\n",
    )
    .write("charts/creds/values.yaml", &format!("password: {password}\n"))
    .write(
        "charts/creds/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: Opaque\nstringData:\n  password: {{ .Values.password | quote }}\n  user: admin\n",
    )
    .write(
        "charts/creds/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n",
    )
    .write("environments/dev/creds.yaml", "{}\n")
    .write(
        "environments/dev/environment.yaml",
        &environment(
            "dev",
            "    - {name: creds, namespace: app, chart: charts/creds, values: [creds.yaml]}\n",
        ),
    );
    repo
}

fn run_sextant(cache: &Path, repo: &TempRepo, kubeconfig: &Path, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend([
        "--env",
        "dev",
        "--repo",
        repo.path().to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    sextant(cache, &all)
}

#[test]
fn diff_of_a_secret_rotated_in_the_cluster_prints_no_value_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = test_server(dir.path());
    let cache = dir.path().join("cache");
    let repo = secret_repo("hunter2");
    let out = run_sextant(&cache, &repo, &kubeconfig, &["apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Someone rotates the password in the cluster; Git moves on to another.
    let rotated = kubectl(
        &kubeconfig,
        &[
            "patch",
            "secret",
            "creds",
            "-n",
            "app",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"password":"cm90YXRlZCE="}}"#,
        ],
    );
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    repo.write("charts/creds/values.yaml", "password: s3cond-secret\n");

    let out = run_sextant(&cache, &repo, &kubeconfig, &["diff"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("-  password: \"*** (before)\"")
            && text.contains("+  password: \"*** (after)\"")
            && text.contains("   user: \"***\""),
        "the changed key still shows as changed: {text}"
    );
    for clear in [
        "hunter2",
        "aHVudGVyMg==",
        "rotated!",
        "cm90YXRlZCE=",
        "s3cond-secret",
        "czNjb25kLXNlY3JldA==",
        "YWRtaW4=",
        "sha256:",
    ] {
        assert!(!text.contains(clear), "{clear} printed: {text}");
    }
}

#[test]
fn diff_before_the_first_deployment_shows_the_additions() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = test_server(dir.path());
    let repo = secret_repo("hunter2");
    let out = run_sextant(&dir.path().join("cache"), &repo, &kubeconfig, &["diff"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("+++ git/ConfigMap/app/settings") && text.contains("+  mode: fast"),
        "{text}"
    );
    assert!(
        text.contains("+++ git/Secret/app/creds") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn a_kubeconfig_context_that_does_not_exist_lists_those_that_do() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = test_server(dir.path());
    let repo = secret_repo("hunter2");
    let out = run_sextant(
        &dir.path().join("cache"),
        &repo,
        &kubeconfig,
        &["diff", "--context", "prod-cluster"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{} has no context \"prod-cluster\" (its contexts: testkit)",
            kubeconfig.display()
        )),
        "{err}"
    );
}

#[test]
fn diff_as_json_lists_each_drifted_field_with_who_changed_it_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = test_server(dir.path());
    let cache = dir.path().join("cache");
    let repo = secret_repo("hunter2");
    let out = run_sextant(&cache, &repo, &kubeconfig, &["apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_sextant(&cache, &repo, &kubeconfig, &["diff", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["in_sync"], true);

    for args in [
        &[
            "patch",
            "configmap",
            "settings",
            "-n",
            "app",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"mode":"slow"}}"#,
        ][..],
        &[
            "patch",
            "secret",
            "creds",
            "-n",
            "app",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"password":"cm90YXRlZCE="}}"#,
        ][..],
    ] {
        let o = kubectl(&kubeconfig, args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let out = run_sextant(&cache, &repo, &kubeconfig, &["diff", "--output", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("cm90YXRlZCE=") && !text.contains("aHVudGVyMg=="),
        "{text}"
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["environment"], "dev");
    assert_eq!(doc["in_sync"], false);
    let find = |kind: &str| {
        doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {doc}"))
    };
    let cm = find("ConfigMap");
    assert_eq!(cm["name"], "settings");
    assert_eq!(cm["fields"][0]["path"], "/data/mode");
    assert_eq!(cm["fields"][0]["git"], "fast");
    assert_eq!(cm["fields"][0]["live"], "slow");
    assert_eq!(cm["fields"][0]["manager"], "kubectl-patch");
    assert!(cm["fields"][0]["changed_at"].is_string());
    let secret = find("Secret");
    assert_eq!(secret["fields"][0]["path"], "/data/password");
    assert_eq!(secret["fields"][0]["git"], "***");
    assert_eq!(secret["fields"][0]["live"], "***");
}

#[test]
fn drift_prints_the_values_patch_a_pull_request_would_propose_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = test_server(dir.path());
    let cache = dir.path().join("cache");
    let repo = secret_repo("hunter2");
    repo.write(
        "charts/creds/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: {{ .Values.mode | quote }}\n",
    )
    .write(
        "environments/dev/creds.yaml",
        "# dev's settings\nmode: fast   # the default\n",
    );
    let out = run_sextant(&cache, &repo, &kubeconfig, &["apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_sextant(&cache, &repo, &kubeconfig, &["drift"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in sync: no drift\n");

    for patch in [
        ["configmap", "settings", r#"{"data":{"mode":"slow"}}"#],
        ["secret", "creds", r#"{"data":{"password":"cm90YXRlZCE="}}"#],
    ] {
        let o = kubectl(
            &kubeconfig,
            &[
                "patch", patch[0], patch[1], "-n", "app", "--type", "merge", "-p", patch[2],
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let out = run_sextant(&cache, &repo, &kubeconfig, &["drift", "--output", "patch"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "--- a/environments/dev/creds.yaml\n+++ b/environments/dev/creds.yaml\n@@ -1,2 +1,2 @@\n # dev's settings\n-mode: fast   # the default\n+mode: slow   # the default\n"
    );
    let out = run_sextant(&cache, &repo, &kubeconfig, &["drift", "--output", "json"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !text.contains("cm90YXRlZCE=") && !text.contains("aHVudGVyMg=="),
        "{text}"
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let release = &doc["releases"][0];
    assert_eq!(release["release"], "creds");
    assert_eq!(
        release["edits"],
        serde_json::json!([{"file": "environments/dev/creds.yaml", "key": "mode",
            "old": "fast", "new": "slow", "from_defaults": false}])
    );
    let unmapped = release["unmapped"].as_array().unwrap();
    assert!(
        unmapped.iter().any(|u| u["path"] == "/data/password"
            && u["reason"] == "a Secret's values are never written to Git"),
        "{text}"
    );
    // Nothing was opened or written: the file in the repository is as it was.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("environments/dev/creds.yaml")).unwrap(),
        "# dev's settings\nmode: fast   # the default\n"
    );
}
