//! The live index: each watched kind's objects as the last complete list and the watch events
//! after it left them, and whether each kind can be trusted. Plain data, fed by `run_watch`
//! and read by drift, the sync's prefetch and the promotion gate; tested here without a server.
//!
//! - A kind is synced only from a complete list (`init_done`) to the next failure: a failed
//!   watch makes it unknown, never "in sync", and only a new complete list makes it synced again.
//! - A list replaces the kind's objects when it completes: what it did not hold was deleted
//!   meanwhile (an outage, an API server restarted empty), and is reported as a change.
//! - Every change is reported once: a list that brings an object back as it was is no change.

use super::{Change, KindKey};
use crate::apply::sync::{identity, Identity};
use crate::object::ObjectRef;
use serde_json::Value;
use sextant_core::ports::live::{Availability, Cached};
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Default)]
struct KindState {
    synced: bool,
    error: Option<String>,
    /// The identities seen by a list under way.
    listing: Option<HashSet<Identity>>,
}

#[derive(Debug, Default)]
pub struct Index {
    objects: HashMap<Identity, Cached>,
    kinds: BTreeMap<KindKey, KindState>,
    /// Object events so far (adds, changes, deletes).
    seq: u64,
}

fn of_kind(id: &Identity, kind: &KindKey) -> bool {
    id.is_a(&kind.0, &kind.2)
}

impl Index {
    /// A kind whose watch starts: unknown until its first list completes.
    pub fn track(&mut self, kind: KindKey) {
        self.kinds.entry(kind).or_default();
    }

    /// A kind no longer watched: its objects are forgotten.
    pub fn forget(&mut self, kind: &KindKey) {
        self.kinds.remove(kind);
        self.objects.retain(|id, _| !of_kind(id, kind));
    }

    pub fn tracks(&self, kind: &KindKey) -> bool {
        self.kinds.contains_key(kind)
    }

    /// A list of the kind begins (the first, one after a failure, or a periodic one).
    pub fn init(&mut self, kind: &KindKey) {
        if let Some(k) = self.kinds.get_mut(kind) {
            k.listing = Some(HashSet::new());
        }
    }

    /// An object as a list or a watch event brings it.
    pub fn apply(&mut self, kind: &KindKey, object: Value) -> Vec<Change> {
        let Some(k) = self.kinds.get_mut(kind) else {
            return Vec::new();
        };
        let id = identity(&reference(kind, &object));
        if let Some(seen) = k.listing.as_mut() {
            seen.insert(id.clone());
        }
        if self.objects.get(&id).map(|c| &c.object) == Some(&object) {
            return Vec::new();
        }
        self.seq += 1;
        self.objects.insert(
            id.clone(),
            Cached {
                object,
                seq: self.seq,
            },
        );
        vec![Change::Object(id)]
    }

    /// An object deleted, as a watch event reports it.
    pub fn delete(&mut self, kind: &KindKey, object: &Value) -> Vec<Change> {
        if !self.kinds.contains_key(kind) {
            return Vec::new();
        }
        let id = identity(&reference(kind, object));
        if self.objects.remove(&id).is_none() {
            return Vec::new();
        }
        self.seq += 1;
        vec![Change::Object(id)]
    }

    /// The list completed: the kind is synced, and what the list did not hold is gone.
    pub fn init_done(&mut self, kind: &KindKey) -> Vec<Change> {
        let Some(k) = self.kinds.get_mut(kind) else {
            return Vec::new();
        };
        let seen = k.listing.take().unwrap_or_default();
        k.synced = true;
        k.error = None;
        let mut gone: Vec<Identity> = self
            .objects
            .keys()
            .filter(|id| of_kind(id, kind) && !seen.contains(*id))
            .cloned()
            .collect();
        gone.sort();
        for id in &gone {
            self.objects.remove(id);
        }
        if !gone.is_empty() {
            self.seq += 1;
        }
        let mut changes: Vec<Change> = gone.into_iter().map(Change::Object).collect();
        changes.push(Change::Synced(kind.clone()));
        changes
    }

    /// The watch failed: the kind is unknown until a new list completes.
    pub fn failed(&mut self, kind: &KindKey, why: &str) -> Vec<Change> {
        let Some(k) = self.kinds.get_mut(kind) else {
            return Vec::new();
        };
        k.synced = false;
        k.listing = None;
        k.error = Some(why.to_string());
        vec![Change::Down(kind.clone(), why.to_string())]
    }

