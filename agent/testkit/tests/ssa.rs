//! Server-side apply semantics, each checked against the Kubernetes documentation:
//! <https://kubernetes.io/docs/reference/using-api/server-side-apply/>

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};
use sextant_testkit::{Options, PatchType, TestServer};

fn deployment(replicas: i64, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}},
        },
    })
}

async fn setup() -> (TestServer, Api<Deployment>) {
    let server = TestServer::start(Options {
        controllers: false,
        ..Options::default()
    })
    .expect("server starts");
    let api = Api::namespaced(server.client().expect("client"), "default");
    (server, api)
}

fn managers_of(d: &Deployment, field: &str) -> Vec<String> {
    d.metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| {
            e.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer(field).is_some())
        })
        .filter_map(|e| e.manager.clone())
        .collect()
}

/// "A conflict is a special status error that occurs when an Apply operation tries to
/// change a field that another manager also claims to manage." The request fails with
/// 409 and names the manager and the field.
#[tokio::test]
async fn applying_a_different_value_for_a_field_another_manager_owns_is_a_conflict() {
    let (_server, api) = setup().await;
    common::apply(&api, "web", "alice", deployment(2, json!({"app": "web"})))
        .await
        .unwrap();
    let err = common::apply(&api, "web", "bob", deployment(5, json!({})))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("conflict with \"alice\"")
            && status.message.contains(".spec.replicas"),
        "{}",
        status.message
    );
    let causes = status.details.map(|d| d.causes).unwrap_or_default();
    assert!(
        causes.iter().any(|c| c.field == ".spec.replicas"),
        "{causes:?}"
    );
    assert_eq!(
        api.get("web").await.unwrap().spec.unwrap().replicas,
        Some(2),
        "a rejected apply changes nothing"
    );
}

/// "Writes to objects with managed fields can be forced, in which case the value of any
/// conflicted field will be overridden, and the ownership will be transferred."
#[tokio::test]
async fn forced_apply_overwrites_and_takes_ownership() {
    let (_server, api) = setup().await;
    common::apply(&api, "web", "alice", deployment(2, json!({"app": "web"})))
        .await
        .unwrap();
    let forced = api
        .patch(
            "web",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(deployment(5, json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(5));
    assert_eq!(managers_of(&forced, "/f:spec/f:replicas"), vec!["bob"]);
    assert_eq!(
        managers_of(&forced, "/f:metadata/f:labels/f:app"),
        vec!["alice"],
        "unrelated fields keep their owner"
    );
}

/// "If two or more appliers set a field to the same value, they share ownership of that
/// field." — no conflict.
#[tokio::test]
async fn applying_the_same_value_shares_ownership() {
    let (_server, api) = setup().await;
    common::apply(&api, "web", "alice", deployment(2, json!({})))
        .await
        .unwrap();
    let shared = common::apply(&api, "web", "bob", deployment(2, json!({})))
        .await
        .unwrap();
    let mut owners = managers_of(&shared, "/f:spec/f:replicas");
    owners.sort();
    assert_eq!(owners, vec!["alice", "bob"]);
}

/// "If you remove a field from a manifest and apply that manifest, Server-Side Apply
/// checks if there are any other field managers that also own the field. If the field is
/// not owned by any other field managers, it is either deleted from the live object or
/// reset to its default value, if it has one."
#[tokio::test]
async fn a_field_dropped_by_its_only_manager_is_removed_but_a_shared_one_stays() {
    let (_server, api) = setup().await;
    let both = json!({"app": "web", "team": "shop"});
    common::apply(&api, "web", "alice", deployment(2, both))
        .await
        .unwrap();
    common::apply(&api, "web", "bob", json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"team": "shop"}}})).await
        .unwrap();
    let after = common::apply(&api, "web", "alice", deployment(2, json!({})))
        .await
        .unwrap();
    let labels = after.metadata.labels.unwrap_or_default();
    assert!(
        !labels.contains_key("app"),
        "alice alone owned `app`: removed"
    );
    assert_eq!(
        labels.get("team").map(String::as_str),
        Some("shop"),
        "bob still owns `team`: kept"
    );
}

