//! The proof: a render with the proposed values equals live on every drifted field it claims,
//! and changes nothing else that is not also live.

use super::leaves;
use super::session::{changed, find, Objects};
use super::{Reason, Unmapped, ValuesEdit};
use crate::compare;
use crate::kinds;
use crate::object::ObjectRef;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// The live objects, looked up by reference.
pub(super) struct LiveIndex {
    objects: Objects,
}

impl LiveIndex {
    pub fn new(live: &[Value]) -> Self {
        let mut objects = Objects::new();
        for o in live {
            let (group, version) =
                kinds::split_api_version(o["apiVersion"].as_str().unwrap_or_default());
            let r = ObjectRef {
                group: group.to_string(),
                version: version.to_string(),
                kind: o["kind"].as_str().unwrap_or_default().to_string(),
                namespace: o
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .map(String::from),
                name: o
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            };
            objects.insert(r, o.clone());
        }
        LiveIndex { objects }
    }

    pub fn get(&self, r: &ObjectRef) -> Option<&Value> {
        find(&self.objects, r)
    }
}

/// What the render with the proposed values showed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Proof {
    /// Every rendered field the edits change against Git (object, JSON pointer).
    pub changed: Vec<(ObjectRef, String)>,
    /// Where that render departs from live; empty when the proof holds.
    pub failures: Vec<ProofFailure>,
}

