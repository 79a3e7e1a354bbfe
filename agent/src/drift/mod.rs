//! Drift: where the live cluster departs from what the agent applied — pure.
//!
//! One comparison (`compare::differences`, the one apply's skip decision and `sextant diff`
//! use), over the fields Git sets; each difference is attributed, from `managedFields`, to the
//! manager that changed it and when. Ignore rules (per environment and release, per manager, and
//! the object annotation `sextant.io/drift: ignore`) and the fields every cluster changes by itself
//! (webhook `caBundle`s, aggregated ClusterRoles' rules) are left out. What to do about it is
//! [`policy`]'s decision.

pub mod owner;
pub mod policy;

use crate::compare;
use crate::environment::{Environment, IgnoreRule};
use crate::object::{Object, ObjectRef, MANAGER};
use serde::Serialize;
use serde_json::Value;

/// The annotation that takes an object out of drift detection.
pub const ANNOTATION_DRIFT: &str = "sextant.io/drift";

/// One field Git sets that differs live.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDrift {
    /// JSON pointer into Git's object.
    pub path: String,
    pub git: Value,
    /// `None`: absent live.
    pub live: Option<Value>,
    /// Who changed it (from `managedFields`), when known.
    pub manager: Option<String>,
    /// Since when (that manager's `managedFields` time).
    pub changed_at: Option<String>,
}

/// One object that departs from Git.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectDrift {
    pub release: String,
    #[serde(skip)]
    pub reference: ObjectRef,
    pub object: String,
    /// Deleted from the cluster.
    pub deleted: bool,
    pub fields: Vec<FieldDrift>,
}

impl ObjectDrift {
    /// The managers behind the change, most recent first, without repeats.
    pub fn managers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.fields.iter().filter_map(|f| f.manager.clone()) {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    /// The earliest change time among the fields.
    pub fn since(&self) -> Option<String> {
        self.fields
            .iter()
            .filter_map(|f| f.changed_at.clone())
            .min()
    }

    /// The same drift with Secret values masked, for anything published.
    pub fn masked(&self) -> ObjectDrift {
        if self.reference.kind != "Secret" || !self.reference.group.is_empty() {
            return self.clone();
        }
        let mut d = self.clone();
        for f in &mut d.fields {
            f.git = Value::String(crate::secrets::MASK.into());
            f.live = f
                .live
                .as_ref()
                .map(|_| Value::String(crate::secrets::MASK.into()));
        }
        d
    }
}

/// The fields every cluster changes on its own, which are never drift: CA bundles injected into
/// webhook configurations, CRD conversion webhooks and APIServices (cert-manager's cainjector,
/// the service-ca operator), and the rules of an aggregated ClusterRole (the controller manager
/// fills them).
fn built_in_ignored(o: &Object, path: &str) -> bool {
    let r = &o.reference;
    let seg: Vec<&str> = path.split('/').skip(1).collect();
    match (r.group.as_str(), r.kind.as_str()) {
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => seg.len() >= 4 && seg[0] == "webhooks" && seg[2..4] == ["clientConfig", "caBundle"],
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            path.starts_with("/spec/conversion/webhook/clientConfig/caBundle")
        }
        ("apiregistration.k8s.io", "APIService") => path == "/spec/caBundle",
        ("rbac.authorization.k8s.io", "ClusterRole") => {
            o.manifest.get("aggregationRule").is_some() && path.starts_with("/rules")
        }
        _ => false,
    }
}

/// Whether a rule's pointer covers `path`: equal, or a prefix of it segment by segment, `*`
/// matching any one segment (a list index, say).
fn covers(rule: &str, path: &str) -> bool {
    let rule: Vec<&str> = rule.split('/').skip(1).collect();
    let path: Vec<&str> = path.split('/').skip(1).collect();
    rule.len() <= path.len() && rule.iter().zip(&path).all(|(r, p)| *r == "*" || r == p)
}

