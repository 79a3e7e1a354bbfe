//! One environment's drift watch: the live-state cache (`crate::live`) fed by watches of every
//! kind the last sync applied, each change compared with what was applied (`crate::drift`), the
//! policy's decision taken, and the result published in `/status` and metrics. It writes
//! nothing itself: a heal is a request to the reconciler, the one writer.

use super::applied::Applied;
use super::status::{DriftState, DriftStatus, DriftedObject, Status};
use crate::apply::cluster::Cluster;
use crate::apply::sync::{identity, Identity};
use crate::drift::policy::{self, Action, Fights};
use crate::drift::{self as compare_drift, ObjectDrift};
use crate::live::{Availability, Change, KindKey, LiveCache};
use crate::metrics::Metrics;
use crate::object::Object;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How long a heal requested stays "under way": events meanwhile do not ask again.
const HEAL_PENDING: Duration = Duration::from_secs(5);

pub struct DriftWatch {
    pub environment: String,
    pub cluster: Arc<Cluster>,
    pub metrics: Metrics,
    pub status: Arc<Mutex<Status>>,
    pub applied: watch::Receiver<Option<Arc<Applied>>>,
    pub heal: mpsc::Sender<Vec<Identity>>,
    pub leading: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    /// This replica's name, as the reporting instance of its Kubernetes Events.
    pub identity: String,
    /// The drift now, for the pull-request loop.
    pub feed: watch::Sender<Arc<DriftFeed>>,
    /// The environment's live cache, shared with its reconciler, and the cache's changes.
    pub cache: Arc<LiveCache>,
    pub changes: mpsc::UnboundedReceiver<Change>,
}

/// The drift of an environment as the watch sees it now, with the live objects of each drifted
/// release (provenance proves its proposals against them).
#[derive(Debug, Default)]
pub struct DriftFeed {
    /// Whether the watches are synced: otherwise nothing here is to be acted on.
    pub known: bool,
    pub objects: Vec<ObjectDrift>,
    pub live: HashMap<String, Vec<serde_json::Value>>,
}

/// A Kubernetes Event to publish on a drifted object.
struct Note {
    reference: k8s_openapi::api::core::v1::ObjectReference,
    warning: bool,
    reason: &'static str,
    note: String,
}

/// What the watch knows between events.
#[derive(Default)]
struct Tracker {
    /// What was applied last, and each object's place in it: no copy of the objects (with
    /// 10,000 of them, a copy is tens of MiB).
    applied: Option<Arc<Applied>>,
    desired: HashMap<Identity, usize>,
    drifted: BTreeMap<Identity, (ObjectDrift, &'static str)>,
    pending: HashMap<Identity, Instant>,
    fights: Fights,
    release_series: HashSet<String>,
    notes: Vec<Note>,
}

impl Tracker {
    fn follow(&mut self, a: Arc<Applied>) {
        self.desired = a
            .objects
            .iter()
            .enumerate()
            .map(|(i, o)| (identity(&o.reference), i))
            .collect();
        self.drifted.retain(|id, _| self.desired.contains_key(id));
        self.applied = Some(a);
    }

    /// The applied objects, by identity.
    fn objects(&self) -> impl Iterator<Item = (&Identity, &Object)> {
        let objects = self.applied.as_deref().map_or(&[][..], |a| &a.objects[..]);
        self.desired
            .iter()
            .filter_map(|(id, i)| Some((id, objects.get(*i)?)))
    }
}

impl DriftWatch {
    pub async fn run(mut self) {
        let cache = self.cache.clone();
        let recorder = kube::runtime::events::Recorder::new(
            self.cluster.client().clone(),
            kube::runtime::events::Reporter {
                controller: crate::object::MANAGER.into(),
                instance: Some(self.identity.clone()),
            },
        );
        let mut t = Tracker::default();
        let mut watching = false;
        loop {
            let mut heal = Vec::new();
            tokio::select! {
                changed = self.applied.changed() => {
                    if changed.is_err() { break }
                    let applied = self.applied.borrow_and_update().clone();
                    if let Some(a) = applied {
                        t.follow(a.clone());
                        if *self.leading.borrow() {
                            self.watch_kinds(&cache, &a).await;
                            watching = true;
                        }
                        for id in t.desired.keys().cloned().collect::<Vec<_>>() {
                            self.evaluate(&cache, &a, &mut t, &id, &mut heal);
                        }
                    }
                }
                changed = self.leading.changed() => {
                    if changed.is_err() { break }
                    let leading = *self.leading.borrow_and_update();
                    if !leading && watching {
                        cache.stop();
                        watching = false;
                        t.drifted.clear();
                    } else if leading && !watching {
                        let applied = self.applied.borrow().clone();
                        if let Some(a) = applied {
                            self.watch_kinds(&cache, &a).await;
                            watching = true;
                        }
                    }
                }
                change = self.changes.recv() => {
                    let Some(first) = change else { break };
                    // What the tracker follows (the newest applied, once its change is read).
                    let Some(a) = t.applied.clone() else { continue };
                    let mut batch = vec![first];
                    while let Ok(c) = self.changes.try_recv() {
                        batch.push(c);
                    }
                    for c in batch {
                        match c {
                            Change::Object(id) => self.evaluate(&cache, &a, &mut t, &id, &mut heal),
                            Change::Synced(kind) => {
                                let ids: Vec<Identity> = t.desired.keys()
                                    .filter(|id| id.is_a(&kind.0, &kind.2))
                                    .cloned()
                                    .collect();
                                for id in ids {
                                    self.evaluate(&cache, &a, &mut t, &id, &mut heal);
                                }
                            }
                            Change::Down(..) => {}
                        }
                    }
                }
                _ = self.stop.changed() => break,
            }
            if !heal.is_empty() && *self.leading.borrow() {
                let _ = self.heal.send(heal).await;
            }
            self.publish(&cache, &mut t, watching);
            for n in std::mem::take(&mut t.notes) {
                let event = kube::runtime::events::Event {
                    type_: if n.warning {
                        kube::runtime::events::EventType::Warning
                    } else {
                        kube::runtime::events::EventType::Normal
                    },
                    reason: n.reason.into(),
                    note: Some(n.note),
                    action: "Drift".into(),
                    secondary: None,
                };
                if let Err(e) = recorder.publish(&event, &n.reference).await {
                    tracing::debug!(error = %e, "cannot publish an event");
                }
            }
        }
        cache.stop();
    }

