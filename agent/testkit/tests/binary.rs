//! The `kube-testkit serve` binary: prints its address, writes a kubeconfig kubectl uses,
//! and exposes the request log and fault injection over HTTP.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{kubectl_path, wait_bounded};

#[test]
fn serve_prints_its_address_writes_a_kubeconfig_and_exposes_the_request_log() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Command::new(env!("CARGO_BIN_EXE_kube-testkit"))
        .args(["serve", "--addr", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kube-testkit starts");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("address printed");
    let addr: std::net::SocketAddr = line
        .trim()
        .parse()
        .expect("the first line is the bound address");
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let kubectl = |args: &[&str]| {
        let child = Command::new(kubectl_path())
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env("KUBECACHEDIR", dir.path().join("cache"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        wait_bounded(child, Duration::from_secs(10))
    };
    let out = kubectl(&["get", "namespaces", "-o", "name"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("namespace/default"),
        "{out:?}"
    );

    let fault = dir.path().join("fault.json");
    std::fs::write(&fault, r#"{"matching": {"verb": "get", "resource": "namespaces"}, "action": {"error": {"code": 503}}, "times": 1}"#).unwrap();
    assert!(kubectl(&[
        "create",
        "--raw",
        "/testkit/faults",
        "-f",
        fault.to_str().unwrap()
    ])
    .status
    .success());
    let failed = kubectl(&["get", "namespace", "default"]);
    assert!(!failed.status.success(), "the injected 503 reaches kubectl");

    let log = kubectl(&["get", "--raw", "/testkit/requests"]);
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&log.stdout).expect("the log is JSON");
    let statuses: Vec<(&str, u64)> = records
        .iter()
        .filter(|r| r["resource"] == "namespaces")
        .map(|r| {
            (
                r["verb"].as_str().unwrap_or_default(),
                r["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(statuses.first(), Some(&("list", 200)));
    assert!(statuses.contains(&("get", 503)), "{statuses:?}");

    let _ = server.kill();
    let _ = wait_bounded(server, Duration::from_secs(5));
}

/// A `kube-testkit serve` child, killed when the test ends (also when it fails).
struct Served {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Served {
    fn start(args: &[&str], kubeconfig: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-testkit"))
            .args(["serve", "--addr", "127.0.0.1:0", "--ready-delay-ms", "20"])
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kube-testkit starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped"))
            .read_line(&mut line)
            .expect("address printed");
        let addr = line
            .trim()
            .parse()
            .expect("the first line is the bound address");
        Self { child, addr }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn fail_readiness_image_flags_fail_that_image_until_the_set_is_replaced_over_http() {
    const BAD: &str = "sha256:badbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbad0";
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let served = Served::start(
        &[
            "--fail-readiness-image",
            BAD,
            "--fail-readiness-image",
            "never-used",
        ],
        &kubeconfig,
    );
    assert!(served.addr.ip().is_loopback());
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(kubectl_path())
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env("KUBECACHEDIR", dir.path().join("cache"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        wait_bounded(child, Duration::from_secs(10))
    };
    let kubectl = |args: &[&str], stdin: &str| {
        let out = run(args, stdin);
        assert!(out.status.success(), "kubectl {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed: Vec<String> = serde_json::from_str(&kubectl(
        &["get", "--raw", "/testkit/fail-readiness-images"],
        "",
    ))
    .expect("a JSON list");
    assert_eq!(listed, ["never-used", BAD], "the set, sorted");

    kubectl(
        &["apply", "--server-side", "-f", "-"],
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\n\
             spec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    \
             spec: {{containers: [{{name: app, image: 'registry.example/web@{BAD}'}}]}}\n"
        ),
    );
    let progressing = || {
        kubectl(
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
            ],
            "",
        )
    };
    common::poll_until("ProgressDeadlineExceeded", Duration::from_secs(10), || {
        (progressing() == "ProgressDeadlineExceeded").then_some(())
    });

    let everything = dir.path().join("everything.json");
    std::fs::write(&everything, r#"[""]"#).unwrap();
    let refused = run(
        &[
            "replace",
            "--raw",
            "/testkit/fail-readiness-images",
            "-f",
            everything.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("empty image substring"),
        "{refused:?}"
    );

    let cleared = dir.path().join("none.json");
    std::fs::write(&cleared, "[]").unwrap();
    let answer = kubectl(
        &[
            "replace",
            "--raw",
            "/testkit/fail-readiness-images",
            "-f",
            cleared.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(answer.trim(), "[]");
    common::poll_until("the rollout to complete", Duration::from_secs(10), || {
        (progressing() == "NewReplicaSetAvailable").then_some(())
    });
}
