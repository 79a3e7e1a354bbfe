//! The apply engine against the test API server, over HTTP: wave order, health gates, hooks,
//! zero writes when nothing changed, prune, conflicts and faults.

mod support;

use sextant::apply::cluster::{Cluster, RetryPolicy};
use sextant::apply::result::{Outcome, SyncResult};
use sextant::apply::sync::{sync, SyncOptions};
use sextant_testkit::{Fault, Match, Options, RequestRecord, TestServer, Verb, FAIL_READINESS};
use std::time::Duration;
use support::*;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {{ toJson .Values.annotations }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "example.com/web@sha256:{{ repeat 64 "a" }}"}]
"#;

fn configmap(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{{{ toJson .Values.annotations }}}}\ndata:\n  key: {{{{ .Values.value | quote }}}}\n")
}

fn job(name: &str, hook: &str) -> String {
    format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    helm.sh/hook: {hook}\n    helm.sh/hook-delete-policy: before-hook-creation\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: j, image: busybox}}]\n")
}

/// base (wave 0: a ConfigMap and the Deployment `web`), late (wave 1), hooks (wave 2: a
/// PreSync Job, a ConfigMap, a PostSync Job).
fn repo() -> TempRepo {
    let repo = TempRepo::new();
    let chart = |name: &str| format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n");
    repo.write("charts/base/Chart.yaml", &chart("base"))
        .write(
            "charts/base/values.yaml",
            "replicas: 1\nvalue: one\nannotations: {}\n",
        )
        .write("charts/base/templates/deployment.yaml", DEPLOYMENT)
        .write(
            "charts/base/templates/config.yaml",
            &configmap("base-config"),
        )
        .write("charts/late/Chart.yaml", &chart("late"))
        .write("charts/late/values.yaml", "value: one\nannotations: {}\n")
        .write(
            "charts/late/templates/config.yaml",
            &configmap("late-config"),
        )
        .write("charts/hooks/Chart.yaml", &chart("hooks"))
        .write("charts/hooks/values.yaml", "value: one\nannotations: {}\n")
        .write(
            "charts/hooks/templates/config.yaml",
            &configmap("hooked-config"),
        )
        .write(
            "charts/hooks/templates/pre.yaml",
            &job("pre", "pre-install,pre-upgrade"),
        )
        .write(
            "charts/hooks/templates/post.yaml",
            &job("post", "post-install,post-upgrade"),
        )
        .write("environments/test/base.yaml", "{}\n")
        .write("environments/test/late.yaml", "{}\n")
        .write("environments/test/hooks.yaml", "{}\n");
    set_releases(&repo, &["base", "late", "hooks"]);
    repo
}

fn set_releases(repo: &TempRepo, releases: &[&str]) {
    let waves = [("base", 0), ("late", 1), ("hooks", 2)];
    let mut block = String::new();
    for (name, wave) in waves.iter().filter(|(n, _)| releases.contains(n)) {
        block.push_str(&format!(
            "    - {{name: {name}, namespace: app, chart: charts/{name}, wave: {wave}, values: [{name}.yaml]}}\n"
        ));
    }
    let text = if block.is_empty() {
        environment("test", "").replace("  releases:\n", "  releases: []\n")
    } else {
        environment("test", &block)
    };
    repo.write("environments/test/environment.yaml", &text);
}

fn server(ready_delay: Duration) -> TestServer {
    TestServer::start(Options {
        ready_delay,
        ..Options::default()
    })
    .expect("test API server")
}

fn options(repo: &TempRepo) -> SyncOptions {
    let env = sextant::environment::load(repo.path(), "test").unwrap();
    SyncOptions {
        wave_timeout: Duration::from_secs(20),
        poll_interval: Duration::from_millis(50),
        ..SyncOptions::for_environment(&env)
    }
}

async fn apply(server: &TestServer, repo: &TempRepo, opts: &SyncOptions) -> SyncResult {
    let cache = tempfile::tempdir().unwrap();
    let (env, plan) =
        sextant::plan_environment(&renderer(cache.path()), repo.path(), "test").unwrap();
    let cluster = Cluster::new(server.client().unwrap()).with_retry(RetryPolicy {
        attempts: 6,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
    });
    sync(&cluster, &env, &plan, opts).await
}

