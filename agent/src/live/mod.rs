//! The live state of one environment's objects, fed by watches: one kube-runtime `watcher` per
//! kind in the environment's inventory, selected by the `sextant.io/environment` label. The kube
//! edge of drift detection.
//!
//! - A kind reads as synced only between a complete list (`InitDone`) and the next error: while
//!   a watch is down or re-listing (a dropped stream, `410 Gone`), its objects are "unknown",
//!   never "in sync", and nothing is reported as drifted from a half-read list. A re-list
//!   replaces the kind's objects at once when it completes; what it no longer holds was deleted.
//! - Memory is bounded: `managedFields` keeps only other managers' entries (drift needs their
//!   field sets and times, never the agent's own or the status writers'), and kubectl's
//!   `last-applied-configuration` copy is dropped.
//! - It is also the sync's `LiveView`: apply's prefetch reads synced kinds from it instead of
//!   listing them, and health gates wake on its changes. Each copy carries the sequence number
//!   of the event that brought it, so a gate can tell a copy from after its own write.

use crate::apply::sync::{identity, Identity};
use crate::apply::view::{Cached, LiveView};
use crate::object::{ObjectRef, LABEL_ENVIRONMENT, MANAGER};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, watch};

/// A watched kind: group, version, kind.
pub type KindKey = (String, String, String);

/// What moved in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An object was added, changed or deleted.
    Object(Identity),
    /// A kind's list completed: its objects are all current.
    Synced(KindKey),
    /// A kind's watch failed: its objects are unknown until it re-lists.
    Down(KindKey, String),
}

#[derive(Debug, Default)]
struct KindState {
    synced: bool,
    error: Option<String>,
    /// The identities seen by a re-list under way.
    relisting: Option<HashSet<Identity>>,
}

#[derive(Debug, Default)]
struct State {
    objects: HashMap<Identity, Cached>,
    kinds: BTreeMap<KindKey, KindState>,
    /// Object events so far (adds, changes, deletes).
    seq: u64,
}

/// Stores a copy as the next event.
fn put(objects: &mut HashMap<Identity, Cached>, seq: &mut u64, id: Identity, object: Value) {
    *seq += 1;
    objects.insert(id, Cached { object, seq: *seq });
}

/// Whether the cache can be trusted, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Synced,
    /// Some kind is listing for the first time.
    Starting,
    /// Some kind's watch is down.
    Down(Vec<String>),
}

pub struct LiveCache {
    environment: String,
    client: kube::Client,
    state: Arc<Mutex<State>>,
    tasks: Mutex<HashMap<KindKey, tokio::task::AbortHandle>>,
    changes: mpsc::UnboundedSender<Change>,
    /// The state's `seq`, for health gates to wait on.
    moved: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for LiveCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCache")
            .field("environment", &self.environment)
            .field("objects", &self.len())
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LiveCache {
    pub fn new(environment: &str, client: kube::Client) -> (Self, mpsc::UnboundedReceiver<Change>) {
        let (changes, rx) = mpsc::unbounded_channel();
        (
            LiveCache {
                environment: environment.to_string(),
                client,
                state: Arc::default(),
                tasks: Mutex::default(),
                changes,
                moved: Arc::new(watch::channel(0).0),
            },
            rx,
        )
    }

    /// Watches exactly these kinds: starts the missing watches, stops the others.
    pub fn watch(&self, kinds: &[(KindKey, ApiResource)]) {
        let wanted: HashSet<&KindKey> = kinds.iter().map(|(k, _)| k).collect();
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|k, task| {
            let keep = wanted.contains(k);
            if !keep {
                task.abort();
                let mut s = lock(&self.state);
                s.kinds.remove(k);
                s.objects.retain(|id, _| !(id.0 == k.0 && id.1 == k.2));
            }
            keep
        });
        for (key, ar) in kinds {
            if tasks.contains_key(key) {
                continue;
            }
            lock(&self.state)
                .kinds
                .insert(key.clone(), KindState::default());
            let task = tokio::spawn(run_watch(
                self.client.clone(),
                ar.clone(),
                key.clone(),
                format!("{LABEL_ENVIRONMENT}={}", self.environment),
                self.state.clone(),
                self.changes.clone(),
                self.moved.clone(),
            ));
            tasks.insert(key.clone(), task.abort_handle());
        }
    }

    /// Stops every watch and forgets what they saw (leadership lost, or shutdown).
    pub fn stop(&self) {
        self.watch(&[]);
    }

    /// The live object, if the cache holds it.
    pub fn get(&self, id: &Identity) -> Option<Value> {
        lock(&self.state).objects.get(id).map(|c| c.object.clone())
    }

    /// Whether a kind's objects are current.
    pub fn synced(&self, group: &str, kind: &str) -> bool {
        lock(&self.state)
            .kinds
            .iter()
            .any(|(k, s)| k.0 == group && k.2 == kind && s.synced)
    }

