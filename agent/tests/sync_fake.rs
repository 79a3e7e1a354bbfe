//! The sync's decisions as a table over the in-memory cluster (`sextant_fakes::FakeCluster`,
//! held to the kube edge by `cluster_contract.rs`), under a paused clock: what is created, what
//! a second sync leaves alone, what a field another manager owns does with and without
//! `forceConflicts`, what a dry run stores, what is pruned, how a wave that never becomes
//! healthy ends at its timeout (the paused clock runs through it at once), and how a failing API
//! read ends the sync. No API server, no helm: the plan is built from literal manifests as the renderer
//! labels them.

use serde_json::{json, Value};
use sextant::apply::sync::{sync, SyncOptions};
use sextant::object::ObjectRef;
use sextant::plan::Plan;
use sextant::render::objects::{finish, parse_stream, Context};
use sextant_core::ports::cluster::{Cluster, ClusterError};
use sextant_fakes::FakeCluster;
use std::collections::HashSet;

const ENVIRONMENT: &str = "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {name: app, namespace: app, chart: charts/app}\n";

fn configmap(name: &str, value: &str) -> String {
    format!("---\n# Source: app/templates/{name}.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: \"{value}\"\n")
}

/// The environment (loaded from a checkout holding only its file and an empty chart) and the
/// plan of `manifests` as release `app` renders them, at `revision`.
fn planned(
    manifests: &str,
    revision: &str,
) -> (tempfile::TempDir, sextant::environment::Environment, Plan) {
    let dir = tempfile::tempdir().unwrap();
    let env_dir = dir.path().join("environments/prod");
    std::fs::create_dir_all(&env_dir).unwrap();
    std::fs::write(env_dir.join("environment.yaml"), ENVIRONMENT).unwrap();
    let chart = dir.path().join("charts/app");
    std::fs::create_dir_all(&chart).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    )
    .unwrap();
    let env = sextant::environment::load(dir.path(), "prod").unwrap();
    let crds = HashSet::new();
    let ctx = Context::of(&env, &env.releases[0], &crds);
    let objects = parse_stream(manifests)
        .unwrap()
        .into_iter()
        .filter_map(|raw| finish(&ctx, raw).unwrap())
        .collect();
    let plan = sextant::plan::build("prod", Some(revision.to_string()), objects).unwrap();
    (dir, env, plan)
}

fn options(env: &sextant::environment::Environment) -> SyncOptions {
    let mut opts = SyncOptions::for_environment(env);
    opts.agent_namespace = "sextant-system".into();
    opts
}

fn cm(name: &str) -> ObjectRef {
    ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("app".into()),
        name: name.into(),
    }
}

/// The agent's namespace exists, as the Deployment that runs the agent brings it.
async fn cluster() -> FakeCluster {
    let fake = FakeCluster::new();
    let ns = ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        name: "sextant-system".into(),
    };
    fake.apply(
        &ns,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sextant-system"}}),
        false,
        false,
    )
    .await
    .unwrap();
    fake
}

fn data(fake: &FakeCluster, name: &str) -> Option<Value> {
    fake.object(&cm(name)).map(|o| o["data"]["k"].clone())
}

/// What a case does before the sync under test: nothing, an earlier sync of other manifests, or
/// another manager's write after it.
enum Before {
    Nothing,
    Synced(&'static str),
    SyncedThenTaken(&'static str, &'static str),
    GetFails,
}

struct Case {
    what: &'static str,
    before: Before,
    manifests: &'static str,
    force: bool,
    dry_run: bool,
    /// (created, configured, unchanged, pruned) on success, or what the error says.
    want: Result<(usize, usize, usize, usize), &'static [&'static str]>,
    /// Each ConfigMap's `data.k` afterwards (`None`: absent).
    after: &'static [(&'static str, Option<&'static str>)],
}

