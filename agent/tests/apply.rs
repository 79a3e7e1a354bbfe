//! The apply engine against the test API server, over HTTP: wave order, health gates, hooks,
//! zero writes when nothing changed, prune, conflicts and faults.

mod support;

use serde_json::Value;
use sextant::apply::cluster::{Cluster, KubeCluster, RetryPolicy};
use sextant::apply::result::{Outcome, SyncResult};
use sextant::apply::sync::{identity, sync, Identity, SyncOptions};
use sextant::apply::view::{Cached, LiveView};
use sextant::live::{Change, LiveCache};
use sextant::object::ObjectRef;
use sextant_testkit::{
    Fault, Match, Options, RequestRecord, TestServer, Verb, FAIL_READINESS, READY_AFTER_MS,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
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
        wave_timeout: Duration::from_secs(10),
        poll_interval: Duration::from_millis(50),
        ..SyncOptions::for_environment(&env)
    }
}

async fn apply(server: &TestServer, repo: &TempRepo, opts: &SyncOptions) -> SyncResult {
    let cache = tempfile::tempdir().unwrap();
    let (env, plan) =
        sextant::plan_environment(&renderer(cache.path()), repo.path(), "test").unwrap();
    let cluster = KubeCluster::new(server.client().unwrap()).with_retry(RetryPolicy {
        attempts: 6,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        ..RetryPolicy::default()
    });
    sync(&cluster, &env, &plan, opts).await
}

/// The names of the objects a sync pruned.
fn pruned_names(result: &SyncResult) -> Vec<&str> {
    result
        .pruned
        .iter()
        .filter(|o| o.outcome == Outcome::Pruned)
        .map(|o| o.name.as_str())
        .collect()
}

/// The prune report of the one object `which` picks (pruned, or kept with its reason).
fn pruned_entry(
    result: &SyncResult,
    which: impl Fn(&sextant::apply::result::ObjectResult) -> bool,
) -> &sextant::apply::result::ObjectResult {
    result
        .pruned
        .iter()
        .find(|o| which(o))
        .unwrap_or_else(|| panic!("no such object in the prune report: {}", result.to_table()))
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
            sync(&KubeCluster::new(server_client), &env, &plan, &opts).await
        })
    };
    // Wait (bounded) until the agent is polling the Deployment's health: the gate is holding.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
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
    let pruned = pruned_names(&result);
    assert_eq!(pruned, ["hooked-config"]);
    let kept = pruned_entry(&result, |o| o.name == "late-config");
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
    // late-config, hooked-config, 2 hooks
    assert_eq!(result.totals.created, 4, "{}", result.to_table());
    // Everything applied is in the inventory: removing every release would prune it all, which
    // waits for an operator's yes.
    set_releases(&repo, &[]);
    let before = server.requests().len();
    let blocked = apply(&server, &repo, &options(&repo)).await;
    assert!(!blocked.succeeded);
    let error = blocked.error.as_deref().unwrap();
    assert!(
        error.starts_with("prune blocked: this revision would delete 4 of the environment's 4 objects (all of them"),
        "{error}"
    );
    assert!(
        writes(&server.requests()[before..])
            .iter()
            .all(|(verb, _, _)| *verb != Verb::Delete),
        "nothing is deleted"
    );
    let mut yes = options(&repo);
    yes.prune_guard.allow_mass_prune = true;
    let pruned = apply(&server, &repo, &yes).await;
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
    // The release's namespace does not exist: its objects cannot be checked by the server (it
    // answers 404 for the namespace), and the dry run still says what it would create.
    assert!(result.succeeded, "{:?}", result.error);
    let unchecked = result
        .waves
        .iter()
        .flat_map(|w| &w.objects)
        .filter(|o| {
            o.message
                .as_deref()
                .is_some_and(|m| m.contains("not checked by the server"))
        })
        .count();
    assert!(unchecked > 0, "{result:?}");
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

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

