//! The live state of one environment's objects, fed by watches: one kube-runtime `watcher` per
//! kind in the environment's inventory, selected by the `sextant.io/environment` label. The kube
//! edge of drift detection; what the watches saw is kept in the plain `index::Index`.
//!
//! - A kind reads as synced only between a complete list and the next failure. Any watch
//!   failure (a 410 Gone, a 429 or 5xx, a refused or reset connection, a restarted API server)
//!   drops that watcher and starts a fresh one after a backoff: a fresh one lists first, so the
//!   kind is compared again with what is really live, and what the new list no longer holds was
//!   deleted. kube-runtime itself re-lists only on 410; on any other error it resumes the watch
//!   from its last resourceVersion and never lists again, which left a kind unknown for good.
//! - Every kind is also listed again every `RELIST_EVERY`: a watch can go quiet without any
//!   error, and only a list can tell.
//! - Memory is bounded: `managedFields` keeps only other managers' entries (drift needs their
//!   field sets and times, never the agent's own or the status writers'), and kubectl's
//!   `last-applied-configuration` copy is dropped.
//! - It is also the sync's `LiveView`: apply's prefetch reads synced kinds from it instead of
//!   listing them, and health gates wake on its changes. Each copy carries the sequence number
//!   of the event that brought it, so a gate can tell a copy from after its own write.

mod index;
pub mod queue;

pub use index::Index;
pub use sextant_core::ports::live::{Availability, LiveRead};

use crate::apply::sync::Identity;
use crate::object::{ObjectRef, LABEL_ENVIRONMENT, MANAGER};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use sextant_core::ports::live::{Cached, LiveView, Moved};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// How often each kind is listed again although its watch reports nothing wrong. A watch can
/// go quiet without an error: an API server restored from an older etcd holds a lower
/// resourceVersion than the client's, and "watch requests for an unrecognized resource version
/// may wait indefinitely (until the request timeout)" (Kubernetes API concepts, "Unavailable
/// resource versions"). Argo CD's gitops-engine restarts each watch with a list on the same
/// schedule (`defaultWatchResyncTimeout`, 10 minutes, in `pkg/cache/cluster.go`).
pub const RELIST_EVERY: Duration = Duration::from_secs(600);

/// A watched kind: group, version, kind.
pub type KindKey = (String, String, String);

/// What moved in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// An object was added, changed or deleted.
    Object(Identity),
    /// A kind's list completed: its objects are all current.
    Synced(KindKey),
    /// A kind's watch failed: its objects are unknown until it re-lists.
    Down(KindKey, String),
}

