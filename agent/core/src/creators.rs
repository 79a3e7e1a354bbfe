//! Who in an environment's plan makes a kind served — pure. A custom resource whose kind the API
//! server does not serve yet is waited for when something the plan applies no later than it
//! creates that kind: a CustomResourceDefinition serving its group, kind and version, or a
//! Gatekeeper ConstraintTemplate, from which Gatekeeper's controller makes the CRD of the
//! constraint kind `constraints.gatekeeper.sh/<spec.crd.spec.names.kind>` at run time (served at
//! `v1beta1` and `v1alpha1`: the CRD Gatekeeper v3.23 builds, in open-policy-agent/frameworks
//! `constraint/pkg/client/crds/crds.go`; <https://open-policy-agent.github.io/gatekeeper/website/docs/howto>).
//! Otherwise nothing will ever serve it, and the sync fails at once.
//! The same answer is checked at plan time (`crate::requires`), before anything is applied.

use crate::object::Object;
use serde_json::Value;
use std::fmt;

/// The group of Gatekeeper's constraint kinds.
pub const CONSTRAINTS_GROUP: &str = "constraints.gatekeeper.sh";
/// The versions Gatekeeper's constraint CRDs serve.
pub const CONSTRAINT_VERSIONS: &[&str] = &["v1beta1", "v1alpha1"];

/// What in the plan creates a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creator {
    /// A CustomResourceDefinition that serves it.
    Crd { name: String, wave: i32 },
    /// A Gatekeeper ConstraintTemplate whose constraint kind it is.
    Template { name: String, wave: i32 },
}

impl Creator {
    pub fn wave(&self) -> i32 {
        match self {
            Creator::Crd { wave, .. } | Creator::Template { wave, .. } => *wave,
        }
    }
}

impl fmt::Display for Creator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Creator::Crd { name, wave } => {
                write!(f, "CustomResourceDefinition {name} (wave {wave})")
            }
            Creator::Template { name, wave } => write!(
                f,
                "ConstraintTemplate {name} (wave {wave}), through Gatekeeper's controller"
            ),
        }
    }
}

/// What to do about a kind the API server does not serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Something applied in this wave or before creates it: wait for it to be served.
    Wait(Creator),
    /// It is created only in a later wave: waiting here would never end.
    Later(Creator),
    /// Nothing in the plan creates it.
    Nobody,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The kind `group/version kind`, if `o` is what creates it.
fn creates(o: &Object, group: &str, version: &str, kind: &str) -> Option<Creator> {
    let m = &o.manifest;
    let wave = o.wave.0;
    let name = o.reference.name.clone();
    match (o.reference.group.as_str(), o.reference.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let serves = m
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|v| v["name"] == version && v["served"].as_bool().unwrap_or(true));
            (text(m, "/spec/group") == group && text(m, "/spec/names/kind") == kind && serves)
                .then_some(Creator::Crd { name, wave })
        }
        ("templates.gatekeeper.sh", "ConstraintTemplate") => (group == CONSTRAINTS_GROUP
            && CONSTRAINT_VERSIONS.contains(&version)
            && text(m, "/spec/crd/spec/names/kind") == kind)
            .then_some(Creator::Template { name, wave }),
        _ => None,
    }
}

