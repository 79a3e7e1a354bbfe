//! Watch streams: resume from a resourceVersion, ADDED/MODIFIED/DELETED lines, `410`
//! expiry and "Too large resource version" as an in-stream `ERROR` (as the real server sends
//! them once a watch is open), and bookmarks.
//!
//! What a watch from a version gets, as the API server answers it (Kubernetes API concepts,
//! "Resource versions": "410 Gone responses" and "Unavailable resource versions"):
//! - older than the retained history (or compacted): an `ERROR` event with a `410 Expired`
//!   Status (apiserver `watch_cache_history.go`: `too old resource version: N (M)`);
//! - not reached yet, with `sendInitialEvents=true`: an `ERROR` event with a `504 Timeout`
//!   Status carrying the `ResourceVersionTooLarge` cause, then the end of the stream
//!   (apiserver `etcd3/watcher.go` `startWatching`; the watch cache first waits up to 3 s);
//! - not reached yet, a plain watch: no error at all, the watch waits for the version ("watch
//!   requests for an unrecognized resource version may wait indefinitely (until the request
//!   timeout)") and sends only what comes after it (`cache_watcher.go`). An API server
//!   restarted empty is such a server to a client that resumes: only a new list tells.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use futures::Stream;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::error::{ApiError, ApiResult};
use crate::handler::{group_resource, present, Cluster};
use crate::kinds::ResourceType;
use crate::request::{Query, Target};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::storage::{Event, EventType, GroupResource};

/// What a watch stream sends and when it ends.
pub struct WatchSpec {
    pub bookmark_interval: Duration,
    /// Cut the stream after this long (an injected fault).
    pub drop_after: Option<Duration>,
    pub shutdown: watch::Receiver<bool>,
    /// Changes when the server ends every open watch (`TestServer::cut_watches`).
    pub cut: watch::Receiver<u64>,
    /// Send each object as a one-row `Table` (the client asked for tables).
    pub table: bool,
}

struct Filter {
    rt: ResourceType,
    resource: GroupResource,
    namespace: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    table: bool,
}

impl Filter {
    /// The object as this watcher sees it: at its version, as a Table row if asked.
    fn view(&self, obj: Value) -> Value {
        let obj = present(&self.rt, obj);
        if !self.table {
            return obj;
        }
        let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion")});
        crate::table::to_table(&self.rt, &[obj], meta)
    }

