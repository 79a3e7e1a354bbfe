//! One comparison of Git's object with its live state: every field Git sets that differs live,
//! attributed (from `managedFields`) to the manager that changed it and when, and why it may be
//! ignored. A pass computes it once per object; apply's skip decision and what it writes, `sextant
//! diff`, drift and a heal all read that one value. Pure.

use super::ignore::{self, Ignored};
use super::owner;
use crate::environment::{DriftPolicy, Environment};
use crate::object::{Object, MANAGER};
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// What an apply writes for `o` over its live state, keeping what [`Keep`] says.
#[derive(Debug, Clone, PartialEq)]
pub struct Respected {
    /// Git's object with the kept fields taken from live (or dropped where live has none).
    pub manifest: Value,
    /// The kept fields that are drift left in place by the policy (not ignored): JSON pointers.
    pub left: Vec<String>,
}

/// Git's object against its live state.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The object exists live.
    pub exists: bool,
    /// `sextant.io/drift: ignore` in Git or live: drift leaves the object alone.
    pub annotated: bool,
    /// The release's drift policy leaves drift in place (`report`, `pull-request`).
    policy_leaves: bool,
    /// Git's object as the server stores it.
    git: Value,
    /// Every field Git sets that differs live, and why it may be ignored.
    fields: Vec<(FieldDrift, Ignored)>,
}

static MADE: AtomicU64 = AtomicU64::new(0);

/// How many comparisons this process has made: a test reads it to check that a pass compares
/// each object once.
pub fn made() -> u64 {
    MADE.load(Ordering::Relaxed)
}

impl Comparison {
    /// Compares `o` with its live state (`None`: absent live) under `env`'s ignore rules.
    pub fn of(env: &Environment, o: &Object, live: Option<&Value>) -> Comparison {
        MADE.fetch_add(1, Ordering::Relaxed);
        let git = super::canonical(&o.manifest);
        let fields = live
            .map(|l| attributed(env, o, &git, l))
            .unwrap_or_default();
        Comparison {
            exists: live.is_some(),
            annotated: ignore::annotated_ignore(&o.manifest)
                || live.is_some_and(ignore::annotated_ignore),
            policy_leaves: env.drift_policy(&o.release) != DriftPolicy::Heal,
            git,
            fields,
        }
    }

    /// Whether an apply keeping `keep` would change nothing: the object exists and every field
    /// that differs is one it keeps.
    pub fn in_sync(&self, keep: Keep) -> bool {
        let left = self.left(keep);
        self.exists && self.fields.iter().all(|(_, i)| i.for_apply(left))
    }

    /// The fields that differ and that drift does not ignore.
    pub fn drifted(&self) -> impl Iterator<Item = &FieldDrift> {
        self.fields
            .iter()
            .filter(|(_, i)| !i.for_drift())
            .map(|(f, _)| f)
    }

    /// The fields that differ and that an apply keeping `keep` overwrites.
    pub fn overwritten(&self, keep: Keep) -> impl Iterator<Item = &FieldDrift> {
        let left = self.left(keep);
        self.fields
            .iter()
            .filter(move |(_, i)| !i.for_apply(left))
            .map(|(f, _)| f)
    }

    fn left(&self, keep: Keep) -> bool {
        keep == Keep::AsPolicySays && self.policy_leaves
    }

    /// What to apply so that the fields `keep` names stay as they are live: Git's object (as the
    /// server stores it) with each such field taken from live, or dropped where live has none.
    /// `None` when no kept field differs (apply Git as it is). Argo CD calls this
    /// `RespectIgnoreDifferences`: an HPA's replicas, a webhook's injected fields are neither
    /// drift nor overwritten by the next sync. An object being created gets Git's values.
    pub fn respecting(&self, keep: Keep) -> Option<Respected> {
        let left_by_policy = self.left(keep);
        let mut left = Vec::new();
        let mut fields: Vec<&FieldDrift> = Vec::new();
        for (f, ignored) in &self.fields {
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
        let mut desired = self.git.clone();
        // Last first (list positions compared as numbers): removing a list item must not shift the
        // pointers still to come.
        fields.sort_by_key(|f| std::cmp::Reverse(pointer_order(&f.path)));
        for f in fields {
            match &f.live {
                Some(v) => {
                    if let Some(slot) = desired.pointer_mut(&f.path) {
                        *slot = v.clone();
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
}

/// Every field Git sets (`git`: canonical) that differs live, attributed, and why it may be
/// ignored.
fn attributed(
    env: &Environment,
    o: &Object,
    git: &Value,
    live: &Value,
) -> Vec<(FieldDrift, Ignored)> {
    let rules = ignore::rules_for(env, o);
    super::differences_of_canonical(git, live)
        .into_iter()
        .map(|d| {
            let ruled = ignore::built_in_ignored(o, &d.path)
                || rules
                    .iter()
                    .any(|r| r.paths.iter().any(|p| ignore::covers(p, &d.path)));
            let path = owner::fields_path(git, &d.path);
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
    use crate::object::ObjectRef;
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
            let applied = Comparison::of(&env, &git, Some(&scaled_live())).respecting(keep);
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
        let c = Comparison::of(&env, &git, Some(&live));
        assert_eq!(c.respecting(Keep::AsPolicySays), None);
        assert!(!c.in_sync(Keep::AsPolicySays), "the image is applied");
    }

    #[test]
    fn in_sync_means_every_differing_field_is_kept() {
        // (policy, live image, keep) → in sync. The replicas drifted (kubectl holds them).
        let cases = [
            ("report", "a:2", Keep::AsPolicySays, true),
            ("report", "a:2", Keep::Ignored, false),
            ("heal", "a:2", Keep::AsPolicySays, false),
            ("report", "a:1", Keep::AsPolicySays, false),
        ];
        let git = object(deployment(2, "a:2"));
        for (policy, image, keep, in_sync) in cases {
            let mut live = scaled_live();
            live["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
            let c = Comparison::of(&environment(policy), &git, Some(&live));
            assert_eq!(c.in_sync(keep), in_sync, "{policy} {image} {keep:?}");
            let overwritten: Vec<&str> = c.overwritten(keep).map(|f| f.path.as_str()).collect();
            assert_eq!(overwritten.is_empty(), in_sync, "{policy} {image} {keep:?}");
            let drifted: Vec<&str> = c.drifted().map(|f| f.path.as_str()).collect();
            assert!(drifted.contains(&"/spec/replicas"), "{drifted:?}");
        }
        let absent = Comparison::of(&environment("report"), &git, None);
        assert!(!absent.in_sync(Keep::AsPolicySays) && !absent.exists);
        assert_eq!(absent.drifted().count(), 0);
    }
}