/// `repo()` plus a release `widgets` (wave 0) shipping a CRD and one custom resource of it.
fn repo_with_crd() -> TempRepo {
    let repo = repo();
    repo.write(
        "charts/widgets/Chart.yaml",
        "apiVersion: v2\nname: widgets\nversion: 0.1.0\n",
    )
    .write("charts/widgets/crds/widgets.yaml", CRD)
    .write(
        "charts/widgets/templates/ours.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: ours\nspec:\n  size: 1\n",
    )
    .write("environments/test/widgets.yaml", "{}\n");
    repo
}

/// The environment `test` with release `base` and, when given, a second release (wave 0) named
/// after its chart and namespace.
fn base_and(repo: &TempRepo, second: Option<(&str, &str)>) {
    let mut block = String::from(
        "    - {name: base, namespace: app, chart: charts/base, wave: 0, values: [base.yaml]}\n",
    );
    if let Some((name, namespace)) = second {
        block.push_str(&format!(
            "    - {{name: {name}, namespace: {namespace}, chart: charts/{name}, wave: 0, values: [{name}.yaml]}}\n"
        ));
    }
    repo.write(
        "environments/test/environment.yaml",
        &environment("test", &block),
    );
}

fn with_widgets(repo: &TempRepo, widgets: bool) {
    base_and(repo, widgets.then_some(("widgets", "app")));
}

#[tokio::test]
async fn a_crd_whose_kind_has_a_resource_we_do_not_manage_is_kept_and_says_why() {
    let server = server(Duration::from_millis(20));
    let repo = repo_with_crd();
    with_widgets(&repo, true);
    let first = apply(&server, &repo, &options(&repo)).await;
    assert!(first.succeeded, "{}", first.to_table());
    // Another team makes a Widget of its own, by hand.
    let ar = kube::discovery::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let widgets: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(server.client().unwrap(), "app", &ar);
    let theirs: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "theirs"}}))
    .unwrap();
    widgets.create(&Default::default(), &theirs).await.unwrap();

    with_widgets(&repo, false);
    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(result.succeeded, "{}", result.to_table());
    let pruned = pruned_names(&result);
    assert_eq!(pruned, ["ours"]);
    let kept = pruned_entry(&result, |o| o.kind == "CustomResourceDefinition");
    assert_eq!(kept.outcome, Outcome::Unchanged);
    assert_eq!(
        kept.message.as_deref(),
        Some("left Git; kept: Widget app/theirs exists, which this environment does not manage; deleting CRD widgets.example.com would delete it too")
    );
    // The table says so too, not only --output json.
    assert!(
        result.to_table().contains("Kept CustomResourceDefinition widgets.example.com: left Git; kept: Widget app/theirs exists"),
        "{}",
        result.to_table()
    );
    assert!(widgets.get_opt("theirs").await.unwrap().is_some());
}

/// `repo()` plus a release `extra` (wave 0) that declares its own namespace and a ConfigMap in it.
fn with_extra(repo: &TempRepo, extra: bool) {
    repo.write(
        "charts/extra/Chart.yaml",
        "apiVersion: v2\nname: extra\nversion: 0.1.0\n",
    )
    .write(
        "charts/extra/templates/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-config\n  namespace: extra\ndata: {a: b}\n",
    )
    .write("environments/test/extra.yaml", "{}\n");
    base_and(repo, extra.then_some(("extra", "extra")));
}