pub struct LiveCache {
    environment: String,
    client: kube::Client,
    index: Arc<Mutex<Index>>,
    tasks: Mutex<HashMap<KindKey, tokio::task::AbortHandle>>,
    changes: queue::Sender,
    /// The index's `seq`, for health gates to wait on.
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

fn lock(m: &Mutex<Index>) -> MutexGuard<'_, Index> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LiveCache {
    /// The cache and its changes, coalesced ([`queue`]): the drift watch reads them.
    pub fn new(environment: &str, client: kube::Client) -> (Self, queue::Receiver) {
        let (changes, rx) = queue::channel();
        (
            LiveCache {
                environment: environment.to_string(),
                client,
                index: Arc::default(),
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
                lock(&self.index).forget(k);
            }
            keep
        });
        for (key, ar) in kinds {
            if tasks.contains_key(key) {
                continue;
            }
            lock(&self.index).track(key.clone());
            let task = tokio::spawn(run_watch(
                Api::all_with(self.client.clone(), ar),
                Feed {
                    ar: ar.clone(),
                    key: key.clone(),
                    index: self.index.clone(),
                    changes: self.changes.clone(),
                    moved: self.moved.clone(),
                },
                watcher::Config::default()
                    .labels(&format!("{LABEL_ENVIRONMENT}={}", self.environment)),
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
        lock(&self.index).get(id).cloned()
    }

    /// Whether a kind's objects are current.
    pub fn synced(&self, group: &str, kind: &str) -> bool {
        lock(&self.index).synced(group, kind)
    }

    pub fn availability(&self) -> Availability {
        lock(&self.index).availability()
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        lock(&self.index).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl LiveRead for LiveCache {
    fn availability(&self) -> Availability {
        LiveCache::availability(self)
    }
    fn synced(&self, group: &str, kind: &str) -> bool {
        LiveCache::synced(self, group, kind)
    }
    fn get(&self, id: &Identity) -> Option<Value> {
        LiveCache::get(self, id)
    }
}

impl LiveRead for Index {
    fn availability(&self) -> Availability {
        Index::availability(self)
    }
    fn synced(&self, group: &str, kind: &str) -> bool {
        Index::synced(self, group, kind)
    }
    fn get(&self, id: &Identity) -> Option<Value> {
        Index::get(self, id).cloned()
    }
}

impl LiveView for LiveCache {
    fn lookup(&self, r: &ObjectRef) -> Option<Option<Cached>> {
        lock(&self.index).lookup(r)
    }

    fn moves(&self) -> u64 {
        *self.moved.borrow()
    }

    fn moved_past(&self, seen: u64) -> Moved<'_> {
        let mut moved = self.moved.subscribe();
        Box::pin(async move {
            if moved.wait_for(|m| *m > seen).await.is_err() {
                // The cache's watches are gone: it will not move again.
                std::future::pending::<()>().await;
            }
        })
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

/// Where one kind's watch events go.
struct Feed {
    ar: ApiResource,
    key: KindKey,
    index: Arc<Mutex<Index>>,
    changes: queue::Sender,
    moved: Arc<watch::Sender<u64>>,
}

/// How one watcher ended.
enum Ended {
    /// It failed: the kind is unknown, and the next watcher lists it again.
    Failed,
    /// Its time was up: the next watcher lists the kind again.
    Relist,
    /// Nobody reads the changes any more, or the kind is no longer watched.
    Stopped,
}

impl Feed {
    fn to_value(&self, o: DynamicObject) -> Value {
        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), self.ar.api_version.clone().into());
            m.insert("kind".into(), self.ar.kind.clone().into());
        }
        trim(v)
    }

    /// Puts one event into the index and passes on what changed; `Err` when nobody listens.
    fn event(&self, event: Result<Event<DynamicObject>, watcher::Error>) -> Result<(), Ended> {
        let (changes, seq) = {
            let mut index = lock(&self.index);
            if !index.tracks(&self.key) {
                return Err(Ended::Stopped);
            }
            let changes = match event {
                Ok(Event::Init) => {
                    index.init(&self.key);
                    Vec::new()
                }
                Ok(Event::InitApply(o) | Event::Apply(o)) => {
                    index.apply(&self.key, self.to_value(o))
                }
                Ok(Event::Delete(o)) => index.delete(&self.key, &self.to_value(o)),
                Ok(Event::InitDone) => index.init_done(&self.key),
                Err(e) => {
                    let why = e.to_string();
                    tracing::warn!(kind = %self.ar.kind, group = %self.ar.group, error = %why, "watch failed; its objects are unknown until it lists them again");
                    index.failed(&self.key, &why)
                }
            };
            (changes, index.seq())
        };
        // Every event wakes the health gates: a kind that turns synced or down changes what
        // they may read, not only an object that moves.
        self.moved.send_replace(seq);
        for c in changes {
            if self.changes.send(c).is_err() {
                return Err(Ended::Stopped);
            }
        }
        Ok(())
    }
}

/// Feeds one watcher's events to the index until it fails or its time for a fresh list is up.
async fn follow(api: Api<DynamicObject>, config: watcher::Config, feed: &Feed) -> Ended {
    let mut stream = watcher::watcher(api, config).boxed();
    let relist = tokio::time::sleep(RELIST_EVERY);
    tokio::pin!(relist);
    loop {
        tokio::select! {
            event = stream.next() => {
                let Some(event) = event else { return Ended::Relist };
                let failed = event.is_err();
                if let Err(ended) = feed.event(event) {
                    return ended;
                }
                if failed {
                    return Ended::Failed;
                }
            }
            _ = &mut relist => return Ended::Relist,
        }
    }
}

/// One kind's watch for as long as it is wanted: after any failure a fresh watcher, which
/// lists the kind before it watches, so the index is compared again with what is live.
async fn run_watch(api: Api<DynamicObject>, feed: Feed, config: watcher::Config) {
    // kube-runtime's own `default_backoff` schedule: 800 ms doubling to 30 s, jittered, reset
    // after 120 s without a failure; a failing API server is not hammered with lists.
    let mut backoff = watcher::DefaultBackoff::default();
    loop {
        match follow(api.clone(), config.clone(), &feed).await {
            Ended::Stopped => return,
            Ended::Relist => {}
            Ended::Failed => {
                let wait = backoff.next().unwrap_or(Duration::from_secs(30));
                tokio::time::sleep(wait).await;
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
