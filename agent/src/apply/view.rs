//! What a sync may read instead of the API server: a view of live objects that something else
//! keeps current (in the daemon, the watch-fed cache of `crate::live`). Apply defines the trait
//! and never learns who implements it; `sextant apply` runs without one and reads the API.

use crate::object::ObjectRef;
use serde_json::Value;
use tokio::sync::watch;

/// A live object as the view holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub object: Value,
    /// Where the view's stream of changes stood when this copy arrived: it only grows, and a
    /// larger one came later in the same ordered stream of watch events.
    pub seq: u64,
}

pub trait LiveView: Send + Sync + std::fmt::Debug {
    /// `None` when the view cannot say (its kind is not watched, or not listed in full right
    /// now); `Some(None)` when it knows no such object exists (among the objects it selects:
    /// the environment's own).
    fn lookup(&self, r: &ObjectRef) -> Option<Option<Cached>>;

    /// Changes whenever an object of the view changes.
    fn changes(&self) -> watch::Receiver<u64>;
}

pub fn resource_version(o: &Value) -> Option<&str> {
    o.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}