    /// Starts (and stops) watches so that exactly the applied kinds are watched.
    async fn watch_kinds(&self, cache: &LiveCache, a: &Applied) {
        let mut kinds: BTreeMap<KindKey, crate::object::ObjectRef> = BTreeMap::new();
        for o in &a.objects {
            let r = &o.reference;
            kinds
                .entry((r.group.clone(), r.version.clone(), r.kind.clone()))
                .or_insert_with(|| r.clone());
        }
        let mut resolved = Vec::new();
        for (key, r) in kinds {
            match self.cluster.resource(&r).await {
                Ok(Some((ar, _))) => resolved.push((key, ar)),
                Ok(None) => tracing::warn!(kind = %r.kind, "not served: not watched"),
                Err(e) => tracing::warn!(error = %e, "cannot resolve a kind to watch"),
            }
        }
        cache.watch(&resolved);
    }

    /// Compares one object with what was applied, and decides what to do about it.
    fn evaluate(
        &self,
        cache: &LiveCache,
        a: &Applied,
        t: &mut Tracker,
        id: &Identity,
        heal: &mut Vec<Identity>,
    ) {
        let Some(o) = t.desired.get(id).and_then(|i| a.objects.get(*i)) else {
            return;
        };
        if !cache.synced(&id.group, &id.kind) {
            return; // unknown, not in sync: decided when its list completes
        }
        let live = cache.get(id);
        if live
            .as_ref()
            .is_some_and(|l| compare_drift::applied_elsewhere(o, l))
        {
            return; // a newer revision, being applied: compared once it is the one applied
        }
        let env = self.environment.as_str();
        let reference = event_reference(o, live.as_ref());
        let Some(d) = compare_drift::evaluate(&a.environment, o, live.as_ref()) else {
            if let Some((was, action)) = t.drifted.remove(id) {
                if action == "healing" {
                    t.notes.push(Note {
                        reference,
                        warning: false,
                        reason: "Healed",
                        note: format!("{} restored from Git", describe(&was)),
                    });
                }
            }
            t.pending.remove(id);
            return;
        };
        let now = Instant::now();
        let fresh = !t.drifted.contains_key(id);
        if fresh {
            self.metrics
                .drift_detected_total
                .with_label_values(&[env, &d.release])
                .inc();
            if let Some(lag) = d.since().and_then(|s| seconds_since(&s)) {
                self.metrics.drift_detection_seconds.observe(lag);
            }
            tracing::info!(environment = env, object = %d.object, paths = ?d.fields.iter().map(|f| &f.path).collect::<Vec<_>>(), managers = ?d.managers(), deleted = d.deleted, "drift detected");
            t.notes.push(Note {
                reference: reference.clone(),
                warning: true,
                reason: "Drifted",
                note: format!("{} departs from Git", describe(&d)),
            });
        }
        if t.pending
            .get(id)
            .is_some_and(|at| now.duration_since(*at) < HEAL_PENDING)
        {
            t.drifted.insert(id.clone(), (d, "healing"));
            return;
        }
        let policy = a.environment.drift_policy(&o.release);
        let manager = d.managers().into_iter().next();
        let action = match policy::next(policy, &d.object, manager, &mut t.fights, now) {
            Action::Heal => {
                t.pending.insert(id.clone(), now);
                heal.push(id.clone());
                "healing"
            }
            Action::Report => "reported",
            Action::Fighting { manager } => {
                if fresh || t.drifted.get(id).is_some_and(|(_, a)| *a != "fighting") {
                    let who = manager.as_deref().unwrap_or("another manager");
                    tracing::warn!(environment = env, object = %d.object, manager = who, "another manager keeps changing this object back: healing stopped for now");
                    t.notes.push(Note {
                        reference,
                        warning: true,
                        reason: "Fighting",
                        note: format!(
                            "{who} keeps changing {} back; healing stopped for {} minutes",
                            describe(&d),
                            Fights::BACKOFF.as_secs() / 60
                        ),
                    });
                }
                "fighting"
            }
        };
        t.drifted.insert(id.clone(), (d, action));
    }

