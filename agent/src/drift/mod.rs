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
pub mod pr;
pub mod proposal;
pub mod provenance;

use crate::compare;
use crate::environment::{DriftPolicy, Environment, IgnoreRule};
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

/// The rules of `env` and of the object's release that select the object.
fn rules_for<'e>(env: &'e Environment, o: &Object) -> Vec<&'e IgnoreRule> {
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
#[derive(Debug, Clone, Copy)]
struct Ignored {
    /// By a rule, or because every cluster changes it by itself.
    ruled: bool,
    /// Its manager is in `drift.ignoreManagers`.
    by_manager: bool,
    /// That manager holds the field (rather than being the object's last writer).
    held: bool,
}

impl Ignored {
    fn for_drift(self) -> bool {
        self.ruled || self.by_manager
    }

    /// Whether an apply keeps the live value. `left`: the release's drift policy leaves drift
    /// in place and the apply respects that (a sync, not a heal).
    fn for_apply(self, left: bool) -> bool {
        self.ruled || (self.held && (self.by_manager || left))
    }
}

/// Which live departures from Git an apply keeps instead of overwriting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// What drift ignores: rules, the built-in fields, an ignored manager's fields. A heal keeps
    /// only these: Git wins over everything else.
    Ignored,
    /// Also every field another manager holds in a release whose drift policy is `report` or
    /// `pull-request`: the drift is left in place, so a sync of any revision neither overwrites
    /// it nor conflicts with its manager (server-side apply refuses to take a field another
    /// manager holds with another value). The field comes back under the agent once Git says
    /// what live says (the drift pull request merged) or a heal applies Git (it closed).
    AsPolicySays,
}

/// Every field Git sets that differs live, attributed, and why it may be ignored.
fn attributed(env: &Environment, o: &Object, live: &Value) -> Vec<(FieldDrift, Ignored)> {
    let rules = rules_for(env, o);
    let git = compare::canonical(&o.manifest);
    compare::differences(&o.manifest, live)
        .into_iter()
        .map(|d| {
            let ruled = built_in_ignored(o, &d.path)
                || rules
                    .iter()
                    .any(|r| r.paths.iter().any(|p| covers(p, &d.path)));
            let path = owner::fields_path(&git, &d.path);
            let who = owner::owners(live, &path, MANAGER).into_iter().next();
            let by_manager = who
                .as_ref()
                .is_some_and(|w| env.drift.ignore_managers.contains(&w.manager));
            // A field gone live is blamed on the object's last writer, a guess: drift ignores it
            // when that writer is ignored, but apply keeps it from Git (a field a new revision
            // adds is absent live, and its last writer may well be an ignored controller).
            let held = who.as_ref().is_some_and(|w| w.holds);
            let f = FieldDrift {
                path: d.path,
                git: d.git,
                live: d.live,
                manager: who.as_ref().map(|w| w.manager.clone()),
                changed_at: who.and_then(|w| w.time),
            };
            (
                f,
                Ignored {
                    ruled,
                    by_manager,
                    held,
                },
            )
        })
        .collect()
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
    let fields: Vec<FieldDrift> = attributed(env, o, live)
        .into_iter()
        .filter(|(_, ignored)| !ignored.for_drift())
        .map(|(f, _)| f)
        .collect();
    (!fields.is_empty()).then(|| ObjectDrift {
        release: o.release.clone(),
        reference: o.reference.clone(),
        object,
        deleted: false,
        fields,
    })
}

/// Whether the live object is another revision the agent itself applied: its `sextant.io/hash`
/// annotation, which no other manager holds (the live cache keeps no entry of the agent's own),
/// is not the one of `o`. A sync under way (or another replica's)
/// wrote it; comparing it with the older desired state would report the agent's own writes as
/// drift. The object is compared again once the revision it carries is the one applied.
pub fn applied_elsewhere(o: &Object, live: &Value) -> bool {
    let hash = |v: &Value| {
        v.pointer("/metadata/annotations")
            .and_then(|a| a.get(crate::object::ANNOTATION_HASH))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (Some(git), Some(seen)) = (hash(&o.manifest), hash(live)) else {
        return false;
    };
    if git == seen {
        return false;
    }
    let pointer = format!(
        "/metadata/annotations/{}",
        crate::object::ANNOTATION_HASH.replace('/', "~1")
    );
    !owner::held_by_other(live, &owner::fields_path(live, &pointer), MANAGER)
}

/// Whether drift detection must leave the object alone entirely (`sextant.io/drift: ignore` in
/// Git or live).
pub fn annotated(o: &Object, live: Option<&Value>) -> bool {
    annotated_ignore(&o.manifest) || live.is_some_and(annotated_ignore)
}

/// What to apply for `o` over its live state so that ignored fields stay as they are live: Git's
/// object (as the server stores it) with each ignored field that differs taken from live, or
/// dropped where live has none. `None` when no ignored field differs (apply Git as it is). Argo
/// CD calls this `RespectIgnoreDifferences`: an HPA's replicas, a webhook's injected fields are
/// neither drift nor overwritten by the next sync. An object being created gets Git's values.
/// This is what a heal applies ([`Keep::Ignored`]); a sync uses [`respecting`].
pub fn respecting_ignored(env: &Environment, o: &Object, live: &Value) -> Option<Value> {
    respecting(env, o, live, Keep::Ignored).map(|r| r.manifest)
}

/// What an apply writes for `o` over its live state, keeping what `keep` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Respected {
    /// Git's object with the kept fields taken from live (or dropped where live has none).
    pub manifest: Value,
    /// The kept fields that are drift left in place by the policy (not ignored): JSON pointers.
    pub left: Vec<String>,
}