    pub fn availability(&self) -> Availability {
        let s = lock(&self.state);
        let down: Vec<String> = s
            .kinds
            .iter()
            .filter_map(|(k, st)| st.error.as_ref().map(|e| format!("{} {}: {e}", k.2, k.0)))
            .collect();
        if !down.is_empty() {
            Availability::Down(down)
        } else if s.kinds.values().any(|st| !st.synced) {
            Availability::Starting
        } else {
            Availability::Synced
        }
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        lock(&self.state).objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl LiveView for LiveCache {
    fn lookup(&self, r: &ObjectRef) -> Option<Option<Cached>> {
        let s = lock(&self.state);
        let synced = s
            .kinds
            .iter()
            .any(|(k, st)| k.0 == r.group && k.1 == r.version && k.2 == r.kind && st.synced);
        synced.then(|| s.objects.get(&identity(r)).cloned())
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.moved.subscribe()
    }
}

impl Drop for LiveCache {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            task.abort();
        }
    }
}

/// What the cache keeps of an object: everything but the agent's own and the status writers'
/// `managedFields` entries and kubectl's copy of the whole object.
pub fn trim(mut o: Value) -> Value {
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
            entries.retain(|e| {
                e.get("manager").and_then(Value::as_str) != Some(MANAGER)
                    && e.get("subresource").and_then(Value::as_str) != Some("status")
            });
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    o
}

fn reference(ar: &ApiResource, o: &Value) -> ObjectRef {
    let text = |p: &str| o.pointer(p).and_then(Value::as_str).map(str::to_string);
    ObjectRef {
        group: ar.group.clone(),
        version: ar.version.clone(),
        kind: ar.kind.clone(),
        namespace: text("/metadata/namespace"),
        name: text("/metadata/name").unwrap_or_default(),
    }
}

async fn run_watch(
    client: kube::Client,
    ar: ApiResource,
    key: KindKey,
    selector: String,
    state: Arc<Mutex<State>>,
    changes: mpsc::UnboundedSender<Change>,
    moved: Arc<watch::Sender<u64>>,
) {
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let mut stream = watcher::watcher(api, watcher::Config::default().labels(&selector))
        .default_backoff()
        .boxed();
    let to_value = |o: DynamicObject| {
        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), ar.api_version.clone().into());
            m.insert("kind".into(), ar.kind.clone().into());
        }
        trim(v)
    };
    while let Some(event) = stream.next().await {
        let mut send = Vec::new();
        let seq = {
            let mut s = lock(&state);
            let State {
                objects,
                kinds,
                seq,
            } = &mut *s;
            let Some(k) = kinds.get_mut(&key) else {
                return;
            };
            match event {
                Ok(Event::Init) => k.relisting = Some(HashSet::new()),
                Ok(Event::InitApply(o)) => {
                    let v = to_value(o);
                    let id = identity(&reference(&ar, &v));
                    if let Some(seen) = k.relisting.as_mut() {
                        seen.insert(id.clone());
                    }
                    if objects.get(&id).map(|c| &c.object) != Some(&v) {
                        send.push(Change::Object(id.clone()));
                        put(objects, seq, id, v);
                    }
                }
                Ok(Event::InitDone) => {
                    let seen = k.relisting.take().unwrap_or_default();
                    k.synced = true;
                    k.error = None;
                    let before = objects.len();
                    objects.retain(|id, _| {
                        let ours = id.0 == key.0 && id.1 == key.2;
                        if ours && !seen.contains(id) {
                            send.push(Change::Object(id.clone()));
                            false
                        } else {
                            true
                        }
                    });
                    if objects.len() != before {
                        *seq += 1;
                    }
                    send.push(Change::Synced(key.clone()));
                }
                Ok(Event::Apply(o)) => {
                    let v = to_value(o);
                    let id = identity(&reference(&ar, &v));
                    put(objects, seq, id.clone(), v);
                    send.push(Change::Object(id));
                }
                Ok(Event::Delete(o)) => {
                    let v = to_value(o);
                    let id = identity(&reference(&ar, &v));
                    objects.remove(&id);
                    *seq += 1;
                    send.push(Change::Object(id));
                }
                Err(e) => {
                    k.synced = false;
                    k.relisting = None;
                    let why = e.to_string();
                    tracing::warn!(kind = %ar.kind, group = %ar.group, error = %why, "watch failed; its objects are unknown until it re-lists");
                    k.error = Some(why.clone());
                    send.push(Change::Down(key.clone(), why));
                }
            }
            *seq
        };
        // Every event wakes the health gates: a kind that turns synced or down changes what
        // they may read, not only an object that moves.
        moved.send_replace(seq);
        for c in send {
            if changes.send(c).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cache_keeps_other_managers_field_sets_and_drops_the_rest() {
        let o = json!({"metadata": {"name": "a", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{...}", "keep": "me"},
            "managedFields": [
                {"manager": "sextant", "operation": "Apply", "fieldsV1": {"f:data": {}}},
                {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:data": {"f:a": {}}}},
                {"manager": "kubelet", "operation": "Update", "subresource": "status", "fieldsV1": {}}]}});
        let t = trim(o);
        assert_eq!(
            t["metadata"]["managedFields"],
            json!([{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:data": {"f:a": {}}}}])
        );
        assert_eq!(t["metadata"]["annotations"], json!({"keep": "me"}));
    }
}
