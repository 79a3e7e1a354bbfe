//! Object lifecycle: names, finalizers, namespace and CRD cascades, owner-reference
//! garbage collection and collection deletes.

mod common;

use common::{configmap as cm, start};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use sextant_testkit::{Options, Verb};

fn status_code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed_and_namespaces_cascade() {
    let (_server, client) = start(Options::default());
    let nss: Api<Namespace> = Api::all(client.clone());
    common::apply(
        &nss,
        "shop",
        "t",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "shop");
    let mut held = cm("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/keep"]);
    common::apply(&api, "held", "t", &held).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let still = api.get("held").await.unwrap();
    assert!(
        still.metadata.deletion_timestamp.is_some(),
        "finalizer holds the object"
    );
    nss.delete("shop", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("shop").await.unwrap();
    assert_eq!(
        ns.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(status_code(api.get("held").await.unwrap_err()), 404);
    assert_eq!(
        status_code(nss.get("shop").await.unwrap_err()),
        404,
        "the terminating namespace goes with its last object"
    );
}

#[tokio::test]
async fn delete_collection_removes_what_the_selector_matches() {
    let (server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        common::apply(&api, name, "t", cm(name, json!({"app": app})))
            .await
            .unwrap();
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=web"),
    )
    .await
    .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, vec!["c"]);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.verb == Verb::DeleteCollection && r.is_write()));
}

#[tokio::test]
async fn invalid_names_are_rejected_with_422() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let bad: ConfigMap = serde_json::from_value(cm("Not_Valid", json!({}))).unwrap();
    let err = api.create(&PostParams::default(), &bad).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(status.message.contains("RFC 1123"), "{}", status.message);
}

#[tokio::test]
async fn deleting_an_owner_collects_its_dependents_unless_orphaned() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let owner = |name: &str| cm(name, json!({}));
    let dependent = |name: &str, owner_uid: &str| {
        let mut d = cm(name, json!({}));
        d["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}]);
        d
    };
    for (o, d) in [("owner", "child"), ("keeper", "orphan")] {
        let uid = common::apply(&api, o, "t", owner(o))
            .await
            .unwrap()
            .metadata
            .uid
            .unwrap();
        common::apply(&api, d, "t", dependent(d, &uid))
            .await
            .unwrap();
    }
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert_eq!(
        status_code(api.get("child").await.unwrap_err()),
        404,
        "background propagation deletes the dependent"
    );
    api.delete("keeper", &DeleteParams::orphan()).await.unwrap();
    let orphan = api
        .get("orphan")
        .await
        .expect("orphan propagation keeps the dependent");
    assert!(orphan
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());
}