/// Who creates `group/version kind`, needed by an object of wave `wave`. The earliest creator
/// wins; one in this wave or before is waited for.
pub fn verdict<'a>(
    plan: impl IntoIterator<Item = &'a Object>,
    group: &str,
    version: &str,
    kind: &str,
    wave: i32,
) -> Verdict {
    let first = plan
        .into_iter()
        .filter_map(|o| creates(o, group, version, kind))
        .min_by_key(Creator::wave);
    match first {
        Some(c) if c.wave() <= wave => Verdict::Wait(c),
        Some(c) => Verdict::Later(c),
        None => Verdict::Nobody,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectRef;
    use serde_json::json;

    fn object(group: &str, kind: &str, name: &str, wave: i32, manifest: Value) -> Object {
        Object {
            reference: ObjectRef {
                group: group.into(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: None,
                name: name.into(),
            },
            release: "r".into(),
            source: "t.yaml".into(),
            wave: crate::environment::Wave(wave),
            hook: None,
            hash: String::new(),
            manifest,
        }
    }

    fn crd(wave: i32, versions: Value) -> Object {
        object(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "widgets.example.com",
            wave,
            json!({"spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": versions}}),
        )
    }

    fn template(wave: i32, kind: &str) -> Object {
        object(
            "templates.gatekeeper.sh",
            "ConstraintTemplate",
            &kind.to_lowercase(),
            wave,
            json!({"spec": {"crd": {"spec": {"names": {"kind": kind}}}}}),
        )
    }

    /// What, the plan, the kind asked for (group, version, kind), its object's wave, the verdict.
    type Case = (
        &'static str,
        Vec<Object>,
        (&'static str, &'static str, &'static str),
        i32,
        Verdict,
    );

    #[test]
    fn who_creates_a_kind_that_is_not_served_yet() {
        let served = json!([{"name": "v1", "served": true}, {"name": "v0", "served": false}]);
        let widget_crd = |wave| Creator::Crd {
            name: "widgets.example.com".into(),
            wave,
        };
        let repos = |wave| Creator::Template {
            name: "k8sallowedrepos".into(),
            wave,
        };
        let cases: Vec<Case> = vec![
            (
                "a CRD in an earlier wave",
                vec![crd(-1, served.clone())],
                ("example.com", "v1", "Widget"),
                0,
                Verdict::Wait(widget_crd(-1)),
            ),
            (
                "a CRD in the same wave",
                vec![crd(0, served.clone())],
                ("example.com", "v1", "Widget"),
                0,
                Verdict::Wait(widget_crd(0)),
            ),
            (
                "a CRD only in a later wave",
                vec![crd(2, served.clone())],
                ("example.com", "v1", "Widget"),
                0,
                Verdict::Later(widget_crd(2)),
            ),
            (
                "the earliest of two CRDs",
                vec![crd(2, served.clone()), crd(-3, served.clone())],
                ("example.com", "v1", "Widget"),
                0,
                Verdict::Wait(widget_crd(-3)),
            ),
            (
                "a CRD that does not serve the version",
                vec![crd(-1, served.clone())],
                ("example.com", "v0", "Widget"),
                0,
                Verdict::Nobody,
            ),
            (
                "a CRD of another group",
                vec![crd(-1, served.clone())],
                ("example.org", "v1", "Widget"),
                0,
                Verdict::Nobody,
            ),
            (
                "a template, v1beta1",
                vec![template(-1, "K8sAllowedRepos")],
                ("constraints.gatekeeper.sh", "v1beta1", "K8sAllowedRepos"),
                1,
                Verdict::Wait(repos(-1)),
            ),
            (
                "a template, v1alpha1, same wave",
                vec![template(1, "K8sAllowedRepos")],
                ("constraints.gatekeeper.sh", "v1alpha1", "K8sAllowedRepos"),
                1,
                Verdict::Wait(repos(1)),
            ),
            (
                "a template, later",
                vec![template(3, "K8sAllowedRepos")],
                ("constraints.gatekeeper.sh", "v1beta1", "K8sAllowedRepos"),
                1,
                Verdict::Later(repos(3)),
            ),
            (
                "a version Gatekeeper does not serve",
                vec![template(-1, "K8sAllowedRepos")],
                ("constraints.gatekeeper.sh", "v1", "K8sAllowedRepos"),
                1,
                Verdict::Nobody,
            ),
            (
                "a template of another kind",
                vec![template(-1, "K8sRequiredLabels")],
                ("constraints.gatekeeper.sh", "v1beta1", "K8sAllowedRepos"),
                1,
                Verdict::Nobody,
            ),
            (
                "a template's kind in another group",
                vec![template(-1, "Widget")],
                ("example.com", "v1", "Widget"),
                1,
                Verdict::Nobody,
            ),
            (
                "nothing",
                vec![],
                ("example.com", "v1", "Widget"),
                0,
                Verdict::Nobody,
            ),
        ];
        for (what, plan, (group, version, kind), wave, want) in cases {
            assert_eq!(verdict(&plan, group, version, kind, wave), want, "{what}");
        }
    }
}
