//! The test server is as strict as a real API server about what it stores (docs/testkit.md,
//! "What a write stores"): nulls dropped, `omitempty` zero values dropped, quantities canonical,
//! wrong types refused with the real server's status and wording, and a dry-run apply answering
//! with what it would store.

mod common;

use common::*;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{json, Value};
use sextant_testkit::Options;

fn dynamic(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    ns: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), ns, &ar)
}

async fn applied(api: &Api<DynamicObject>, name: &str, obj: Value) -> Value {
    let out = apply(api, name, "test", obj).await.expect("apply");
    serde_json::to_value(out).unwrap()
}

fn deployment(pod: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "annotations": null},
        "spec": {"replicas": 0, "minReadySeconds": 0, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}}, "spec": pod}}})
}

#[tokio::test]
async fn nulls_and_omitempty_zero_values_are_not_stored_but_pointers_keep_their_zero() {
    let (_server, client) = start(Options::default());
    let api = dynamic(&client, "apps", "v1", "Deployment", "default");
    let d = applied(&api, "d", deployment(json!({
        "hostNetwork": false, "tolerations": [], "affinity": {"podAffinity": null},
        "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 0, "name": null}],
            "livenessProbe": {"initialDelaySeconds": 0, "periodSeconds": 10, "tcpSocket": {"port": 80}}}]}))).await;
    assert!(d["metadata"].get("annotations").is_none(), "{d}");
    assert_eq!(d["spec"]["replicas"], 0, "a pointer's zero is a value");
    assert!(d["spec"].get("minReadySeconds").is_none());
    let pod = &d["spec"]["template"]["spec"];
    assert!(
        pod.get("hostNetwork").is_none() && pod.get("tolerations").is_none(),
        "{pod}"
    );
    assert_eq!(
        pod["affinity"],
        json!({}),
        "a struct is kept even when empty"
    );
    let c = &pod["containers"][0];
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}]),
        "list items too"
    );
    assert!(c["livenessProbe"].get("initialDelaySeconds").is_none());
}

#[tokio::test]
async fn quantities_are_stored_canonically() {
    let (_server, client) = start(Options::default());
    let api = dynamic(&client, "", "v1", "LimitRange", "default");
    let lr = applied(
        &api,
        "l",
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"},
        "spec": {"limits": [{"type": "Container",
            "default": {"cpu": "1000m", "memory": "1024Mi"},
            "defaultRequest": {"cpu": 0.5, "memory": "1.5Gi"},
            "max": {"cpu": 2, "memory": "1e9"}}]}}),
    )
    .await;
    let l = &lr["spec"]["limits"][0];
    assert_eq!(l["default"], json!({"cpu": "1", "memory": "1Gi"}));
    assert_eq!(
        l["defaultRequest"],
        json!({"cpu": "500m", "memory": "1536Mi"})
    );
    assert_eq!(l["max"], json!({"cpu": "2", "memory": "1e9"}));
}

#[tokio::test]
async fn a_wrong_type_fails_server_side_apply_with_a_500_as_on_a_real_server() {
    let (_server, client) = start(Options::default());
    let api = dynamic(&client, "apps", "v1", "Deployment", "default");
    let err = apply(
        &api,
        "d",
        "test",
        deployment(json!({"containers": [{"name": "c", "image": "i"}],
        "volumes": [{"name": "config", "secret": {"secretName": "s", "defaultMode": "0755"}}]})),
    )
    .await
    .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code, 500);
    assert_eq!(
        status.message,
        "failed to create typed patch object (default/d; apps/v1, Kind=Deployment): .spec.template.spec.volumes[name=\"config\"].secret.defaultMode: expected numeric (int or float), got string"
    );
    let err = apply(
        &api,
        "d",
        "test",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"on": true}}, "spec": {"topologyKeys": []}}),
    )
    .await
    .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert!(status.message.contains("errors:\n  .metadata.labels.on: expected string, got &value.valueUnstructured{Value:true}"), "{}", status.message);
    assert!(
        status
            .message
            .contains(".spec.topologyKeys: field not declared in schema"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn a_wrong_type_in_a_create_is_a_400() {
    let (_server, client) = start(Options::default());
    let api = dynamic(&client, "", "v1", "ConfigMap", "default");
    let cm: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c"}, "data": {"port": 8080}}))
    .unwrap();
    let err = api.create(&PostParams::default(), &cm).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code, 400);
    assert!(
        status
            .message
            .contains("ConfigMap in version \"v1\" cannot be handled as a ConfigMap"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn a_dry_run_apply_answers_with_what_it_would_store_and_stores_nothing() {
    let (_server, client) = start(Options::default());
    let api = dynamic(&client, "", "v1", "ConfigMap", "default");
    let mut params = PatchParams::apply("test");
    params.dry_run = true;
    let out = api
        .patch(
            "c",
            &params,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {}, "annotations": null}, "data": {"k": "v"}})),
        )
        .await
        .unwrap();
    let v = serde_json::to_value(out).unwrap();
    assert_eq!(v["data"], json!({"k": "v"}));
    assert!(
        v["metadata"].get("labels").is_none() && v["metadata"].get("annotations").is_none(),
        "{v}"
    );
    assert!(
        v["metadata"]["uid"].is_string(),
        "answered as the created object"
    );
    assert!(api.get_opt("c").await.unwrap().is_none(), "nothing stored");
}

#[test]
fn kubectl_sees_the_canonical_form_too() {
    let k = Kubectl::start();
    k.apply("apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: default}\nspec:\n  hard: {limits.cpu: 20000m, limits.memory: 102400Mi, pods: \"50\"}\n");
    let out = k.ok(&[
        "get",
        "resourcequota",
        "q",
        "-n",
        "default",
        "-o",
        "jsonpath={.spec.hard}",
    ]);
    let hard: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        hard,
        json!({"limits.cpu": "20", "limits.memory": "100Gi", "pods": "50"})
    );
}