/// Writes by the agent, in order: (verb, resource, name).
fn writes(log: &[RequestRecord]) -> Vec<(Verb, String, String)> {
    log.iter()
        .filter(|r| r.is_write() && !r.dry_run)
        .map(|r| {
            (
                r.verb,
                r.resource.clone().unwrap_or_default(),
                r.name.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn position(log: &[RequestRecord], verb: Verb, name: &str) -> usize {
    log.iter()
        .position(|r| r.verb == verb && r.name.as_deref() == Some(name) && r.is_write())
        .unwrap_or_else(|| panic!("no {verb:?} of {name} in the request log"))
}

#[tokio::test]
async fn waves_apply_in_order_hooks_wrap_their_release_and_a_second_apply_writes_nothing() {
    let server = server(Duration::from_millis(100));
    let repo = repo();
    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(result.succeeded, "{}", result.to_table());
    let log = server.requests();
    // Wave 0 before wave 1 before wave 2; inside wave 2, PreSync, objects, PostSync.
    assert!(position(&log, Verb::Patch, "web") < position(&log, Verb::Patch, "late-config"));
    assert!(
        position(&log, Verb::Patch, "base-config") < position(&log, Verb::Patch, "late-config")
    );
    assert!(position(&log, Verb::Patch, "late-config") < position(&log, Verb::Patch, "pre"));
    assert!(position(&log, Verb::Patch, "pre") < position(&log, Verb::Patch, "hooked-config"));
    assert!(position(&log, Verb::Patch, "hooked-config") < position(&log, Verb::Patch, "post"));
    assert!(log
        .iter()
        .filter(|r| r.verb == Verb::Patch && r.resource.as_deref() == Some("deployments"))
        .all(|r| r.field_manager.as_deref() == Some("sextant")));
    assert_eq!(result.totals.failed, 0);
    assert_eq!(result.totals.created, 7, "{}", result.to_table()); // 5 objects, 2 hooks (+ namespace "app")

    server.clear_requests();
    let again = apply(&server, &repo, &options(&repo)).await;
    assert!(again.succeeded, "{}", again.to_table());
    assert_eq!(
        writes(&server.requests()),
        vec![],
        "a repeated apply with nothing changed writes nothing"
    );
    assert_eq!(again.totals.created + again.totals.configured, 0);
}

#[tokio::test]
async fn the_health_gate_holds_the_next_wave_until_the_deployment_is_ready() {
    let server = server(Duration::from_millis(50));
    let repo = repo();
    set_releases(&repo, &["base", "late"]);
    repo.write(
        "environments/test/base.yaml",
        &format!("annotations: {{{FAIL_READINESS}: \"true\"}}\n"),
    );
    let opts = options(&repo);
    let client = server.client().unwrap();
    let syncing = {
        let repo_path = repo.path().to_path_buf();
        let server_client = client.clone();
        tokio::spawn(async move {
            let cache = tempfile::tempdir().unwrap();
            let (env, plan) =
                sextant::plan_environment(&renderer(cache.path()), &repo_path, "test").unwrap();
            sync(&Cluster::new(server_client), &env, &plan, &opts).await
        })
    };
    // Wait (bounded) until the agent is polling the Deployment's health: the gate is holding.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = server.requests();
        let patched = log
            .iter()
            .position(|r| r.verb == Verb::Patch && r.name.as_deref() == Some("web"));
        if let Some(p) = patched {
            if log[p..]
                .iter()
                .filter(|r| r.verb == Verb::Get && r.name.as_deref() == Some("web"))
                .count()
                >= 3
            {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never polled the Deployment"
        );
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !writes(&server.requests())
            .iter()
            .any(|w| w.2 == "late-config"),
        "wave 1 must wait"
    );
    // Let the rollout finish: drop the annotation that keeps it unready.
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client, "app");
    let patch = serde_json::json!({"metadata": {"annotations": {FAIL_READINESS: null}}});
    deployments
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let released_at = server.requests().len();
    let result = syncing.await.unwrap();
    assert!(result.succeeded, "{}", result.to_table());
    assert!(position(&server.requests(), Verb::Patch, "late-config") > released_at);
}

#[tokio::test]
async fn a_wave_that_never_becomes_healthy_stops_the_sync_and_names_the_deployment() {
    let server = server(Duration::from_millis(50));
    let repo = repo();
    repo.write(
        "environments/test/base.yaml",
        &format!("annotations: {{{FAIL_READINESS}: \"true\"}}\n"),
    );
    let opts = SyncOptions {
        wave_timeout: Duration::from_millis(600),
        ..options(&repo)
    };
    let result = apply(&server, &repo, &opts).await;
    assert!(!result.succeeded);
    let error = result.error.clone().unwrap();
    assert!(
        error.contains("wave 0: 1 object(s) not healthy after")
            && error.contains("Deployment.apps app/web (0 of 1 updated replicas available)"),
        "{error}"
    );
    assert!(
        !writes(&server.requests())
            .iter()
            .any(|w| w.2 == "late-config" || w.2 == "pre"),
        "later waves are not applied"
    );
    assert_eq!(result.waves.len(), 1);
}

#[tokio::test]
async fn a_release_removed_from_git_is_pruned_but_not_what_asks_to_be_kept() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    repo.write(
        "environments/test/late.yaml",
        "annotations: {sextant.io/prune: disabled}\n",
    );
    assert!(apply(&server, &repo, &options(&repo)).await.succeeded);
    set_releases(&repo, &["base"]);
    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(result.succeeded, "{}", result.to_table());
    let pruned: Vec<_> = result
        .pruned
        .iter()
        .filter(|o| o.outcome == Outcome::Pruned)
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(pruned, ["hooked-config"]);
    let kept = result
        .pruned
        .iter()
        .find(|o| o.name == "late-config")
        .unwrap();
    assert_eq!(kept.outcome, Outcome::Unchanged);
    assert!(kept.message.as_deref().unwrap().contains("prune=disabled"));
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(server.client().unwrap(), "app");
    assert!(cms.get_opt("hooked-config").await.unwrap().is_none());
    assert!(cms.get_opt("late-config").await.unwrap().is_some());
    assert!(cms.get_opt("base-config").await.unwrap().is_some());
    // --prune=false leaves everything.
    set_releases(&repo, &[]);
    let result = apply(
        &server,
        &repo,
        &SyncOptions {
            prune: false,
            ..options(&repo)
        },
    )
    .await;
    assert!(result.pruned.is_empty() && cms.get_opt("base-config").await.unwrap().is_some());
}

#[tokio::test]
async fn a_field_owned_by_another_manager_is_a_conflict_unless_forced() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    set_releases(&repo, &["late"]);
    assert!(apply(&server, &repo, &options(&repo)).await.succeeded);
    // Someone else takes data.key over with force.
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(server.client().unwrap(), "app");
    let theirs = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late-config"}, "data": {"key": "theirs"}});
    cms.patch(
        "late-config",
        &kube::api::PatchParams::apply("someone").force(),
        &kube::api::Patch::Apply(&theirs),
    )
    .await
    .unwrap();

    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(!result.succeeded);
    let failed = result
        .all_objects()
        .find(|o| o.outcome == Outcome::Failed)
        .unwrap();
    let message = failed.message.as_deref().unwrap();
    assert!(
        message.contains("conflict") && message.contains("data.key") && message.contains("someone"),
        "{message}"
    );

    let forced = apply(
        &server,
        &repo,
        &SyncOptions {
            force_conflicts: true,
            ..options(&repo)
        },
    )
    .await;
    assert!(forced.succeeded, "{}", forced.to_table());
    assert_eq!(
        cms.get("late-config").await.unwrap().data.unwrap()["key"],
        "one"
    );
}

#[tokio::test]
async fn transient_errors_and_throttling_are_retried_until_the_sync_converges() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    let patch = |name: &str| Match {
        verb: Some(Verb::Patch),
        name: Some(name.into()),
        ..Match::default()
    };
    server.inject(Fault::error(patch("web"), 500).times(3));
    server.inject(Fault::throttle(patch("late-config"), Duration::from_secs(1)).times(1));
    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(result.succeeded, "{}", result.to_table());
    let log = server.requests();
    assert_eq!(log.iter().filter(|r| r.status == 500).count(), 3);
    assert_eq!(log.iter().filter(|r| r.status == 429).count(), 1);
}

