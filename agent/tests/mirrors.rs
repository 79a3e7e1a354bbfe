//! Remote charts through chart mirrors (`SEXTANT_CHART_MIRRORS`): a Helm repository and an OCI
//! registry on 127.0.0.1 stand in for upstream repositories that this machine cannot reach, as an
//! air-gapped cluster's own mirrors would.

mod support;

use std::process::Command;
use support::charts::{package, write_chart, HelmRepoServer, OciRegistry};
use support::*;

/// Upstream names that resolve nowhere (`.invalid`): only a mirror can serve them.
const UPSTREAM_REPO: &str = "https://charts.upstream.invalid";
const UPSTREAM_OCI: &str = "oci://registry.upstream.invalid/charts";

/// A Helm repository at `<server>/mirror/stable` holding `web` 1.0.0.
fn helm_repository(dir: &std::path::Path) -> HelmRepoServer {
    let served = dir.join("served/mirror/stable");
    let pkg = package(
        &write_chart(&dir.join("src"), "web", "1.0.0", "from-helm-repo"),
        &served,
    );
    assert!(pkg.is_file());
    let index = Command::new(helm())
        .args(["repo", "index"])
        .arg(&served)
        .output()
        .unwrap();
    assert!(
        index.status.success(),
        "{}",
        String::from_utf8_lossy(&index.stderr)
    );
    HelmRepoServer::start(&dir.join("served"))
}

fn remote_repo() -> TempRepo {
    let repo = TempRepo::new();
    repo.write(
        "environments/e/environment.yaml",
        &environment(
            "e",
            &format!(
                "    - {{name: web, namespace: web, chart: {{repository: {UPSTREAM_REPO}/stable, name: web, version: 1.0.0}}}}\n    - {{name: api, namespace: api, chart: {UPSTREAM_OCI}/api, version: 0.2.0, wave: 1}}\n"
            ),
        ),
    );
    repo
}

fn with_mirrors(cache: &std::path::Path, mirrors: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sextant"))
        .args(args)
        .env("SEXTANT_HELM", helm())
        .env("SEXTANT_CACHE_DIR", cache)
        .env("SEXTANT_CHART_MIRRORS", mirrors)
        .output()
        .expect("run sextant")
}

#[test]
fn renders_remote_charts_from_a_helm_repository_mirror_and_an_oci_registry_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let http = helm_repository(dir.path());
    let registry = OciRegistry::start();
    registry.push(
        &package(
            &write_chart(&dir.path().join("src"), "api", "0.2.0", "from-oci"),
            &dir.path().join("pkg"),
        ),
        "charts",
    );
    let repo = remote_repo();
    let mirrors = format!(
        "{UPSTREAM_REPO}=http://127.0.0.1:{}/mirror,oci://registry.upstream.invalid=oci+http://127.0.0.1:{}",
        http.port, registry.port
    );
    let cache = dir.path().join("cache");
    let args = [
        "render",
        "--env",
        "e",
        "--repo",
        repo.path().to_str().unwrap(),
    ];

    let out = with_mirrors(&cache, &mirrors, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = documents(&String::from_utf8_lossy(&out.stdout));
    let markers: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap(),
                d["data"]["marker"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(markers, [("web", "from-helm-repo"), ("api", "from-oci")]);
    let fetched = http.requests();
    assert!(
        fetched.contains(&"/mirror/stable/index.yaml".to_string())
            && fetched.contains(&"/mirror/stable/web-1.0.0.tgz".to_string()),
        "{fetched:?}"
    );

    // Pulled once per exact version: a second render asks neither mirror.
    drop(registry);
    let again = with_mirrors(&cache, &mirrors, &args);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(again.stdout, out.stdout);
    assert_eq!(http.requests().len(), fetched.len());
}

#[test]
fn a_chart_that_cannot_be_fetched_names_release_url_and_version_and_nothing_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let http = helm_repository(dir.path());
    let (server, kubeconfig) = test_server(dir.path());
    let repo = TempRepo::new();
    repo.write("charts/local/Chart.yaml", "apiVersion: v2\nname: local\nversion: 0.1.0\n")
        .write(
            "charts/local/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\ndata: {k: v}\n",
        )
        .write(
            "environments/e/environment.yaml",
            &environment(
                "e",
                &format!(
                    "    - {{name: first, namespace: app, chart: charts/local, wave: -1}}\n    - {{name: web, namespace: web, chart: {{repository: {UPSTREAM_REPO}/stable, name: web, version: 9.9.9}}}}\n"
                ),
            ),
        );
    let mirrors = format!("{UPSTREAM_REPO}=http://127.0.0.1:{}/mirror", http.port);
    let out = with_mirrors(
        &dir.path().join("cache"),
        &mirrors,
        &[
            "apply",
            "--env",
            "e",
            "--repo",
            repo.path().to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for part in [
        "release web",
        "chart web version 9.9.9",
        &format!(
            "http://127.0.0.1:{}/mirror/stable (mirror of {UPSTREAM_REPO}/stable)",
            http.port
        ),
    ] {
        assert!(stderr.contains(part), "{part:?} not in: {stderr}");
    }
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .collect();
    assert!(
        writes.is_empty(),
        "the first release was applied anyway: {writes:?}"
    );
}

#[test]
fn an_unreachable_mirror_fails_with_its_address_and_the_version() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then released.
    let port = service_kit::testing::closed_port().port();
    let repo = remote_repo();
    let out = with_mirrors(
        &dir.path().join("cache"),
        &format!("oci://registry.upstream.invalid=oci+http://127.0.0.1:{port}/m,{UPSTREAM_REPO}=http://127.0.0.1:{port}"),
        &["plan", "--env", "e", "--repo", repo.path().to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("release web: cannot fetch chart web version 1.0.0 from http://127.0.0.1:")
            || stderr.contains(
                "release api: cannot fetch chart api version 0.2.0 from oci://127.0.0.1:"
            ),
        "{stderr}"
    );
}