/// [`respecting_ignored`], and with [`Keep::AsPolicySays`] also the drift the release's policy
/// leaves in place. `None` when nothing is kept (apply Git as it is).
pub fn respecting(env: &Environment, o: &Object, live: &Value, keep: Keep) -> Option<Respected> {
    let left_by_policy =
        keep == Keep::AsPolicySays && env.drift_policy(&o.release) != DriftPolicy::Heal;
    let mut left = Vec::new();
    let mut fields: Vec<FieldDrift> = Vec::new();
    for (f, ignored) in attributed(env, o, live) {
        if ignored.for_apply(false) {
            fields.push(f);
        } else if ignored.for_apply(left_by_policy) {
            left.push(f.path.clone());
            fields.push(f);
        }
    }
    if fields.is_empty() {
        return None;
    }
    let mut desired = compare::canonical(&o.manifest);
    // Last first (list positions compared as numbers): removing a list item must not shift the
    // pointers still to come.
    fields.sort_by_key(|f| std::cmp::Reverse(pointer_order(&f.path)));
    for f in fields {
        match f.live {
            Some(v) => {
                if let Some(slot) = desired.pointer_mut(&f.path) {
                    *slot = v;
                }
            }
            None => remove_pointer(&mut desired, &f.path),
        }
    }
    left.sort();
    Some(Respected {
        manifest: desired,
        left,
    })
}

fn pointer_order(pointer: &str) -> Vec<(u64, String)> {
    pointer
        .split('/')
        .map(|s| {
            s.parse::<u64>()
                .map_or((u64::MAX, s.to_string()), |n| (n, String::new()))
        })
        .collect()
}

fn remove_pointer(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn environment(policy: &str) -> Environment {
        let repo = tempfile::tempdir().unwrap();
        let chart = repo.path().join("charts/web");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: web\n").unwrap();
        let dir = repo.path().join("environments/e");
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: e\nspec:\n  releases:\n    - {{name: web, namespace: app, chart: charts/web}}\n  drift:\n    policy: {policy}\n");
        let file = dir.join(crate::environment::FILE_NAME);
        crate::environment::parse(repo.path(), &dir, &file, &text, &["e".into()]).unwrap()
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "app"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    /// Live: scaled to 5 through the scale subresource by `kubectl` (which so holds
    /// `spec.replicas`), the image still the agent's `a:1`.
    fn scaled_live() -> Value {
        let mut live = deployment(5, "a:1");
        live["metadata"]["managedFields"] = json!([
            {"manager": MANAGER, "operation": "Apply", "time": "2026-01-01T00:00:00Z",
             "fieldsV1": {"f:spec": {"f:selector": {}, "f:template": {"f:spec": {"f:containers": {
                 "k:{\"name\":\"web\"}": {"f:image": {}, "f:name": {}}}}}}}},
            {"manager": "kubectl", "operation": "Update", "subresource": "scale",
             "time": "2026-01-02T00:00:00Z", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]);
        live
    }

    fn object(manifest: Value) -> Object {
        Object {
            reference: ObjectRef {
                group: "apps".into(),
                version: "v1".into(),
                kind: "Deployment".into(),
                namespace: Some("app".into()),
                name: "web".into(),
            },
            release: "web".into(),
            source: "web/templates/deployment.yaml".into(),
            wave: Default::default(),
            hook: None,
            hash: String::new(),
            manifest,
        }
    }

    #[test]
    fn a_sync_keeps_drift_its_policy_leaves_in_place_and_a_heal_does_not() {
        // A new commit changes the image; spec.replicas drifted (kubectl scale) and Git still
        // says 2. (policy, keep) → the replicas applied, the fields reported as kept.
        let cases = [
            ("report", Keep::AsPolicySays, 5, vec!["/spec/replicas"]),
            (
                "pull-request",
                Keep::AsPolicySays,
                5,
                vec!["/spec/replicas"],
            ),
            ("heal", Keep::AsPolicySays, 2, vec![]),
            ("report", Keep::Ignored, 2, vec![]),
            ("pull-request", Keep::Ignored, 2, vec![]),
        ];
        let git = object(deployment(2, "a:2"));
        for (policy, keep, replicas, left) in cases {
            let env = environment(policy);
            let applied = respecting(&env, &git, &scaled_live(), keep);
            let manifest = applied.as_ref().map_or(&git.manifest, |r| &r.manifest);
            assert_eq!(manifest["spec"]["replicas"], replicas, "{policy} {keep:?}");
            assert_eq!(
                manifest["spec"]["template"]["spec"]["containers"][0]["image"], "a:2",
                "the commit's own change always applies: {policy} {keep:?}"
            );
            let kept: Vec<String> = applied.map(|r| r.left).unwrap_or_default();
            assert_eq!(kept, left, "{policy} {keep:?}");
        }
    }

    #[test]
    fn a_field_the_agent_still_holds_is_not_left_in_place() {
        // The image differs live but only the agent holds it (nobody took it over): Git's
        // value is applied under every policy.
        let mut live = scaled_live();
        live["spec"]["replicas"] = json!(2);
        let env = environment("report");
        let git = object(deployment(2, "a:2"));
        assert_eq!(respecting(&env, &git, &live, Keep::AsPolicySays), None);
    }

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