#[tokio::test]
async fn a_list_failing_during_a_namespace_prune_deletes_nothing_and_the_next_sync_retries() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    with_extra(&repo, true);
    assert!(apply(&server, &repo, &options(&repo)).await.succeeded);
    with_extra(&repo, false);
    // Every list in the namespace fails: what it holds is unknown.
    server.inject(Fault::error(
        Match {
            verb: Some(Verb::List),
            namespace: Some("extra".into()),
            ..Match::default()
        },
        503,
    ));
    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(result.succeeded, "{}", result.to_table());
    let ns = pruned_entry(&result, |o| o.kind == "Namespace");
    assert_eq!(ns.outcome, Outcome::Unchanged);
    let message = ns.message.as_deref().unwrap();
    assert!(
        message
            .starts_with("left Git; not pruned this time: cannot tell what namespace extra holds:")
            && message.contains("HTTP 503")
            && message.ends_with("the next sync tries again"),
        "{message}"
    );
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(server.client().unwrap());
    assert!(namespaces.get_opt("extra").await.unwrap().is_some());

    // Once lists answer again, the namespace, still in the inventory, goes.
    server.clear_faults();
    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(result.succeeded, "{}", result.to_table());
    let ns = pruned_entry(&result, |o| o.kind == "Namespace");
    assert_eq!(ns.outcome, Outcome::Pruned, "{:?}", ns.message);
}

/// Applies `repo()` with the agent's default retry policy (the documented numbers), with every
/// write of the Deployment `web` answered by `fault`.
/// A sync against a server answering with `fault`, through a cluster with the retry `policy`.
async fn apply_against(fault: Fault, policy: RetryPolicy) -> (SyncResult, Vec<RequestRecord>) {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    set_releases(&repo, &["base"]);
    server.inject(fault);
    let cache = tempfile::tempdir().unwrap();
    let (env, plan) =
        sextant::plan_environment(&renderer(cache.path()), repo.path(), "test").unwrap();
    let cluster = KubeCluster::new(server.client().unwrap()).with_retry(policy);
    let result = sync(&cluster, &env, &plan, &options(&repo)).await;
    (result, server.requests())
}

fn patch_of(name: &str) -> Match {
    Match {
        verb: Some(Verb::Patch),
        name: Some(name.into()),
        ..Match::default()
    }
}

#[tokio::test]
async fn a_persistent_503_fails_after_the_documented_attempts_naming_object_and_status() {
    // The documented number of attempts; the backoff between them is short here (its schedule
    // is `apply::cluster`'s unit tests').
    let quick = RetryPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let (result, log) = apply_against(Fault::error(patch_of("web"), 503), quick).await;
    assert!(!result.succeeded);
    let attempts = log.iter().filter(|r| r.status == 503).count();
    assert_eq!(attempts, RetryPolicy::default().attempts as usize);
    let failed = result.all_objects().find(|o| o.name == "web").unwrap();
    let message = failed.message.as_deref().unwrap();
    assert!(
        message.starts_with("Deployment.apps app/web: apply failed: HTTP 503")
            && message.contains("(gave up; 6 attempts in "),
        "{message}"
    );
}

#[tokio::test]
async fn persistent_throttling_honours_retry_after_and_fails_within_the_budget() {
    // Three attempts, so two waits of the server's Retry-After (1 s, the header's least).
    let three = RetryPolicy {
        attempts: 3,
        ..RetryPolicy::default()
    };
    let (result, log) = apply_against(
        Fault::throttle(patch_of("web"), Duration::from_secs(1)),
        three.clone(),
    )
    .await;
    assert!(!result.succeeded);
    let throttled: Vec<_> = log.iter().filter(|r| r.status == 429).collect();
    assert_eq!(throttled.len(), 3);
    let failed = result.all_objects().find(|o| o.name == "web").unwrap();
    let message = failed.message.as_deref().unwrap();
    assert!(
        message.starts_with("Deployment.apps app/web: apply failed: HTTP 429 TooManyRequests")
            && message.contains("(gave up; 3 attempts in "),
        "{message}"
    );
    // A Retry-After longer than what is left of the budget ends the request at once.
    let (result, log) = apply_against(
        Fault::throttle(patch_of("web"), Duration::from_secs(600)),
        three,
    )
    .await;
    assert_eq!(log.iter().filter(|r| r.status == 429).count(), 1);
    let failed = result.all_objects().find(|o| o.name == "web").unwrap();
    assert!(
        failed
            .message
            .as_deref()
            .unwrap()
            .contains("Retry-After 600s exceeds the"),
        "{:?}",
        failed.message
    );
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_fails_within_the_attempts_naming_it() {
    // A listener that takes connections and never answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let cluster = KubeCluster::connect(kube::Config::new(url.parse().unwrap()))
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 2,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(10),
            attempt_timeout: Duration::from_millis(300),
            budget: Duration::from_secs(5),
        });
    let r = sextant::object::ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("app".into()),
        name: "c".into(),
    };
    let e = cluster.get(&r).await.unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "ConfigMap app/c: discovery failed: the API server at {url} did not answer within 300ms (gave up; 2 attempts in "
        )),
        "{e}"
    );
    drop(silent);
    // Nobody listening at all: the cause is named, not "client error (Connect)".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let cluster = KubeCluster::connect(kube::Config::new(url.parse().unwrap()))
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        });
    let e = cluster.get(&r).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("cannot reach the API server at {url}: "))
            && e.to_lowercase().contains("connection refused"),
        "{e}"
    );
}

