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
        wait_bounded(child, Duration::from_secs(30))
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