    /// Object events so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn get(&self, id: &Identity) -> Option<&Value> {
        self.objects.get(id).map(|c| &c.object)
    }

    /// Whether a kind's objects are current.
    pub fn synced(&self, group: &str, kind: &str) -> bool {
        self.kinds
            .iter()
            .any(|(k, s)| k.0 == group && k.2 == kind && s.synced)
    }

    /// The cached copy, when the object's kind is synced (`Some(None)`: it does not exist).
    pub fn lookup(&self, r: &ObjectRef) -> Option<Option<Cached>> {
        let synced = self
            .kinds
            .iter()
            .any(|(k, s)| k.0 == r.group && k.1 == r.version && k.2 == r.kind && s.synced);
        synced.then(|| self.objects.get(&identity(r)).cloned())
    }

    pub fn availability(&self) -> Availability {
        let down: Vec<String> = self
            .kinds
            .iter()
            .filter_map(|(k, s)| s.error.as_ref().map(|e| format!("{} {}: {e}", k.2, k.0)))
            .collect();
        if !down.is_empty() {
            Availability::Down(down)
        } else if self.kinds.values().any(|s| !s.synced) {
            Availability::Starting
        } else {
            Availability::Synced
        }
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

fn reference(kind: &KindKey, o: &Value) -> ObjectRef {
    let text = |p: &str| o.pointer(p).and_then(Value::as_str).map(str::to_string);
    ObjectRef {
        group: kind.0.clone(),
        version: kind.1.clone(),
        kind: kind.2.clone(),
        namespace: text("/metadata/namespace"),
        name: text("/metadata/name").unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One thing the watch reports, as the index is fed it.
    #[derive(Clone, Copy)]
    enum Ev {
        Init,
        /// An object and its `data.v`.
        Apply(&'static str, &'static str),
        Delete(&'static str),
        InitDone,
        Failed,
    }
    use Ev::*;

    fn deploys() -> KindKey {
        ("apps".into(), "v1".into(), "Deployment".into())
    }

    fn object(name: &str, v: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "app"}, "data": {"v": v}})
    }

    fn id(name: &str) -> Identity {
        Identity::new("apps", "Deployment", Some("app"), name)
    }

    fn feed(index: &mut Index, events: &[Ev]) -> Vec<Change> {
        let k = deploys();
        let mut out = Vec::new();
        for e in events {
            out.extend(match *e {
                Init => {
                    index.init(&k);
                    Vec::new()
                }
                Apply(n, v) => index.apply(&k, object(n, v)),
                Delete(n) => index.delete(&k, &object(n, "")),
                InitDone => index.init_done(&k),
                Failed => index.failed(&k, "503 ServiceUnavailable"),
            });
        }
        out
    }

    fn obj(name: &str) -> Change {
        Change::Object(id(name))
    }

    #[test]
    fn relists_after_a_failure_decide_what_is_known_changed_and_gone() {
        let listed = [Init, Apply("a", "1"), Apply("b", "1"), InitDone];
        let synced = || Change::Synced(deploys());
        struct Case {
            name: &'static str,
            /// Fed after the first complete list of `a` and `b` (both at "1").
            then: Vec<Ev>,
            synced: bool,
            /// The objects held and their `data.v`.
            holds: Vec<(&'static str, &'static str)>,
            changes: Vec<Change>,
        }
        let down = || Change::Down(deploys(), "503 ServiceUnavailable".into());
        let cases = [
            Case {
                name: "a failure makes the kind unknown and keeps its last copies",
                then: vec![Failed],
                synced: false,
                holds: vec![("a", "1"), ("b", "1")],
                changes: vec![down()],
            },
            Case {
                name: "a watch that resumes without a list stays unknown",
                then: vec![Failed, Apply("a", "2")],
                synced: false,
                holds: vec![("a", "2"), ("b", "1")],
                changes: vec![down(), obj("a")],
            },
            Case {
                name: "a relist after a failure syncs again and reports nothing unchanged",
                then: vec![Failed, Init, Apply("a", "1"), Apply("b", "1"), InitDone],
                synced: true,
                holds: vec![("a", "1"), ("b", "1")],
                changes: vec![down(), synced()],
            },
            Case {
                name: "a change made during the outage is reported by the relist",
                then: vec![Failed, Init, Apply("a", "2"), Apply("b", "1"), InitDone],
                synced: true,
                holds: vec![("a", "2"), ("b", "1")],
                changes: vec![down(), obj("a"), synced()],
            },
            Case {
                name: "an object gone during the outage is deleted when the relist completes",
                then: vec![Failed, Init, Apply("a", "1"), InitDone],
                synced: true,
                holds: vec![("a", "1")],
                changes: vec![down(), obj("b"), synced()],
            },
            Case {
                name: "a server restarted empty: every object is gone",
                then: vec![Failed, Init, InitDone],
                synced: true,
                holds: vec![],
                changes: vec![down(), obj("a"), obj("b"), synced()],
            },
            Case {
                name: "a list cut off midway keeps the kind unknown and deletes nothing",
                then: vec![Failed, Init, Apply("a", "1"), Failed],
                synced: false,
                holds: vec![("a", "1"), ("b", "1")],
                changes: vec![down(), down()],
            },
            Case {
                name: "only a complete list after a cut-off one counts",
                then: vec![
                    Failed,
                    Init,
                    Apply("b", "1"),
                    Failed,
                    Init,
                    Apply("a", "1"),
                    InitDone,
                ],
                synced: true,
                holds: vec![("a", "1")],
                changes: vec![down(), down(), obj("b"), synced()],
            },
            Case {
                name: "a periodic relist without a failure stays synced and drops what is gone",
                then: vec![Init, Apply("b", "1"), InitDone],
                synced: true,
                holds: vec![("b", "1")],
                changes: vec![obj("a"), synced()],
            },
            Case {
                name: "watch events change and delete objects of a synced kind",
                then: vec![Apply("a", "2"), Delete("b"), Delete("b")],
                synced: true,
                holds: vec![("a", "2")],
                changes: vec![obj("a"), obj("b")],
            },
        ];
        for c in cases {
            let mut index = Index::default();
            index.track(deploys());
            assert_eq!(
                feed(&mut index, &listed),
                vec![obj("a"), obj("b"), synced()],
                "{}: the first list",
                c.name
            );
            let changes = feed(&mut index, &c.then);
            assert_eq!(changes, c.changes, "{}: changes", c.name);
            assert_eq!(index.synced("apps", "Deployment"), c.synced, "{}", c.name);
            let mut holds: Vec<(String, String)> = ["a", "b"]
                .iter()
                .filter_map(|n| {
                    let v = index.get(&id(n))?["data"]["v"].as_str()?.to_string();
                    Some((n.to_string(), v))
                })
                .collect();
            holds.sort();
            let want: Vec<(String, String)> = c
                .holds
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(holds, want, "{}: objects held", c.name);
            assert_eq!(index.len(), want.len(), "{}", c.name);
        }
    }

    #[test]
    fn an_unsynced_kind_is_unknown_to_readers_and_a_synced_one_answers_absent() {
        let mut index = Index::default();
        index.track(deploys());
        let r = ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: Some("app".into()),
            name: "a".into(),
        };
        assert_eq!(index.lookup(&r), None);
        assert_eq!(index.availability(), Availability::Starting);
        feed(&mut index, &[Init, InitDone]);
        assert_eq!(index.lookup(&r), Some(None));
        assert_eq!(index.availability(), Availability::Synced);
        feed(&mut index, &[Failed]);
        assert_eq!(index.lookup(&r), None);
        assert_eq!(
            index.availability(),
            Availability::Down(vec!["Deployment apps: 503 ServiceUnavailable".into()])
        );
        feed(&mut index, &[Init, Apply("a", "1"), InitDone]);
        let seq = index.seq();
        assert_eq!(
            index.lookup(&r).flatten().map(|c| c.seq),
            Some(seq),
            "a copy carries the sequence number of the event that brought it"
        );
    }

    #[test]
    fn a_forgotten_kind_drops_its_objects_and_ignores_late_events() {
        let mut index = Index::default();
        let other: KindKey = (String::new(), "v1".into(), "ConfigMap".into());
        index.track(deploys());
        index.track(other.clone());
        feed(&mut index, &[Init, Apply("a", "1"), InitDone]);
        index.apply(
            &other,
            json!({"metadata": {"name": "c", "namespace": "app"}}),
        );
        index.forget(&deploys());
        assert_eq!(index.len(), 1, "the ConfigMap stays");
        assert!(feed(&mut index, &[Apply("a", "2"), InitDone, Failed]).is_empty());
        assert!(!index.tracks(&deploys()));
        assert_eq!(index.len(), 1);
    }
}
