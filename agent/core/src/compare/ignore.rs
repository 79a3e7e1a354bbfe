//! What a comparison leaves out: the ignore rules (per environment and release, per manager),
//! the object annotation `sextant.io/drift: ignore`, and the fields every cluster changes by
//! itself (webhook `caBundle`s, aggregated ClusterRoles' rules). Pure.

use crate::environment::{Environment, IgnoreRule};
use crate::object::{Object, ObjectRef};
use serde_json::Value;

/// The annotation that takes an object out of drift detection.
pub const ANNOTATION_DRIFT: &str = "sextant.io/drift";

/// The fields every cluster changes on its own, which are never drift: CA bundles injected into
/// webhook configurations, CRD conversion webhooks and APIServices (cert-manager's cainjector,
/// the service-ca operator), and the rules of an aggregated ClusterRole (the controller manager
/// fills them).
pub(super) fn built_in_ignored(o: &Object, path: &str) -> bool {
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
pub(super) fn covers(rule: &str, path: &str) -> bool {
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

pub fn annotated_ignore(o: &Value) -> bool {
    o.pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION_DRIFT))
        .and_then(Value::as_str)
        == Some("ignore")
}

/// The rules of `env` and of the object's release that select the object.
pub(super) fn rules_for<'e>(env: &'e Environment, o: &Object) -> Vec<&'e IgnoreRule> {
    env.drift
        .ignore
        .iter()
        .chain(
            env.release(&o.release)
                .into_iter()
                .flat_map(|r| &r.drift.ignore),
        )
        .filter(|rule| selects(rule, &o.reference))
        .collect()
}

/// Why a differing field may be ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ignored {
    /// By a rule, or because every cluster changes it by itself.
    pub ruled: bool,
    /// Its manager is in `drift.ignoreManagers`.
    pub by_manager: bool,
    /// That manager holds the field (rather than being the object's last writer).
    pub held: bool,
}

impl Ignored {
    pub fn for_drift(self) -> bool {
        self.ruled || self.by_manager
    }

    /// Whether an apply keeps the live value. `left`: the release's drift policy leaves drift
    /// in place and the apply respects that (a sync, not a heal).
    pub fn for_apply(self, left: bool) -> bool {
        self.ruled || (self.held && (self.by_manager || left))
    }
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