    fn selects(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The event this watcher sees, if any: an object modified into the selection is
    /// `ADDED` for it, one modified out of it `DELETED`, as the real server reports.
    fn translate(&self, e: &Event) -> Option<EventType> {
        let in_scope = e.key.resource == self.resource
            && (self.namespace.is_none() || e.key.namespace == self.namespace)
            && self.name.as_ref().is_none_or(|n| *n == e.key.name);
        if !in_scope {
            return None;
        }
        let now = self.selects(&e.object);
        let before = e.previous.as_ref().is_some_and(|p| self.selects(p));
        match (e.kind, now, before) {
            (EventType::Modified, true, false) => Some(EventType::Added),
            (EventType::Modified, false, true) => Some(EventType::Deleted),
            (kind, true, _) => Some(kind),
            _ => None,
        }
    }
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

struct State {
    pending: VecDeque<Bytes>,
    live: Option<broadcast::Receiver<Event>>,
    filter: Filter,
    last_rv: u64,
    /// The version the watch started from: nothing at or before it is sent.
    from: u64,
    bookmarks: bool,
    bookmark_interval: Duration,
    next_bookmark: Instant,
    end_at: Instant,
    shutdown: watch::Receiver<bool>,
    cut: watch::Receiver<u64>,
}

impl State {
    fn bookmark(&self, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            json!({"kind": self.filter.rt.kind, "apiVersion": self.filter.rt.api_version(), "metadata": meta}),
        )
    }
}

/// Start a watch; the stream is built under the cluster lock so nothing is missed.
pub fn start(
    cluster: &Cluster,
    t: &Target,
    q: &Query,
    spec: WatchSpec,
) -> ApiResult<impl Stream<Item = Result<Bytes, Infallible>>> {
    let filter = Filter {
        rt: t.rt.clone(),
        resource: group_resource(&t.rt),
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        labels: LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?,
        table: spec.table,
    };
    let requested = q
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0");
    let send_initial = q.flag("sendInitialEvents");
    let now = Instant::now();
    let far = now + Duration::from_secs(365 * 86_400);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let end_after = [timeout, spec.drop_after].into_iter().flatten().min();
    let mut state = State {
        pending: VecDeque::new(),
        live: None,
        filter,
        last_rv: cluster.store.current_rv(),
        from: 0,
        bookmarks: q.flag("allowWatchBookmarks"),
        bookmark_interval: spec.bookmark_interval,
        next_bookmark: now + spec.bookmark_interval,
        end_at: end_after.map_or(far, |d| now + d),
        shutdown: spec.shutdown,
        cut: spec.cut,
    };
    match requested.map(|rv| rv.parse::<u64>()) {
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "resourceVersion: Invalid value: must be a number",
            ))
        }
        Some(Ok(rv)) if send_initial && rv > state.last_rv => {
            let status = ApiError::too_large_resource_version(rv, state.last_rv, 1);
            state.pending.push_back(line("ERROR", status.to_status()));
        }
        Some(Ok(rv)) if !send_initial => {
            state.from = rv;
            match cluster.store.subscribe(&state.filter.resource, rv) {
                Ok(sub) => {
                    for e in &sub.backlog {
                        if let Some(kind) = state.filter.translate(e) {
                            let obj = state.filter.view(e.object.clone());
                            state.pending.push_back(line(kind.as_str(), obj));
                        }
                    }
                    state.live = Some(sub.live);
                }
                Err(expired) => {
                    let status = ApiError::gone(format!(
                        "too old resource version: {} ({})",
                        expired.requested, expired.oldest
                    ));
                    state.pending.push_back(line("ERROR", status.to_status()));
                }
            }
        }
        _ => {
            for (k, o) in cluster
                .store
                .list(&state.filter.resource, t.namespace.as_deref())
            {
                if state.filter.selects(o)
                    && state.filter.name.as_ref().is_none_or(|n| *n == k.name)
                {
                    state
                        .pending
                        .push_back(line("ADDED", state.filter.view(o.clone())));
                }
            }
            if send_initial {
                state.pending.push_back(state.bookmark(true));
            }
            state.live = Some(cluster.store.feed());
        }
    }
    Ok(futures::stream::unfold(state, next))
}

async fn next(mut st: State) -> Option<(Result<Bytes, Infallible>, State)> {
    if let Some(b) = st.pending.pop_front() {
        return Some((Ok(b), st));
    }
    let live = st.live.as_mut()?;
    loop {
        let bookmark_at = if st.bookmarks {
            st.next_bookmark
        } else {
            st.end_at
        };
        tokio::select! {
            ev = live.recv() => match ev {
                Ok(e) => {
                    st.last_rv = st.last_rv.max(e.rv);
                    if e.rv <= st.from {
                        continue;
                    }
                    if let Some(kind) = st.filter.translate(&e) {
                        let b = line(kind.as_str(), st.filter.view(e.object));
                        return Some((Ok(b), st));
                    }
                }
                // A slow watcher that fell behind is cut off; clients re-list, as with the real server.
                Err(_) => return None,
            },
            _ = tokio::time::sleep_until(bookmark_at), if st.bookmarks => {
                st.next_bookmark = Instant::now() + st.bookmark_interval;
                // A watch waiting for a version the server has not reached gets no bookmark
                // at or before it (its resourceVersion would move the client back).
                if st.last_rv > st.from {
                    let b = st.bookmark(false);
                    return Some((Ok(b), st));
                }
            }
            _ = tokio::time::sleep_until(st.end_at) => return None,
            _ = st.shutdown.changed() => return None,
            _ = st.cut.changed() => return None,
        }
    }
}
