//! kube-rs discovery, legacy and aggregated, sees the built-in groups and served CRDs.

mod common;

use common::start;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::{Discovery, Scope};
use serde_json::json;
use sextant_testkit::Options;

const GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "policy",
    "autoscaling",
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
    "coordination.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "apiregistration.k8s.io",
];

#[tokio::test]
async fn legacy_and_aggregated_discovery_agree_and_include_served_crds() {
    let (_server, client) = start(Options::default());
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]}});
    common::apply(&crds, "widgets.example.com", "t", &crd)
        .await
        .unwrap();

    let legacy = Discovery::new(client.clone())
        .run()
        .await
        .expect("legacy discovery");
    let aggregated = Discovery::new(client)
        .run_aggregated()
        .await
        .expect("aggregated discovery");
    for d in [&legacy, &aggregated] {
        for g in GROUPS {
            assert!(d.has_group(g), "group {g:?} served");
        }
        let (ar, caps) = d
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .expect("Deployment");
        assert_eq!(
            (ar.plural.as_str(), caps.scope.clone()),
            ("deployments", Scope::Namespaced)
        );
        let subs: Vec<String> = caps
            .subresources
            .iter()
            .map(|(r, _)| r.plural.clone())
            .collect();
        assert!(
            subs.iter().any(|s| s.ends_with("scale")) && subs.iter().any(|s| s.ends_with("status")),
            "{subs:?}"
        );
        let (widget, caps) = d
            .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
            .expect("the CRD's kind");
        assert_eq!(
            (widget.plural.as_str(), caps.scope.clone()),
            ("widgets", Scope::Namespaced)
        );
        let (ns, caps) = d
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
            .expect("Namespace");
        assert_eq!(
            (ns.plural.as_str(), caps.scope.clone()),
            ("namespaces", Scope::Cluster)
        );
    }
}
