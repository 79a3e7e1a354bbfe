//! Watch streams: resume from a resourceVersion, ADDED/MODIFIED/DELETED lines, `410`
//! expiry as an in-stream `ERROR` (as the real server sends it), and bookmarks.

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
use crate::storage::{Event, GroupResource};

/// What a watch stream sends and when it ends.
pub struct WatchSpec {
    pub bookmark_interval: Duration,
    /// Cut the stream after this long (an injected fault).
    pub drop_after: Option<Duration>,
    pub shutdown: watch::Receiver<bool>,
}

struct Filter {
    rt: ResourceType,
    resource: GroupResource,
    namespace: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn accepts(&self, e: &Event) -> bool {
        e.key.resource == self.resource
            && (self.namespace.is_none() || e.key.namespace == self.namespace)
            && self.name.as_ref().is_none_or(|n| *n == e.key.name)
            && self.labels.matches(&e.object)
            && self.fields.matches(&e.object)
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
    bookmarks: bool,
    bookmark_interval: Duration,
    next_bookmark: Instant,
    end_at: Instant,
    shutdown: watch::Receiver<bool>,
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
        bookmarks: q.flag("allowWatchBookmarks"),
        bookmark_interval: spec.bookmark_interval,
        next_bookmark: now + spec.bookmark_interval,
        end_at: end_after.map_or(far, |d| now + d),
        shutdown: spec.shutdown,
    };
    match requested.map(|rv| rv.parse::<u64>()) {
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "resourceVersion: Invalid value: must be a number",
            ))
        }
        Some(Ok(rv)) if !send_initial => {
            match cluster.store.subscribe(&state.filter.resource, rv) {
                Ok(sub) => {
                    for e in sub.backlog.iter().filter(|e| state.filter.accepts(e)) {
                        state.pending.push_back(line(
                            e.kind.as_str(),
                            present(&state.filter.rt, e.object.clone()),
                        ));
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
                let e = Event {
                    rv: 0,
                    kind: crate::storage::EventType::Added,
                    key: k.clone(),
                    object: o.clone(),
                };
                if state.filter.accepts(&e) {
                    state
                        .pending
                        .push_back(line("ADDED", present(&state.filter.rt, e.object)));
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
                    if st.filter.accepts(&e) {
                        let b = line(e.kind.as_str(), present(&st.filter.rt, e.object));
                        return Some((Ok(b), st));
                    }
                }
                // A slow watcher that fell behind is cut off; clients re-list, as with the real server.
                Err(_) => return None,
            },
            _ = tokio::time::sleep_until(bookmark_at), if st.bookmarks => {
                st.next_bookmark = Instant::now() + st.bookmark_interval;
                let b = st.bookmark(false);
                return Some((Ok(b), st));
            }
            _ = tokio::time::sleep_until(st.end_at) => return None,
            _ = st.shutdown.changed() => return None,
        }
    }
}