#[tokio::test]
async fn a_sync_that_failed_midway_converges_on_the_next_run_without_orphans() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    // Wave 1 cannot be written at all: the sync stops after wave 0 with a typed error.
    server.inject(Fault::error(
        Match {
            verb: Some(Verb::Patch),
            name: Some("late-config".into()),
            ..Match::default()
        },
        500,
    ));
    let failed = apply(&server, &repo, &options(&repo)).await;
    assert!(!failed.succeeded);
    assert!(
        failed.error.as_deref().unwrap().contains("late-config"),
        "{:?}",
        failed.error
    );
    server.clear_faults();
    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(result.succeeded, "{}", result.to_table());
    assert_eq!(result.totals.created, 4, "{}", result.to_table()); // late-config, hooked-config, 2 hooks
                                                                   // Everything applied is in the inventory: removing every release prunes it all.
    set_releases(&repo, &[]);
    let pruned = apply(&server, &repo, &options(&repo)).await;
    let mut names: Vec<_> = pruned.pruned.iter().map(|o| o.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["base-config", "hooked-config", "late-config", "web"]
    );
}

#[tokio::test]
async fn a_rollout_past_its_deadline_stops_the_sync_at_once_as_degraded() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    repo.write(
        "environments/test/base.yaml",
        &format!("annotations: {{{FAIL_READINESS}: deadline-exceeded}}\n"),
    );
    // A long wave timeout: the sync must not wait for it.
    let opts = SyncOptions {
        wave_timeout: Duration::from_secs(600),
        ..options(&repo)
    };
    let result = apply(&server, &repo, &opts).await;
    let error = result.error.unwrap();
    assert!(
        error.contains("Deployment.apps app/web is degraded: ProgressDeadlineExceeded"),
        "{error}"
    );
}

#[tokio::test]
async fn a_dry_run_reports_what_would_change_and_writes_nothing() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    let result = apply(
        &server,
        &repo,
        &SyncOptions {
            dry_run: true,
            ..options(&repo)
        },
    )
    .await;
    assert!(result.dry_run);
    let log = server.requests();
    assert!(
        log.iter().filter(|r| r.is_write()).all(|r| r.dry_run),
        "only dry-run writes"
    );
    assert!(log
        .iter()
        .any(|r| r.is_write() && r.name.as_deref() == Some("web")));
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::all(server.client().unwrap());
    assert!(cms
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
}
