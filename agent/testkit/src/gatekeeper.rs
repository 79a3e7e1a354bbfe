//! Gatekeeper's ConstraintTemplate controller, in the part it plays for a client: each
//! `templates.gatekeeper.sh` ConstraintTemplate yields the CRD of its constraint kind, after which
//! that kind is served, and the template's status says so. It runs only where the
//! ConstraintTemplate CRD is installed (it comes from Gatekeeper's chart), as on a real cluster.
//!
//! As Gatekeeper v3.23.0 does (`pkg/controller/constrainttemplate`, and the CRD it builds in
//! open-policy-agent/frameworks `constraint/pkg/client/crds/crds.go` at the commit its go.mod
//! pins): the CRD is `<lowercase kind>.constraints.gatekeeper.sh`, group
//! `constraints.gatekeeper.sh`, cluster-scoped, versions `v1beta1` (stored) and `v1alpha1`, a
//! `status` subresource, categories `constraint` and `constraints`, the template's labels plus
//! `gatekeeper.sh/constraint: "yes"`, and the template as its controlling owner (deleting the
//! template deletes the CRD and its constraints). A template whose name is not the lowercase of
//! its kind is refused (`create_error`: "invalid ConstraintTemplate: the ConstraintTemplate's name
//! ... is not equal to the lowercase of CRD's Kind"). The status is what its status controller
//! aggregates from the pods' ConstraintTemplatePodStatus objects: `created` (true when a pod has
//! no errors) and `byPod[]` with `id`, `observedGeneration` (the template's generation),
//! `operations`, `templateUID` and any `errors`; one pod here.
//! <https://open-policy-agent.github.io/gatekeeper/website/docs/howto>
//!
//! The constraint CRD's schema is a stand-in (the template's `parameters` schema under
//! `spec.parameters`): the test server does not validate custom resources. Deciding is pure
//! (`constraint_crd`, `template_status`); the loop writes only what differs.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::handler::{Cluster, Write};
use crate::request::{Query, Target};
use crate::storage::{GroupResource, ObjectKey};

/// The group of the constraint kinds.
pub const CONSTRAINTS_GROUP: &str = "constraints.gatekeeper.sh";
/// The versions Gatekeeper's constraint CRDs serve, the stored one first.
pub const CONSTRAINT_VERSIONS: &[&str] = &["v1beta1", "v1alpha1"];
/// The field manager Gatekeeper's writes are recorded as.
pub const MANAGER: &str = "gatekeeper";
/// The one Gatekeeper pod of the simulation, and what it runs.
const POD: &str = "gatekeeper-controller-manager-testkit";
const OPERATIONS: &[&str] = &[
    "audit",
    "generate",
    "mutation-controller",
    "mutation-status",
    "mutation-webhook",
    "status",
    "webhook",
];

fn templates() -> GroupResource {
    GroupResource::new("templates.gatekeeper.sh", "constrainttemplates")
}