impl Proof {
    pub fn holds(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProofFailure {
    pub object: ObjectRef,
    pub pointer: String,
    pub rendered: Option<Value>,
    pub live: Option<Value>,
    pub why: Why,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Why {
    /// A drifted field still differs from live.
    DriftNotReached,
    /// A field the edits change holds another value live.
    NotLive,
    /// The edits render an object Git does not have and the cluster does not hold as rendered.
    AddsObject,
    /// The edits stop rendering an object Git has.
    RemovesObject,
}

impl fmt::Display for ProofFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".into(), Value::to_string);
        match self.why {
            Why::AddsObject => write!(f, "{} would be added", self.object),
            Why::RemovesObject => write!(f, "{} would be removed", self.object),
            Why::DriftNotReached | Why::NotLive => write!(
                f,
                "{} {}: rendered {}, live {}",
                self.object,
                self.pointer,
                show(&self.rendered),
                show(&self.live)
            ),
        }
    }
}

pub(super) fn overlaps(a: &str, b: &str) -> bool {
    a == b || b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/"))
}

/// Checks `proved` (a render with the edits) against Git's `baseline` and live.
pub(super) fn check(
    baseline: &Objects,
    proved: &Objects,
    targets: &[(ObjectRef, String)],
    live: &LiveIndex,
) -> Proof {
    let mut proof = Proof::default();
    let fail = |r: &ObjectRef, p: &str, rendered: Option<&Value>, live: Option<&Value>, why| {
        ProofFailure {
            object: r.clone(),
            pointer: p.to_string(),
            rendered: rendered.cloned(),
            live: live.cloned(),
            why,
        }
    };
    for (r, obj) in proved {
        let Some(base) = find(baseline, r) else {
            let same = live
                .get(r)
                .is_some_and(|l| compare::differences(obj, l).is_empty());
            proof.changed.push((r.clone(), String::new()));
            if !same {
                proof
                    .failures
                    .push(fail(r, "", None, None, Why::AddsObject));
            }
            continue;
        };
        let mut paths = Vec::new();
        changed(base, obj, "", &mut paths);
        if paths.is_empty() {
            continue;
        }
        let l = live.get(r);
        let diffs: Vec<String> = l
            .map(|l| {
                compare::differences(obj, l)
                    .into_iter()
                    .map(|d| d.path)
                    .collect()
            })
            .unwrap_or_default();
        for p in paths {
            proof.changed.push((r.clone(), p.clone()));
            let claimed = targets
                .iter()
                .any(|(tr, tp)| same_object(tr, r) && overlaps(tp, &p));
            if claimed {
                continue;
            }
            let rendered = obj.pointer(&p);
            let live_value = l.and_then(|l| l.pointer(&p));
            let holds = match (l, rendered) {
                (None, _) => false,
                // Removed by the edit: fine only if it is gone live too.
                (Some(_), None) => live_value.is_none(),
                (Some(_), Some(_)) => !diffs.iter().any(|d| overlaps(d, &p)),
            };
            if !holds {
                proof
                    .failures
                    .push(fail(r, &p, rendered, live_value, Why::NotLive));
            }
        }
    }
    for r in baseline.keys().filter(|r| find(proved, r).is_none()) {
        proof
            .failures
            .push(fail(r, "", None, None, Why::RemovesObject));
    }
    for (r, p) in targets {
        let obj = find(proved, r);
        let l = live.get(r);
        let reached = match (obj, l) {
            (Some(obj), Some(l)) => !compare::differences(obj, l)
                .iter()
                .any(|d| overlaps(&d.path, p)),
            _ => false,
        };
        if !reached {
            proof.failures.push(fail(
                r,
                p,
                obj.and_then(|o| o.pointer(p)),
                l.and_then(|l| l.pointer(p)),
                Why::DriftNotReached,
            ));
        }
    }
    proof
}

pub(super) fn same_object(a: &ObjectRef, b: &ObjectRef) -> bool {
    a.group == b.group
        && a.kind == b.kind
        && a.name == b.name
        && (a.namespace == b.namespace || a.namespace.is_none() || b.namespace.is_none())
}

/// A field reported missing live (a list-map item whose key changed live, such as a
/// `containerPort`) that the proved render holds as live does: it is the edits' work too.
pub(super) fn reached_by(
    objs: &Objects,
    u: &Unmapped,
    live: &LiveIndex,
    edits: &mut [ValuesEdit],
) -> bool {
    if u.reason != Reason::RemovedLive {
        return false;
    }
    let (Some(obj), Some(l)) = (find(objs, &u.object), live.get(&u.object)) else {
        return false;
    };
    if obj
        .pointer(&u.pointer)
        .is_none_or(|now| leaves::same(now, &u.git))
    {
        return false;
    }
    let reached = !compare::differences(obj, l)
        .iter()
        .any(|d| overlaps(&d.path, &u.pointer));
    if !reached {
        return false;
    }
    let field = (u.object.clone(), u.pointer.clone());
    let owner = edits.iter().position(|e| {
        e.fields.iter().any(|(r, p)| {
            same_object(r, &u.object)
                && (p.starts_with(&format!("{}/", u.pointer)) || *p == u.pointer)
        })
    });
    match owner.and_then(|i| edits.get_mut(i)) {
        Some(e) => {
            if !e.fields.contains(&field) {
                e.fields.push(field);
            }
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "app"},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    fn objects(v: Value) -> (ObjectRef, Objects) {
        let live = LiveIndex::new(std::slice::from_ref(&v));
        let (r, _) = live
            .objects
            .iter()
            .next()
            .map(|(r, v)| (r.clone(), v))
            .unwrap();
        let mut o = Objects::new();
        o.insert(r.clone(), v);
        (r, o)
    }

    #[test]
    fn a_render_equal_to_live_on_every_changed_field_holds() {
        let (r, git) = objects(deployment(3, "a"));
        let (_, proved) = objects(deployment(5, "a"));
        let live = [deployment(5, "a")];
        let targets = [(r, "/spec/replicas".to_string())];
        let proof = check(&git, &proved, &targets, &LiveIndex::new(&live));
        assert!(proof.holds(), "{:?}", proof.failures);
        assert_eq!(proof.changed.len(), 1);
    }

    #[test]
    fn a_field_the_edit_changes_that_is_not_live_fails_the_proof() {
        let (r, git) = objects(deployment(3, "a"));
        let (_, proved) = objects(deployment(5, "b"));
        let live = [deployment(5, "a")];
        let targets = [(r, "/spec/replicas".to_string())];
        let proof = check(&git, &proved, &targets, &LiveIndex::new(&live));
        assert_eq!(proof.failures.len(), 1);
        assert_eq!(proof.failures[0].why, Why::NotLive);
        assert_eq!(
            proof.failures[0].pointer,
            "/spec/template/spec/containers/0/image"
        );
    }

    #[test]
    fn a_drifted_field_the_render_does_not_reach_fails_the_proof() {
        let (r, git) = objects(deployment(3, "a"));
        let live = [deployment(5, "a")];
        let targets = [(r, "/spec/replicas".to_string())];
        let proof = check(&git, &git, &targets, &LiveIndex::new(&live));
        assert_eq!(proof.failures[0].why, Why::DriftNotReached);
    }
}
