//! The health gate between waves: waits until every object of a wave is healthy, stops on a
//! degraded one or at the wave timeout. With a `LiveView` it reads objects from the view and
//! wakes on its changes (the poll interval is then only a fallback); without one it GETs each
//! object every poll interval.
//!
//! Right after a write the view may still hold the object from before it, whose status can say
//! "ready" for the old generation. A copy of an object this sync wrote is trusted only once the
//! view holds a version known to be no older than the write (the one the write returned, or one
//! a GET returned since) or any copy that arrived after that one: watch events come in order.
//! Until then the object is read with a GET.

use super::cluster::{Cluster, ClusterError};
use super::health::{self, Status};
use super::sync::{identity, Identity, Run, SyncError};
use super::view::{self, Cached};
use crate::object::Object;
use serde_json::Value;
use sextant_core::ports::live::Moved;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// With a view, the longest a gate waits without an event before reading again.
const FALLBACK: Duration = Duration::from_secs(1);

/// When a cached copy of an object this sync wrote can be trusted.
#[derive(Debug, Default)]
struct Anchor {
    /// Versions known to be no older than the write.
    versions: HashSet<String>,
    /// The `seq` of the first trusted copy: every copy from then on came later.
    from: Option<u64>,
}

impl Anchor {
    fn trusts(&mut self, c: &Cached) -> bool {
        if let Some(from) = self.from {
            return c.seq >= from;
        }
        let known = view::resource_version(&c.object).is_some_and(|v| self.versions.contains(v));
        if known {
            self.from = Some(c.seq);
        }
        known
    }
}

impl<C: Cluster> Run<'_, C> {
    /// Waits until `until`, a change of the view, or the poll interval, whichever comes first;
    /// `true` when the agent started shutting down meanwhile.
    pub(super) async fn pause(&self, until: Instant, moved: Option<Moved<'_>>) -> bool {
        let interval = match moved {
            Some(_) => self.opts.poll_interval.max(FALLBACK),
            None => self.opts.poll_interval,
        };
        let nap = tokio::time::sleep(interval.min(until.saturating_duration_since(Instant::now())));
        let moved = async {
            match moved {
                Some(m) => m.await,
                // No view: only the nap ends the wait.
                None => std::future::pending::<()>().await,
            }
        };
        let Some(mut stop) = self.opts.stop.clone() else {
            tokio::select! {
                _ = nap => {}
                _ = moved => {}
            }
            return false;
        };
        if *stop.borrow_and_update() {
            return true;
        }
        tokio::select! {
            _ = nap => false,
            _ = moved => false,
            changed = stop.changed() => changed.is_ok() && *stop.borrow(),
        }
    }

    /// The object's live state for the gate: from the view when it can be trusted, from the
    /// prefetch on the first round for an object not written, else from the API.
    async fn read(
        &self,
        o: &Object,
        first_round: bool,
        anchors: &mut HashMap<Identity, Anchor>,
    ) -> Result<Option<Value>, ClusterError> {
        let id = identity(&o.reference);
        let written = self.written.contains(&id);
        let anchor = written.then(|| {
            anchors.entry(id.clone()).or_insert_with(|| Anchor {
                versions: self.versions.get(&id).cloned().into_iter().collect(),
                from: None,
            })
        });
        if let Some(seen) = self
            .opts
            .live
            .as_deref()
            .and_then(|v| v.lookup(&o.reference))
        {
            match (seen, anchor) {
                (seen, None) => return Ok(seen.map(|c| c.object)),
                (Some(c), Some(a)) => {
                    if a.trusts(&c) {
                        return Ok(Some(c.object));
                    }
                }
                (None, Some(_)) => {}
            }
        } else if first_round && !written {
            if let Some(Some(live)) = self.live.get(&id) {
                return Ok(Some(live.clone()));
            }
        }
        let got = self.cluster.get(&o.reference).await?;
        if let Some(a) = anchors.get_mut(&id) {
            if let Some(v) = got.as_ref().and_then(view::resource_version) {
                a.versions.insert(v.to_string());
            }
        }
        Ok(got)
    }

    /// Reads the objects' health until all are healthy; a degraded one or the wave timeout
    /// stops it.
    pub(super) async fn wait_healthy(
        &self,
        wave: i32,
        objects: &[&Object],
    ) -> Result<(), SyncError> {
        if self.opts.dry_run || objects.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.opts.wave_timeout;
        let view = self.opts.live.as_deref();
        let mut anchors = HashMap::new();
        let mut pending: Vec<&Object> = objects.to_vec();
        let mut first_round = true;
        loop {
            // Marked before reading: a change from now on wakes the next round.
            let seen = view.map(|v| v.moves());
            let mut still = Vec::new();
            for o in pending {
                let health = match self.read(o, first_round, &mut anchors).await? {
                    Some(live) => health::assess(&live),
                    None => health::Health {
                        status: Status::Progressing,
                        message: "not found".into(),
                    },
                };
                match health.status {
                    Status::Healthy => {}
                    Status::Degraded => {
                        return Err(SyncError::Degraded {
                            wave,
                            object: o.reference.to_string(),
                            message: health.message,
                        })
                    }
                    Status::Progressing => still.push((o, health.message)),
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SyncError::Timeout {
                    wave,
                    count: still.len(),
                    timeout: self.opts.wave_timeout,
                    details: still
                        .iter()
                        .map(|(o, m)| format!("{} ({m})", o.reference))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            pending = still.into_iter().map(|(o, _)| o).collect();
            first_round = false;
            // The wave's writes are done: a shutdown need not wait for its health.
            let moved = view.zip(seen).map(|(v, seen)| v.moved_past(seen));
            if self.pause(deadline, moved).await {
                return Err(SyncError::Stopped { wave: wave + 1 });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn copy(version: &str, seq: u64) -> Cached {
        Cached {
            object: json!({"metadata": {"name": "web", "resourceVersion": version}}),
            seq,
        }
    }

    #[test]
    fn a_copy_is_trusted_from_the_written_version_on_and_never_before() {
        let mut a = Anchor {
            versions: HashSet::from(["12".to_string()]),
            from: None,
        };
        // The copy from before the write, and one an older event brought after it returned.
        assert!(!a.trusts(&copy("11", 4)));
        assert!(!a.trusts(&copy("9", 5)));
        assert!(a.trusts(&copy("12", 6)));
        // Later events carry versions the gate never saw; they came after the write.
        assert!(a.trusts(&copy("15", 7)));
        assert!(a.trusts(&copy("12", 6)));
    }

    #[test]
    fn a_version_read_with_a_get_anchors_as_well_as_the_written_one() {
        let mut a = Anchor::default();
        assert!(!a.trusts(&copy("20", 3)));
        a.versions.insert("21".into());
        assert!(!a.trusts(&copy("20", 3)));
        assert!(a.trusts(&copy("21", 4)));
    }
}