#[tokio::test]
async fn a_namespace_holding_an_object_we_do_not_manage_is_kept_and_names_it() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    with_extra(&repo, true);
    assert!(apply(&server, &repo, &options(&repo)).await.succeeded);
    // Someone keeps a ConfigMap of their own in the namespace.
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(server.client().unwrap(), "extra");
    let theirs: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "theirs"}})).unwrap();
    cms.create(&Default::default(), &theirs).await.unwrap();
    with_extra(&repo, false);
    let result = apply(&server, &repo, &options(&repo)).await;
    assert!(result.succeeded, "{}", result.to_table());
    let ns = pruned_entry(&result, |o| o.kind == "Namespace");
    assert_eq!(ns.outcome, Outcome::Unchanged);
    assert_eq!(
        ns.message.as_deref(),
        Some("left Git; kept: namespace holds ConfigMap theirs, which this environment does not manage")
    );
    assert!(cms.get_opt("theirs").await.unwrap().is_some());
    assert!(
        cms.get_opt("extra-config").await.unwrap().is_none(),
        "ours went"
    );
}

#[tokio::test]
async fn a_failed_list_of_a_crds_resources_keeps_the_crd_for_the_next_sync() {
    let server = server(Duration::from_millis(20));
    let repo = repo_with_crd();
    with_widgets(&repo, true);
    assert!(apply(&server, &repo, &options(&repo)).await.succeeded);
    with_widgets(&repo, false);
    server.inject(Fault::error(
        Match {
            verb: Some(Verb::List),
            resource: Some("widgets".into()),
            namespace: None,
            ..Match::default()
        },
        500,
    ));
    let result = apply(&server, &repo, &options(&repo)).await;
    let crd = pruned_entry(&result, |o| o.kind == "CustomResourceDefinition");
    assert_eq!(crd.outcome, Outcome::Unchanged, "{}", result.to_table());
    let message = crd.message.as_deref().unwrap();
    assert!(
        message.starts_with(
            "left Git; not pruned this time: cannot tell which Widget resources exist:"
        ),
        "{message}"
    );
    server.clear_faults();
    let result = apply(&server, &repo, &options(&repo)).await;
    let crd = pruned_entry(&result, |o| o.kind == "CustomResourceDefinition");
    assert_eq!(crd.outcome, Outcome::Pruned, "{:?}", crd.message);
}

// The daemon's live cache as the sync's view: no LIST for watched kinds, health gates woken by
// its events, and never a pass from a copy older than the sync's own write.