#[tokio::test(start_paused = true)]
async fn a_sync_s_decisions_over_the_in_memory_cluster() {
    let one = Box::leak(configmap("one", "1").into_boxed_str());
    let one_two =
        Box::leak(format!("{}{}", configmap("one", "1"), configmap("two", "2")).into_boxed_str());
    let one_changed = Box::leak(configmap("one", "changed").into_boxed_str());
    let cases = [
        Case {
            what: "the first sync creates the release's namespace and its objects",
            before: Before::Nothing,
            manifests: one_two,
            force: false,
            dry_run: false,
            want: Ok((3, 0, 0, 0)),
            after: &[("one", Some("1")), ("two", Some("2"))],
        },
        Case {
            what: "a second sync of the same manifests writes nothing",
            before: Before::Synced(one_two),
            manifests: one_two,
            force: false,
            dry_run: false,
            want: Ok((0, 0, 2, 0)),
            after: &[("one", Some("1")), ("two", Some("2"))],
        },
        Case {
            what: "a changed value is configured",
            before: Before::Synced(one_two),
            manifests: Box::leak(
                format!("{one_changed}{}", configmap("two", "2")).into_boxed_str(),
            ),
            force: false,
            dry_run: false,
            want: Ok((0, 1, 1, 0)),
            after: &[("one", Some("changed")), ("two", Some("2"))],
        },
        Case {
            what: "an object that left Git is pruned",
            before: Before::Synced(one_two),
            manifests: one,
            force: false,
            dry_run: false,
            want: Ok((0, 0, 1, 1)),
            after: &[("one", Some("1")), ("two", None)],
        },
        Case {
            what: "a dry run stores nothing",
            before: Before::Nothing,
            manifests: one_two,
            force: false,
            dry_run: true,
            want: Ok((3, 0, 0, 0)),
            after: &[("one", None), ("two", None)],
        },
        Case {
            what: "a field another manager owns fails the sync, naming the object and the manager",
            before: Before::SyncedThenTaken(one, "ops"),
            manifests: one_changed,
            force: false,
            dry_run: false,
            want: Err(&[
                "first: ConfigMap app/one: conflict with another field manager",
                "conflict with \"ops\"",
            ]),
            after: &[("one", Some("theirs"))],
        },
        Case {
            what: "forceConflicts takes the field over",
            before: Before::SyncedThenTaken(one, "ops"),
            manifests: one_changed,
            force: true,
            dry_run: false,
            want: Ok((0, 1, 0, 0)),
            after: &[("one", Some("changed"))],
        },
        Case {
            what: "a Deployment that never becomes ready stops the sync at the wave timeout (5m, on the paused clock)",
            before: Before::Nothing,
            manifests: "---\n# Source: app/templates/web.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: example.com/web:1}]\n",
            force: false,
            dry_run: false,
            want: Err(&["wave 0: 1 object(s) not healthy after 300s: Deployment.apps app/web"]),
            after: &[],
        },
        Case {
            what: "an API server that cannot be read ends the sync as transient",
            before: Before::GetFails,
            manifests: one,
            force: false,
            dry_run: false,
            want: Err(&["HTTP 503"]),
            after: &[("one", None)],
        },
    ];
    for case in cases {
        let fake = cluster().await;
        match case.before {
            Before::Nothing => {}
            Before::Synced(m) | Before::SyncedThenTaken(m, _) => {
                let (_dir, env, plan) = planned(m, "r1");
                let r = sync(&fake, &env, &plan, &options(&env)).await;
                assert!(
                    r.succeeded,
                    "{}: the earlier sync: {:?}",
                    case.what, r.error
                );
            }
            Before::GetFails => {
                let error = || ClusterError::Api {
                    object: "ConfigMap app/one".into(),
                    verb: "list",
                    code: Some(503),
                    message: "HTTP 503: the server is unavailable".into(),
                    transient: true,
                };
                fake.fail("list", "*", error());
                fake.fail("get", "*", error());
            }
        }
        if let Before::SyncedThenTaken(_, manager) = case.before {
            fake.set_by(manager, &cm("one"), "/data/k", json!("theirs"));
        }
        let (_dir, env, plan) = planned(case.manifests, "r2");
        let mut opts = options(&env);
        opts.force_conflicts = case.force;
        opts.dry_run = case.dry_run;
        let r = sync(&fake, &env, &plan, &opts).await;
        match case.want {
            Ok((created, configured, unchanged, pruned)) => {
                assert!(r.succeeded, "{}: {:?}", case.what, r.error);
                let t = &r.totals;
                assert_eq!(
                    (t.created, t.configured, t.unchanged, t.pruned),
                    (created, configured, unchanged, pruned),
                    "{}",
                    case.what
                );
            }
            Err(parts) => {
                let e = r
                    .error
                    .as_ref()
                    .unwrap_or_else(|| panic!("{}: succeeded", case.what));
                for part in parts {
                    assert!(e.message.contains(part), "{}: {}", case.what, e.message);
                }
                if matches!(case.before, Before::GetFails) {
                    assert!(e.transient, "{}: {e:?}", case.what);
                }
            }
        }
        for (name, want) in case.after {
            assert_eq!(
                data(&fake, name),
                want.map(|v| json!(v)),
                "{}: ConfigMap {name}",
                case.what
            );
        }
    }
}
