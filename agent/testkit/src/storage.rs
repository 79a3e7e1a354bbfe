//! Object storage with one global, monotonically rising `resourceVersion`, and the bounded
//! event history that watches resume from (older versions answer `410 Gone`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::broadcast;

/// A resource independent of version: objects of every version of it share one store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub resource: GroupResource,
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub key: ObjectKey,
    pub object: Value,
    /// The object before a modification (watches with selectors need it to tell an
    /// object leaving the selection from one changing inside it).
    pub previous: Option<Value>,
}

/// What a watch starting at some resourceVersion gets: the events it missed, then the live feed.
pub struct Subscription {
    pub backlog: Vec<Event>,
    pub live: broadcast::Receiver<Event>,
}

/// The version asked for is older than the retained history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub requested: u64,
    pub oldest: u64,
}

pub struct Store {
    rv: u64,
    objects: BTreeMap<ObjectKey, Value>,
    changed_at: HashMap<ObjectKey, Instant>,
    history: VecDeque<Event>,
    history_limit: usize,
    /// Watches from versions below this are `410 Gone`.
    compacted: u64,
    tx: broadcast::Sender<Event>,
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            rv: 1,
            objects: BTreeMap::new(),
            changed_at: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 0,
            tx,
        }
    }

    /// The objects themselves, bypassing versions and events: for a test that needs a state no
    /// write could make.
    #[cfg(test)]
    pub(crate) fn objects_mut(&mut self) -> &mut BTreeMap<ObjectKey, Value> {
        &mut self.objects
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// When the object was last written (the simulated controllers delay from it).
    pub fn changed_at(&self, key: &ObjectKey) -> Option<Instant> {
        self.changed_at.get(key).copied()
    }

    /// Objects of a resource, in one namespace or all, ordered by namespace then name: a range
    /// of the ordered store (keys order by resource, then namespace, then name), not a scan.
    pub fn list(
        &self,
        resource: &GroupResource,
        namespace: Option<&str>,
    ) -> Vec<(&ObjectKey, &Value)> {
        let start = ObjectKey {
            resource: resource.clone(),
            namespace: namespace.map(str::to_string),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(|(k, _)| {
                &k.resource == resource
                    && (namespace.is_none() || k.namespace.as_deref() == namespace)
            })
            .collect()
    }

    /// Objects of a resource, in one namespace or all, after the key `after` (a page's
    /// cursor) in the store's order; lazily, so a page reads only what it returns.
    pub fn list_after<'a>(
        &'a self,
        resource: &'a GroupResource,
        namespace: Option<&'a str>,
        after: Option<ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> + 'a {
        use std::ops::Bound;
        let from = match after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Included(ObjectKey {
                resource: resource.clone(),
                namespace: namespace.map(str::to_string),
                name: String::new(),
            }),
        };
        self.objects
            .range((from, Bound::Unbounded))
            .take_while(move |(k, _)| {
                &k.resource == resource
                    && (namespace.is_none() || k.namespace.as_deref() == namespace)
            })
    }

    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<ObjectKey> {
        self.objects
            .keys()
            .filter(|k| k.namespace.as_deref() == Some(namespace))
            .cloned()
            .collect()
    }

    pub fn keys_of(&self, resource: &GroupResource) -> Vec<ObjectKey> {
        self.list(resource, None)
            .into_iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Keys of every object the predicate accepts.
    pub fn find(&self, pred: impl Fn(&Value) -> bool) -> Vec<ObjectKey> {
        self.objects
            .iter()
            .filter(|(_, o)| pred(o))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Store a new or changed object, stamping the next resourceVersion; returns it as stored.
    pub fn put(&mut self, key: ObjectKey, mut object: Value) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let previous = self.objects.insert(key.clone(), object.clone());
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.changed_at.insert(key.clone(), Instant::now());
        self.record(kind, key, object.clone(), previous);
        object
    }

    pub fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        self.changed_at.remove(key);
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(EventType::Deleted, key.clone(), object.clone(), None);
        Some(object)
    }

    fn record(&mut self, kind: EventType, key: ObjectKey, object: Value, previous: Option<Value>) {
        let event = Event {
            rv: self.rv,
            kind,
            key,
            object,
            previous,
        };
        // No receivers is normal; a send only fails then.
        let _ = self.tx.send(event.clone());
        self.history.push_back(event);
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.rv;
            }
        }
    }

    /// Forget all history: any watch from an older version now gets `410 Gone`.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Events after `rv` for one resource, plus the live feed, atomically.
    pub fn subscribe(&self, resource: &GroupResource, rv: u64) -> Result<Subscription, Expired> {
        if rv < self.compacted {
            return Err(Expired {
                requested: rv,
                oldest: self.compacted,
            });
        }
        let backlog = self
            .history
            .iter()
            .filter(|e| e.rv > rv && &e.key.resource == resource)
            .cloned()
            .collect();
        Ok(Subscription {
            backlog,
            live: self.tx.subscribe(),
        })
    }

    /// The live feed alone (the simulated controllers' trigger).
    pub fn feed(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            resource: GroupResource::new("", "configmaps"),
            namespace: Some("default".into()),
            name: name.into(),
        }
    }

    #[test]
    fn every_write_gets_a_higher_resource_version() {
        let mut s = Store::new(10);
        let a = s.put(key("a"), json!({"metadata": {}}));
        let b = s.put(key("a"), json!({"metadata": {}}));
        let rv = |v: &Value| {
            v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert!(rv(&b) > rv(&a));
        assert_eq!(s.current_rv(), rv(&b));
    }

    #[test]
    fn a_list_is_the_resource_in_the_namespace_asked_and_nothing_else() {
        let mut s = Store::new(10);
        let at = |group: &str, resource: &str, ns: Option<&str>, name: &str| ObjectKey {
            resource: GroupResource::new(group, resource),
            namespace: ns.map(str::to_string),
            name: name.into(),
        };
        for k in [
            at("", "configmaps", Some("a"), "x"),
            at("", "configmaps", Some("b"), "y"),
            at("", "configmaps", Some("b"), "z"),
            at("", "namespaces", None, "a"),
            at("", "secrets", Some("b"), "s"),
            at("apps", "configmaps", Some("b"), "w"),
        ] {
            s.put(k, json!({"metadata": {}}));
        }
        let names = |l: Vec<(&ObjectKey, &Value)>| -> Vec<String> {
            l.into_iter().map(|(k, _)| k.name.clone()).collect()
        };
        let cms = GroupResource::new("", "configmaps");
        assert_eq!(names(s.list(&cms, None)), ["x", "y", "z"]);
        assert_eq!(names(s.list(&cms, Some("b"))), ["y", "z"]);
        assert!(s.list(&cms, Some("c")).is_empty());
        assert_eq!(
            names(s.list(&GroupResource::new("", "namespaces"), None)),
            ["a"]
        );
        assert_eq!(
            s.keys_of(&GroupResource::new("apps", "configmaps")).len(),
            1
        );
    }

    #[test]
    fn watch_from_before_the_history_window_is_expired() {
        let mut s = Store::new(2);
        let gr = GroupResource::new("", "configmaps");
        let start = s.current_rv();
        for n in ["a", "b", "c"] {
            s.put(key(n), json!({"metadata": {}}));
        }
        assert!(s.subscribe(&gr, start).is_err());
        let recent = s.subscribe(&gr, s.current_rv() - 1).ok().unwrap();
        assert_eq!(recent.backlog.len(), 1);
        s.compact();
        assert!(s.subscribe(&gr, s.current_rv() - 1).is_err());
    }
}