/// A live cache watching every kind of the environment's plan, once each kind is listed; the
/// receiver of its changes is kept, as the drift watch keeps it (the watches stop without it).
async fn watching(
    server: &TestServer,
    repo: &TempRepo,
) -> (Arc<LiveCache>, sextant::live::queue::Receiver) {
    let dir = tempfile::tempdir().unwrap();
    let (_, plan) = sextant::plan_environment(&renderer(dir.path()), repo.path(), "test").unwrap();
    let cluster = KubeCluster::new(server.client().unwrap());
    let mut kinds = BTreeMap::new();
    for o in plan.objects() {
        let r = &o.reference;
        kinds
            .entry((r.group.clone(), r.version.clone(), r.kind.clone()))
            .or_insert_with(|| r.clone());
    }
    let mut resolved = Vec::new();
    for (key, r) in kinds {
        let (ar, _) = cluster.resource(&r).await.unwrap().expect("a served kind");
        resolved.push((key, ar));
    }
    let (cache, mut changes) = LiveCache::new("test", server.client().unwrap());
    cache.watch(&resolved);
    let mut synced = HashSet::new();
    while synced.len() < resolved.len() {
        let batch = tokio::time::timeout(Duration::from_secs(10), changes.recv_all())
            .await
            .expect("every watched kind lists within 10 s")
            .expect("the watches run");
        for change in batch {
            if let Change::Synced(kind) = change {
                synced.insert(kind);
            }
        }
    }
    (Arc::new(cache), changes)
}

fn reads_in_app(log: &[RequestRecord], verb: Verb) -> Vec<String> {
    log.iter()
        .filter(|r| r.verb == verb && r.namespace.as_deref() == Some("app"))
        .filter(|r| r.resource.as_deref() != Some("namespaces"))
        .map(|r| format!("{:?} {:?}", r.resource, r.name))
        .collect()
}

#[tokio::test]
async fn a_no_change_resync_served_from_the_watch_cache_lists_and_gets_no_watched_object() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    set_releases(&repo, &["base", "late"]);
    let first = apply(&server, &repo, &options(&repo)).await;
    assert!(first.succeeded, "{}", first.to_table());
    assert!(
        !reads_in_app(&server.requests(), Verb::List).is_empty(),
        "without a view, the sync lists"
    );
    let (cache, _changes) = watching(&server, &repo).await;

    server.clear_requests();
    let opts = SyncOptions {
        live: Some(cache.clone()),
        ..options(&repo)
    };
    let again = apply(&server, &repo, &opts).await;
    assert!(again.succeeded, "{}", again.to_table());
    assert_eq!(again.totals.unchanged, 3, "{}", again.to_table());
    let log = server.requests();
    assert_eq!(writes(&log), vec![]);
    assert_eq!(reads_in_app(&log, Verb::List), Vec::<String>::new());
    assert_eq!(reads_in_app(&log, Verb::Get), Vec::<String>::new());
}

/// A view stuck where it was before the sync wrote: what a lagging watch cache holds.
#[derive(Debug)]
struct Stuck {
    objects: HashMap<Identity, Value>,
}

impl LiveView for Stuck {
    fn lookup(&self, r: &ObjectRef) -> Option<Option<Cached>> {
        let copy = self.objects.get(&identity(r)).cloned();
        Some(copy.map(|object| Cached { object, seq: 1 }))
    }

    fn moves(&self) -> u64 {
        0
    }

    /// Never: the view is stuck.
    fn moved_past(&self, _seen: u64) -> sextant_core::ports::live::Moved<'_> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_stale_cached_copy_never_passes_the_gate_for_a_new_generation_that_is_not_ready() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    set_releases(&repo, &["base"]);
    let first = apply(&server, &repo, &options(&repo)).await;
    assert!(first.succeeded, "{}", first.to_table());
    let (cache, _changes) = watching(&server, &repo).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, plan) = sextant::plan_environment(&renderer(dir.path()), repo.path(), "test").unwrap();
    let objects: HashMap<Identity, Value> = plan
        .objects()
        .map(|o| identity(&o.reference))
        .map(|id| {
            let copy = cache.get(&id).expect("cached");
            (id, copy)
        })
        .collect();
    let web = &objects[&Identity::new("apps", "Deployment", Some("app"), "web")];
    assert_eq!(
        sextant::apply::health::assess(web).status,
        sextant::apply::health::Status::Healthy,
        "the stuck copy reads ready (for generation 1)"
    );
    let stuck = Arc::new(Stuck { objects });

    // Generation 2 never becomes ready; the view still shows generation 1 ready.
    repo.write(
        "environments/test/base.yaml",
        &format!("replicas: 2\nannotations: {{{FAIL_READINESS}: \"true\"}}\n"),
    );
    let opts = SyncOptions {
        wave_timeout: Duration::from_secs(2),
        live: Some(stuck),
        ..options(&repo)
    };
    let result = apply(&server, &repo, &opts).await;
    assert!(!result.succeeded, "{}", result.to_table());
    let error = result.error.unwrap_or_default();
    assert!(
        error.contains("not healthy after") && error.contains("Deployment.apps app/web"),
        "{error}"
    );
}

