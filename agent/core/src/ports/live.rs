//! The live state a loop reads instead of asking the API server each time: the daemon's
//! watch-fed cache implements both traits (`agent/src/live`); a table test reads a plain index.
//!
//! - [`LiveView`] is what a sync reads: an object, or "the view cannot say", and a wake-up when
//!   the view moves (the health gate waits on it instead of polling).
//! - [`LiveRead`] is what the promotion's soak reads: whether the state can be trusted, and an
//!   object by its key.

use crate::object::{ObjectKey, ObjectRef};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// A live object as the view holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub object: Value,
    /// Where the view's stream of changes stood when this copy arrived: it only grows, and a
    /// larger one came later in the same ordered stream of watch events.
    pub seq: u64,
}

/// Whether the live state can be trusted, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Synced,
    /// Some kind is listing for the first time, or again after a failure.
    Starting,
    /// Some kind's watch is down.
    Down(Vec<String>),
}

/// A wait for the view to move: it resolves once it has.
pub type Moved<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait LiveView: Send + Sync + std::fmt::Debug {
    /// `None` when the view cannot say (its kind is not watched, or not listed in full right
    /// now); `Some(None)` when it knows no such object exists (among the objects it selects:
    /// the environment's own).
    fn lookup(&self, r: &ObjectRef) -> Option<Option<Cached>>;

    /// How many changes the view has taken in so far: it only grows.
    fn moves(&self) -> u64;

    /// Resolves once the view has taken in more than `seen` changes; never, when it no longer
    /// takes any in.
    fn moved_past(&self, seen: u64) -> Moved<'_>;
}

/// What the promotion's soak reads of an environment's live state.
pub trait LiveRead: Send + Sync {
    fn availability(&self) -> Availability;
    /// Whether a kind's objects are current.
    fn synced(&self, group: &str, kind: &str) -> bool;
    fn get(&self, id: &ObjectKey) -> Option<Value>;
}

/// A shared live state reads as the state (a table test's index behind a lock).
impl<T: LiveRead> LiveRead for std::sync::Mutex<T> {
    fn availability(&self) -> Availability {
        self.lock()
            .unwrap_or_else(|p| p.into_inner())
            .availability()
    }
    fn synced(&self, group: &str, kind: &str) -> bool {
        self.lock()
            .unwrap_or_else(|p| p.into_inner())
            .synced(group, kind)
    }
    fn get(&self, id: &ObjectKey) -> Option<Value> {
        self.lock().unwrap_or_else(|p| p.into_inner()).get(id)
    }
}

/// An object's `metadata.resourceVersion`.
pub fn resource_version(o: &Value) -> Option<&str> {
    o.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}
