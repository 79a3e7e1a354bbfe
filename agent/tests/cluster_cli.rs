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
fn apply_prod_then_kubectl_sees_it_and_diff_follows_a_manual_scale() {
    let server = TestServer::start(Options {
        ready_delay: Duration::from_millis(20),
        ..Options::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let repo = workspace();
    let repo = repo.to_str().unwrap();
    let k = kubeconfig.to_str().unwrap();
    let cache = dir.path().join("cache");

    let out = sextant(
        &cache,
        &[
            "apply",
            "--env",
            "prod",
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
            "app.kubernetes.io/managed-by=sextant,sextant.io/environment=prod",
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
    assert!(
        names.contains(&"hash-service") && names.contains(&"monitoring"),
        "{names:?}"
    );
    for d in list["items"].as_array().unwrap() {
        assert!(d["metadata"]["annotations"]["sextant.io/hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
    }

    let diff = sextant(
        &cache,
        &["diff", "--env", "prod", "--repo", repo, "--kubeconfig", k],
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
            "scale",
            "deployment/monitoring",
            "-n",
            "monitoring",
            "--replicas=5",
        ],
    );
    assert!(
        scaled.status.success(),
        "{}",
        String::from_utf8_lossy(&scaled.stderr)
    );
    let diff = sextant(
        &cache,
        &["diff", "--env", "prod", "--repo", repo, "--kubeconfig", k],
    );
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "out of sync: {text}{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(
        text.contains("live/Deployment/monitoring/monitoring")
            && text.contains("-  replicas: 5")
            && text.contains("+  replicas: 2"),
        "{text}"
    );
}