#[tokio::test]
async fn a_gate_woken_by_watch_events_passes_a_slow_rollout_and_fails_one_that_never_becomes_ready()
{
    let server = server(Duration::from_millis(20));
    let repo = repo();
    set_releases(&repo, &["base", "late"]);
    let first = apply(&server, &repo, &options(&repo)).await;
    assert!(first.succeeded, "{}", first.to_table());
    let (cache, _changes) = watching(&server, &repo).await;

    // Polling every hour and waiting at most ten seconds: only the cache's events can wake
    // the gate before its deadline.
    repo.write(
        "environments/test/base.yaml",
        &format!("replicas: 2\nannotations: {{{READY_AFTER_MS}: \"300\"}}\n"),
    );
    let opts = SyncOptions {
        wave_timeout: Duration::from_secs(10),
        poll_interval: Duration::from_secs(3600),
        live: Some(cache.clone()),
        ..options(&repo)
    };
    server.clear_requests();
    let slow = apply(&server, &repo, &opts).await;
    assert!(slow.succeeded, "{}", slow.to_table());
    assert!(
        slow.waves[0].duration_seconds < 60.0,
        "woken by an event, not at the deadline: {}",
        slow.to_table()
    );
    assert_eq!(slow.waves.len(), 2);

    repo.write(
        "environments/test/base.yaml",
        &format!("replicas: 3\nannotations: {{{FAIL_READINESS}: \"true\"}}\n"),
    );
    let opts = SyncOptions {
        wave_timeout: Duration::from_secs(2),
        ..opts
    };
    let never = apply(&server, &repo, &opts).await;
    assert!(!never.succeeded, "{}", never.to_table());
    let error = never.error.unwrap_or_default();
    assert!(
        error.contains("wave 0: 1 object(s) not healthy after")
            && error.contains("Deployment.apps app/web"),
        "{error}"
    );
    assert_eq!(never.waves.len(), 1, "wave 1 waits for wave 0");
}

/// Applies environment `name` of `repo` (the helpers above apply `test`).
async fn apply_named(
    server: &TestServer,
    repo: &TempRepo,
    name: &str,
    opts: &SyncOptions,
) -> SyncResult {
    let cache = tempfile::tempdir().unwrap();
    let (env, plan) =
        sextant::plan_environment(&renderer(cache.path()), repo.path(), name).unwrap();
    let cluster = KubeCluster::new(server.client().unwrap());
    sync(&cluster, &env, &plan, opts).await
}