/// The constraint CRD a template yields, or why Gatekeeper refuses the template.
pub fn constraint_crd(template: &Value) -> Result<Value, String> {
    let name = template
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = template
        .pointer("/spec/crd/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.is_empty() {
        return Err(format!(
            "invalid ConstraintTemplate: ConstraintTemplate {name:?} does not specify CRD Kind"
        ));
    }
    if !name.eq_ignore_ascii_case(kind) {
        return Err(format!(
            "invalid ConstraintTemplate: the ConstraintTemplate's name {name:?} is not equal to the lowercase of CRD's Kind: {:?}",
            kind.to_lowercase()
        ));
    }
    let plural = kind.to_lowercase();
    let parameters = template
        .pointer("/spec/crd/spec/validation/openAPIV3Schema")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "enforcementAction": {"type": "string"},
            "match": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "parameters": parameters}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
    let versions: Vec<Value> = CONSTRAINT_VERSIONS
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"name": v, "served": true, "storage": i == 0,
            "schema": {"openAPIV3Schema": schema}, "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "enforcement-action", "type": "string", "description": "Type of enforcement action", "jsonPath": ".spec.enforcementAction"},
                {"name": "total-violations", "type": "integer", "description": "Total number of violations", "jsonPath": ".status.totalViolations"}]}))
        .collect();
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    labels["gatekeeper.sh/constraint"] = "yes".into();
    let mut names = json!({"kind": kind, "listKind": format!("{kind}List"), "plural": plural,
        "singular": plural, "categories": ["constraint", "constraints"]});
    if let Some(short) = template.pointer("/spec/crd/spec/names/shortNames") {
        names["shortNames"] = short.clone();
    }
    Ok(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{plural}.{CONSTRAINTS_GROUP}"),
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": template["apiVersion"].as_str().unwrap_or("templates.gatekeeper.sh/v1"),
                "kind": "ConstraintTemplate", "name": name,
                "uid": template.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {"group": CONSTRAINTS_GROUP, "names": names, "scope": "Cluster",
                 "preserveUnknownFields": false, "versions": versions},
    }))
}

/// The template's status once its pod has handled generation `metadata.generation`: created,
/// or the error that stopped it.
pub fn template_status(template: &Value, error: Option<&str>) -> Value {
    let mut pod = json!({
        "id": POD,
        "observedGeneration": template.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "operations": OPERATIONS,
        "templateUID": template.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
    });
    if let Some(message) = error {
        pod["errors"] = json!([{"code": "create_error", "message": message}]);
    }
    json!({"created": error.is_none(), "byPod": [pod]})
}

fn crd_target(cluster: &Cluster, name: Option<String>) -> Option<Target> {
    let rt = cluster
        .registry
        .find_kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")?
        .clone();
    Some(Target {
        rt,
        namespace: None,
        name,
        subresource: None,
        watch_prefix: false,
    })
}

/// Creates or updates the constraint CRD as Gatekeeper does; the error is Gatekeeper's.
fn write_crd(cluster: &mut Cluster, desired: &Value) -> Result<(), String> {
    // Compared as stored: the server drops `preserveUnknownFields: false` (omitempty).
    let mut desired = desired.clone();
    kube_canonical::canonicalize(&mut desired);
    let name = desired["metadata"]["name"].as_str().unwrap_or_default();
    let key = ObjectKey {
        resource: GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions"),
        namespace: None,
        name: name.to_string(),
    };
    let current = cluster.store.get(&key).cloned();
    let body = match &current {
        None => desired.clone(),
        Some(c) if c["spec"] == desired["spec"] => return Ok(()),
        Some(c) => {
            let mut next = c.clone();
            next["spec"] = desired["spec"].clone();
            next
        }
    };
    let Some(target) = crd_target(cluster, current.as_ref().map(|_| name.to_string())) else {
        return Err("Could not create CRD: customresourcedefinitions are not served".into());
    };
    let bytes = body.to_string();
    let write = Write {
        target: &target,
        query: &Query::default(),
        body: bytes.as_bytes(),
        content_type: "application/json",
        manager: Some(MANAGER.into()),
    };
    let (what, outcome) = match current {
        None => ("Could not create CRD", cluster.create(&write).map(|_| ())),
        Some(_) => ("Could not update CRD", cluster.update(&write).map(|_| ())),
    };
    outcome.map_err(|e| format!("{what}: {}", e.message))
}