/// "The same rule applies to associative list or map items": dropping a container from
/// the applied list removes that item (containers are keyed by name).
#[tokio::test]
async fn a_list_item_dropped_from_the_applied_config_is_removed() {
    let (_server, api) = setup().await;
    let mut two = deployment(1, json!({}));
    two["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "app", "image": "nginx:1.27"}, {"name": "sidecar", "image": "envoy:1"}]);
    common::apply(&api, "web", "alice", two).await.unwrap();
    let one = common::apply(&api, "web", "alice", deployment(1, json!({})))
        .await
        .unwrap();
    let names: Vec<String> = one
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["app"]);
}

/// An update (here a merge patch, as `kubectl scale` or an HPA would do) takes the fields
/// it changes; a later apply of a different value then conflicts with that manager.
#[tokio::test]
async fn a_field_changed_by_an_update_conflicts_with_a_later_apply() {
    let (_server, api) = setup().await;
    common::apply(&api, "web", "alice", deployment(2, json!({})))
        .await
        .unwrap();
    let scaler = PatchParams {
        field_manager: Some("scaler".into()),
        ..PatchParams::default()
    };
    api.patch(
        "web",
        &scaler,
        &Patch::Merge(json!({"spec": {"replicas": 7}})),
    )
    .await
    .unwrap();
    let err = common::apply(&api, "web", "alice", deployment(2, json!({})))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("conflict with \"scaler\""),
        "{err}"
    );
}

/// `dryRun=All` answers with the result but stores nothing (what a server-side diff uses).
#[tokio::test]
async fn dry_run_apply_returns_the_result_without_storing_it() {
    let (server, api) = setup().await;
    let live = common::apply(&api, "web", "alice", deployment(2, json!({})))
        .await
        .unwrap();
    let preview = api
        .patch(
            "web",
            &PatchParams::apply("alice").dry_run(),
            &Patch::Apply(deployment(9, json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(preview.spec.unwrap().replicas, Some(9));
    let now = api.get("web").await.unwrap();
    assert_eq!(now.spec.unwrap().replicas, Some(2));
    assert_eq!(
        now.metadata.resource_version,
        live.metadata.resource_version
    );
    let last = server
        .requests()
        .into_iter()
        .rfind(|r| r.patch_type == Some(PatchType::Apply))
        .unwrap();
    assert!(last.dry_run && last.field_manager.as_deref() == Some("alice"));
}

/// Re-applying the same configuration is not a write: the resourceVersion stays.
#[tokio::test]
async fn second_apply_writes_nothing() {
    let (_server, api) = setup().await;
    let first = common::apply(&api, "web", "alice", deployment(2, json!({})))
        .await
        .unwrap();
    let second = common::apply(&api, "web", "alice", deployment(2, json!({})))
        .await
        .unwrap();
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );
}

/// kubectl reports the conflict and `--force-conflicts` resolves it.
#[test]
fn kubectl_apply_reports_conflicts_and_force_conflicts_overrides() {
    let k = common::Kubectl::start();
    k.apply(&format!("{}---{}", common::NAMESPACE, common::DEPLOYMENT));
    k.ok(&["scale", "deploy/web", "-n", "shop", "--replicas=4"]);
    let r = k.run_with(&["apply", "--server-side", "-f", "-"], common::DEPLOYMENT);
    assert!(
        !r.ok && r.stderr.contains("conflict") && r.stderr.contains(".spec.replicas"),
        "{}",
        r.stderr
    );
    let r = k.run_with(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        common::DEPLOYMENT,
    );
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "2"
    );
}

/// A controller applying status through the `status` subresource owns those fields in its
/// own entry (`subresource: status`); the main resource's appliers never touch them.
#[tokio::test]
async fn status_applied_through_the_subresource_is_owned_separately() {
    let (_server, api) = setup().await;
    common::apply(&api, "web", "alice", deployment(2, json!({})))
        .await
        .unwrap();
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "status": {"replicas": 2, "readyReplicas": 1}});
    let after = api
        .patch_status(
            "web",
            &PatchParams::apply("rollout-controller"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(
        after.status.as_ref().and_then(|s| s.ready_replicas),
        Some(1)
    );
    let entry = after
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|e| e.manager.as_deref() == Some("rollout-controller"))
        .expect("the controller's entry");
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    let reapplied = common::apply(&api, "web", "alice", deployment(3, json!({})))
        .await
        .unwrap();
    assert_eq!(
        reapplied.status.and_then(|s| s.ready_replicas),
        Some(1),
        "status survives main applies"
    );
}