#[tokio::test]
async fn two_environments_in_one_cluster_never_take_over_or_prune_each_others_objects() {
    let server = server(Duration::from_millis(20));
    let repo = repo();
    set_releases(&repo, &["late"]);
    // `other` renders the same ConfigMap into the same namespace.
    let text = std::fs::read_to_string(repo.path().join("environments/test/environment.yaml"))
        .unwrap()
        .replace("name: test", "name: other");
    repo.write("environments/other/environment.yaml", &text)
        .write("environments/other/late.yaml", "value: two\n");
    assert!(apply(&server, &repo, &options(&repo)).await.succeeded);

    let label = |cm: &k8s_openapi::api::core::v1::ConfigMap| {
        cm.metadata.labels.as_ref().unwrap()["sextant.io/environment"].clone()
    };
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(server.client().unwrap(), "app");
    let other = SyncOptions {
        agent_namespace: "sextant-system".into(),
        ..options(&repo)
    };
    let refused = apply_named(&server, &repo, "other", &other).await;
    assert!(!refused.succeeded);
    let error = refused.error.clone().unwrap();
    for part in ["late-config", "\"test\"", "\"other\"", "--force-conflicts"] {
        assert!(error.contains(part), "{part} in {error}");
    }
    assert_eq!(label(&cms.get("late-config").await.unwrap()), "test");

    // Forced, `other` takes it over; `test`'s next prune (its release gone) keeps it and says why.
    let forced = SyncOptions {
        force_conflicts: true,
        ..other
    };
    assert!(
        apply_named(&server, &repo, "other", &forced)
            .await
            .succeeded
    );
    assert_eq!(label(&cms.get("late-config").await.unwrap()), "other");
    set_releases(&repo, &[]);
    let opts = SyncOptions {
        prune_guard: sextant::apply::prune::PruneGuard {
            allow_mass_prune: true,
            ..Default::default()
        },
        ..options(&repo)
    };
    let result = apply(&server, &repo, &opts).await;
    assert!(result.succeeded, "{}", result.to_table());
    assert!(pruned_names(&result).is_empty(), "{}", result.to_table());
    let kept = pruned_entry(&result, |o| o.name == "late-config");
    assert!(
        kept.message
            .as_deref()
            .unwrap()
            .contains("environment \"other\""),
        "{kept:?}"
    );
    assert_eq!(
        cms.get("late-config").await.unwrap().data.unwrap()["key"],
        "two"
    );
}

/// A release whose inventory outgrows a part (half of the 1 MiB of values a ConfigMap may hold,
/// which the test server enforces as the real one does) is remembered in parts; when it
/// shrinks, what left Git is pruned and so are the parts no longer needed.
#[tokio::test]
async fn an_inventory_past_what_one_configmap_holds_is_kept_in_parts_and_pruned_whole() {
    let server = server(Duration::from_millis(20));
    let repo = TempRepo::new();
    let many = |n: usize| {
        // Long names: 1,600 entries of ~370 bytes make a 580 KiB inventory, two parts.
        format!("{{{{- range $i := until {n} }}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{{{{ $i }}}}.{}\ndata:\n  i: \"{{{{ $i }}}}\"\n{{{{- end }}}}\n", vec!["x".repeat(60); 3].join("."))
    };
    repo.write(
        "charts/many/Chart.yaml",
        "apiVersion: v2\nname: many\nversion: 0.1.0\n",
    )
    .write("charts/many/templates/cms.yaml", &many(1_600))
    .write(
        "environments/test/environment.yaml",
        &environment(
            "test",
            "    - {name: many, namespace: app, chart: charts/many}\n",
        ),
    );
    let opts = options(&repo);
    let result = apply(&server, &repo, &opts).await;
    assert!(result.succeeded, "{}", result.to_table());
    let inventories = || async {
        let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(server.client().unwrap(), &opts.agent_namespace);
        let list = cms
            .list(&kube::api::ListParams::default().labels("app.kubernetes.io/component=inventory"))
            .await
            .unwrap();
        list.items.len()
    };
    assert_eq!(inventories().await, 2);
    // A second sync reads all the parts back: nothing to write.
    server.clear_requests();
    assert!(apply(&server, &repo, &opts).await.succeeded);
    assert!(server.requests().iter().all(|r| !r.is_write()));

    repo.write("charts/many/templates/cms.yaml", &many(10));
    let mut shrink = opts.clone();
    shrink.prune_guard.allow_mass_prune = true;
    let result = apply(&server, &repo, &shrink).await;
    assert!(result.succeeded, "{}", result.to_table());
    assert_eq!(result.pruned.len(), 1_590);
    assert_eq!(inventories().await, 1);
}