/// One pass: every template due (`delay` after its last write, as the other simulated
/// controllers) gets its constraint CRD and then its status.
pub fn reconcile_once(cluster: &mut Cluster, delay: Duration) {
    let now = Instant::now();
    let due: Vec<(ObjectKey, Value)> = cluster
        .store
        .list(&templates(), None)
        .into_iter()
        .filter(|(k, o)| {
            o.pointer("/metadata/deletionTimestamp").is_none()
                && cluster
                    .store
                    .changed_at(k)
                    .is_some_and(|t| now.duration_since(t) >= crate::readiness::delay_for(o, delay))
        })
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect();
    for (key, template) in due {
        let error = constraint_crd(&template)
            .and_then(|crd| write_crd(cluster, &crd))
            .err();
        let status = template_status(&template, error.as_deref());
        if template.get("status") == Some(&status) {
            continue;
        }
        let mut next = template;
        next["status"] = status;
        cluster.store.put(key, next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(name: &str, kind: &str) -> Value {
        json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
               "metadata": {"name": name, "uid": "u-1", "generation": 2, "labels": {"team": "platform"}},
               "spec": {"crd": {"spec": {"names": {"kind": kind},
                   "validation": {"openAPIV3Schema": {"type": "object", "properties": {"repos": {"type": "array"}}}}}}}})
    }

    #[test]
    fn a_template_yields_a_cluster_scoped_constraint_crd_it_owns() {
        let crd = constraint_crd(&template("k8sallowedrepos", "K8sAllowedRepos")).unwrap();
        assert_eq!(
            crd["metadata"]["name"],
            "k8sallowedrepos.constraints.gatekeeper.sh"
        );
        assert_eq!(
            crd["metadata"]["labels"],
            json!({"team": "platform", "gatekeeper.sh/constraint": "yes"})
        );
        assert_eq!(crd["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["spec"]["names"]["plural"], "k8sallowedrepos");
        let served: Vec<_> = crate::kinds::crd_types(&crd)
            .iter()
            .map(|t| (t.version.clone(), t.namespaced, t.status))
            .collect();
        assert_eq!(
            served,
            [
                ("v1beta1".into(), false, true),
                ("v1alpha1".into(), false, true)
            ]
        );
        assert_eq!(
            crd.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/parameters/properties/repos/type"),
            Some(&json!("array"))
        );
    }

    #[test]
    fn a_template_named_otherwise_than_its_kind_is_refused_as_gatekeeper_does() {
        let err = constraint_crd(&template("allowed", "K8sAllowedRepos")).unwrap_err();
        assert!(
            err.contains("is not equal to the lowercase of CRD's Kind: \"k8sallowedrepos\""),
            "{err}"
        );
        let status = template_status(&template("allowed", "K8sAllowedRepos"), Some(&err));
        assert_eq!(status["created"], false);
        assert_eq!(status["byPod"][0]["errors"][0]["code"], "create_error");
        assert_eq!(status["byPod"][0]["observedGeneration"], 2);
    }

    #[test]
    fn once_the_template_crd_is_installed_a_template_serves_its_kind_and_reports_created() {
        let mut c = Cluster::new(100);
        let ct_crd = json!({"metadata": {"name": "constrainttemplates.templates.gatekeeper.sh"}, "spec": {
            "group": "templates.gatekeeper.sh", "scope": "Cluster",
            "names": {"kind": "ConstraintTemplate", "plural": "constrainttemplates"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]}});
        c.registry.set_crd(&ct_crd);
        let key = ObjectKey {
            resource: templates(),
            namespace: None,
            name: "k8sallowedrepos".into(),
        };
        c.store
            .put(key.clone(), template("k8sallowedrepos", "K8sAllowedRepos"));
        reconcile_once(&mut c, Duration::ZERO);
        assert!(c
            .registry
            .find_kind(CONSTRAINTS_GROUP, "v1beta1", "K8sAllowedRepos")
            .is_some());
        let stored = c.store.get(&key).unwrap();
        assert_eq!(stored["status"]["created"], true);
        assert_eq!(stored["status"]["byPod"][0]["observedGeneration"], 2);
        let rv = c.store.current_rv();
        reconcile_once(&mut c, Duration::ZERO);
        assert_eq!(
            c.store.current_rv(),
            rv,
            "a converged template is not rewritten"
        );
    }
}