    fn publish(&self, cache: &LiveCache, t: &mut Tracker, watching: bool) {
        let env = self.environment.as_str();
        let (state, reason) = match (watching, cache.availability()) {
            (false, _) => (
                DriftState::Unknown,
                Some("not watching: not the leader, or nothing applied yet".to_string()),
            ),
            (true, Availability::Down(why)) => (DriftState::Unknown, Some(why.join("; "))),
            (true, Availability::Starting) => (
                DriftState::Unknown,
                Some("the watches are still listing".into()),
            ),
            (true, Availability::Synced) if t.drifted.is_empty() => (DriftState::InSync, None),
            (true, Availability::Synced) => (DriftState::Drifted, None),
        };
        let objects: Vec<DriftedObject> = t
            .drifted
            .values()
            .map(|(d, action)| DriftedObject {
                object: d.object.clone(),
                release: d.release.clone(),
                paths: d.fields.iter().map(|f| f.path.clone()).collect(),
                deleted: d.deleted,
                managers: d.managers(),
                since: d.since(),
                action,
            })
            .collect();
        let mut per_release: BTreeMap<String, i64> = BTreeMap::new();
        for (_, o) in t.objects() {
            per_release.entry(o.release.clone()).or_default();
        }
        for (d, _) in t.drifted.values() {
            *per_release.entry(d.release.clone()).or_default() += 1;
        }
        for gone in t
            .release_series
            .iter()
            .filter(|r| !per_release.contains_key(*r))
        {
            let _ = self.metrics.drift_objects.remove_label_values(&[env, gone]);
        }
        t.release_series = per_release.keys().cloned().collect();
        for (release, n) in per_release {
            self.metrics
                .drift_objects
                .with_label_values(&[env, &release])
                .set(n);
        }
        self.metrics
            .drift_fighting
            .with_label_values(&[env])
            .set(objects.iter().filter(|o| o.action == "fighting").count() as i64);
        self.metrics
            .live_objects
            .with_label_values(&[env])
            .set(cache.len() as i64);
        let mut live: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
        let drifted: HashSet<&str> = t
            .drifted
            .values()
            .map(|(d, _)| d.release.as_str())
            .collect();
        for (id, o) in t.objects() {
            if drifted.contains(o.release.as_str()) {
                if let Some(v) = cache.get(id) {
                    live.entry(o.release.clone()).or_default().push(v);
                }
            }
        }
        self.feed.send_replace(Arc::new(DriftFeed {
            known: state != DriftState::Unknown,
            objects: t.drifted.values().map(|(d, _)| d.clone()).collect(),
            live,
        }));
        if let Ok(mut s) = self.status.lock() {
            s.environments
                .entry(self.environment.clone())
                .or_default()
                .drift = DriftStatus {
                state,
                reason,
                objects,
            };
        }
    }
}

/// "fields /spec/replicas (by kubectl)" or "the object (deleted)": paths and managers, never values.
fn describe(d: &ObjectDrift) -> String {
    if d.deleted {
        return "the object (deleted)".into();
    }
    let paths: Vec<&str> = d.fields.iter().map(|f| f.path.as_str()).collect();
    let managers = d.managers();
    let by = if managers.is_empty() {
        String::new()
    } else {
        format!(" (by {})", managers.join(", "))
    };
    format!("fields {}{by}", paths.join(", "))
}

/// The object an Event is about: the applied object, with the live uid when there is one.
fn event_reference(
    o: &Object,
    live: Option<&serde_json::Value>,
) -> k8s_openapi::api::core::v1::ObjectReference {
    let r = &o.reference;
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(r.api_version()),
        kind: Some(r.kind.clone()),
        name: Some(r.name.clone()),
        namespace: r.namespace.clone(),
        uid: live
            .and_then(|l| l.pointer("/metadata/uid"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string),
        ..Default::default()
    }
}

/// Seconds from an RFC 3339 time to now (managedFields times are to the second).
fn seconds_since(rfc3339: &str) -> Option<f64> {
    let then: k8s_openapi::jiff::Timestamp = rfc3339.parse().ok()?;
    let now = k8s_openapi::jiff::Timestamp::now();
    let d = now.duration_since(then);
    Some(d.as_secs_f64().max(0.0))
}