fn selects(rule: &IgnoreRule, r: &ObjectRef) -> bool {
    rule.group.as_ref().is_none_or(|g| *g == r.group)
        && rule.kind.as_ref().is_none_or(|k| *k == r.kind)
        && rule
            .namespace
            .as_ref()
            .is_none_or(|n| Some(n) == r.namespace.as_ref())
        && rule.name.as_ref().is_none_or(|n| *n == r.name)
}

fn annotated_ignore(o: &Value) -> bool {
    o.pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION_DRIFT))
        .and_then(Value::as_str)
        == Some("ignore")
}

/// How `object` departs from Git, given its live state (`None`: deleted), or `None` when it
/// does not (or must not be looked at).
pub fn evaluate(env: &Environment, o: &Object, live: Option<&Value>) -> Option<ObjectDrift> {
    if annotated_ignore(&o.manifest) || live.is_some_and(annotated_ignore) {
        return None;
    }
    let object = o.reference.to_string();
    let Some(live) = live else {
        return Some(ObjectDrift {
            release: o.release.clone(),
            reference: o.reference.clone(),
            object,
            deleted: true,
            fields: Vec::new(),
        });
    };
    let rules: Vec<&IgnoreRule> = env
        .drift
        .ignore
        .iter()
        .chain(
            env.release(&o.release)
                .into_iter()
                .flat_map(|r| &r.drift.ignore),
        )
        .filter(|rule| selects(rule, &o.reference))
        .collect();
    let git = compare::canonical(&o.manifest);
    let fields: Vec<FieldDrift> = compare::differences(&o.manifest, live)
        .into_iter()
        .filter(|d| !built_in_ignored(o, &d.path))
        .filter(|d| {
            !rules
                .iter()
                .any(|r| r.paths.iter().any(|p| covers(p, &d.path)))
        })
        .map(|d| {
            let path = owner::fields_path(&git, &d.path);
            let who = owner::owners(live, &path, MANAGER).into_iter().next();
            FieldDrift {
                path: d.path,
                git: d.git,
                live: d.live,
                manager: who.as_ref().map(|w| w.manager.clone()),
                changed_at: who.and_then(|w| w.time),
            }
        })
        .filter(|f| {
            f.manager
                .as_ref()
                .is_none_or(|m| !env.drift.ignore_managers.contains(m))
        })
        .collect();
    (!fields.is_empty()).then(|| ObjectDrift {
        release: o.release.clone(),
        reference: o.reference.clone(),
        object,
        deleted: false,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rule_pointers_cover_their_subtree_and_star_matches_one_segment() {
        assert!(covers("/spec/replicas", "/spec/replicas"));
        assert!(covers(
            "/spec/template",
            "/spec/template/spec/containers/0/image"
        ));
        assert!(covers(
            "/spec/template/spec/containers/*/image",
            "/spec/template/spec/containers/3/image"
        ));
        assert!(!covers("/spec/replicas", "/spec/revisionHistoryLimit"));
        assert!(!covers(
            "/spec/template/spec/containers/*/image",
            "/spec/template"
        ));
    }

    #[test]
    fn only_the_selected_objects_are_ignored() {
        let r = ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: Some("app".into()),
            name: "web".into(),
        };
        let rule = |kind: Option<&str>, name: Option<&str>| IgnoreRule {
            kind: kind.map(String::from),
            name: name.map(String::from),
            paths: vec!["/spec/replicas".into()],
            ..IgnoreRule::default()
        };
        assert!(selects(&rule(None, None), &r));
        assert!(selects(&rule(Some("Deployment"), Some("web")), &r));
        assert!(!selects(&rule(Some("StatefulSet"), None), &r));
        assert!(!selects(&rule(None, Some("api")), &r));
        assert!(annotated_ignore(
            &json!({"metadata": {"annotations": {"sextant.io/drift": "ignore"}}})
        ));
    }
}
