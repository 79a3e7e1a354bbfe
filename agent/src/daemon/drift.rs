//! One environment's drift watch: the live-state cache (`crate::live`) fed by watches of every
//! kind the last sync applied, each change compared with what was applied (`crate::drift`), the
//! policy's decision taken, and the result published in `/status` and metrics. It writes
//! nothing itself: a heal is a request to the reconciler, the one writer.

use super::applied::Applied;
use super::status::{DriftState, DriftStatus, DriftedObject, Status};
use crate::apply::cluster::KubeCluster;
use crate::apply::sync::{identity, Identity};
use crate::drift::policy::{self, Action, Fights};
use crate::drift::{self as compare_drift, ObjectDrift};
use crate::live::{Availability, Change, KindKey, LiveCache, LiveRead};
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
    pub cluster: Arc<KubeCluster>,
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
    pub changes: crate::live::queue::Receiver,
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
                            self.evaluate(&*cache, &a, &mut t, &id, &mut heal);
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
                batch = self.changes.recv_all() => {
                    let Some(batch) = batch else { break };
                    // What the tracker follows (the newest applied, once its change is read).
                    let Some(a) = t.applied.clone() else { continue };
                    for c in batch {
                        match c {
                            Change::Object(id) => self.evaluate(&*cache, &a, &mut t, &id, &mut heal),
                            Change::Synced(kind) => {
                                let ids: Vec<Identity> = t.desired.keys()
                                    .filter(|id| id.is_a(&kind.0, &kind.2))
                                    .cloned()
                                    .collect();
                                for id in ids {
                                    self.evaluate(&*cache, &a, &mut t, &id, &mut heal);
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
        cache: &dyn LiveRead,
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
        // tokio's clock (paused in the table tests), as the std `Instant` the core decides on.
        let now = tokio::time::Instant::now().into_std();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Index;
    use crate::object::ObjectRef;
    use serde_json::{json, Value};

    const KIND: (&str, &str, &str) = ("", "v1", "ConfigMap");

    /// The environment `prod` with its release `web` under `policy`, as applied: one ConfigMap
    /// whose `data.a` Git says is "1".
    fn applied(repo: &std::path::Path, policy: &str) -> Arc<Applied> {
        applied_at(repo, policy, None)
    }

    /// The same, its manifest carrying the agent's `hash` annotation when given.
    fn applied_at(repo: &std::path::Path, policy: &str, hash: Option<&str>) -> Arc<Applied> {
        let chart = repo.join("charts/web");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: web\n").unwrap();
        let dir = repo.join("environments/prod");
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {{name: web, namespace: web, chart: charts/web}}\n  drift:\n    policy: {policy}\n");
        std::fs::write(dir.join("environment.yaml"), text).unwrap();
        let env = crate::environment::load(repo, "prod").unwrap();
        let object = Object {
            reference: reference(),
            release: "web".into(),
            source: "web/templates/cm.yaml".into(),
            wave: crate::environment::Wave(0),
            hook: None,
            hash: String::new(),
            manifest: live_as("1", None),
        };
        let mut object = object;
        if let Some(h) = hash {
            object.manifest["metadata"]["annotations"] = json!({crate::object::ANNOTATION_HASH: h});
        }
        Arc::new(Applied::new(env, Some("a".repeat(40)), vec![object]))
    }

    fn reference() -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("web".into()),
            name: "settings".into(),
        }
    }

    /// The ConfigMap with `data.a` at `a`, set by `manager` when one is given.
    fn live_as(a: &str, manager: Option<&str>) -> Value {
        let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "web"}, "data": {"a": a}});
        if let Some(m) = manager {
            o["metadata"]["managedFields"] = json!([{"manager": m, "operation": "Update",
                "apiVersion": "v1", "time": "2026-12-07T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:a": {}}}}]);
        }
        o
    }

    fn watch() -> DriftWatch {
        let client =
            kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
                .unwrap();
        let (cache, changes) = LiveCache::new("prod", client.clone());
        DriftWatch {
            environment: "prod".into(),
            cluster: Arc::new(KubeCluster::new(client)),
            metrics: Metrics::new().unwrap(),
            status: Arc::default(),
            applied: watch::channel(None).1,
            heal: mpsc::channel(1).0,
            leading: watch::channel(true).1,
            stop: watch::channel(false).1,
            identity: "sextant-0".into(),
            feed: watch::channel(Arc::default()).0,
            cache: Arc::new(cache),
            changes,
        }
    }

    /// Each change of the live object, as the watch brings it, decided under the release's
    /// policy: heal (once per pending heal, until another manager is seen fighting), report,
    /// or nothing once live is Git again; with the Events said.
    #[tokio::test(start_paused = true)]
    async fn each_change_is_healed_reported_or_left_to_a_fight_as_the_policy_says() {
        let kubectl = Some("kubectl-edit");
        // (policy, [(seconds later, live data.a, heal asked, the action shown)], Events)
        type Step = (u64, &'static str, bool, Option<&'static str>);
        let heal_fight: Vec<Step> = (0..Fights::MAX_HEALS)
            .flat_map(|_| [(30, "2", true, Some("healing")), (1, "1", false, None)])
            .chain([
                (30, "2", false, Some("fighting")),
                (30, "2", false, Some("fighting")),
            ])
            .collect();
        let table: Vec<(&str, Vec<Step>, Vec<&str>)> = vec![
            (
                "heal",
                vec![
                    (0, "2", true, Some("healing")),
                    (2, "2", false, Some("healing")),
                    (4, "2", true, Some("healing")),
                    (1, "1", false, None),
                ],
                vec!["Drifted", "Healed"],
            ),
            (
                "report",
                vec![
                    (0, "2", false, Some("reported")),
                    (600, "3", false, Some("reported")),
                    (1, "1", false, None),
                ],
                vec!["Drifted"],
            ),
            (
                "pull-request",
                vec![(0, "2", false, Some("reported"))],
                vec!["Drifted"],
            ),
            ("heal", heal_fight, vec!["Drifted", "Healed", "Fighting"]),
        ];
        for (policy, steps, events) in table {
            let repo = tempfile::tempdir().unwrap();
            let a = applied(repo.path(), policy);
            let w = watch();
            let mut t = Tracker::default();
            t.follow(a.clone());
            let live = Mutex::new(Index::default());
            let kind: KindKey = (KIND.0.into(), KIND.1.into(), KIND.2.into());
            let id = identity(&reference());
            let mut said = Vec::new();
            for (i, (later, value, asked, action)) in steps.into_iter().enumerate() {
                tokio::time::advance(Duration::from_secs(later)).await;
                {
                    let mut index = live.lock().unwrap();
                    index.track(kind.clone());
                    index.init(&kind);
                    index.apply(&kind, live_as(value, kubectl));
                    index.init_done(&kind);
                }
                let mut heal = Vec::new();
                w.evaluate(&live, &a, &mut t, &id, &mut heal);
                let shown = t.drifted.get(&id).map(|(_, a)| *a);
                assert_eq!(
                    (heal.len() == 1, shown),
                    (asked, action),
                    "{policy}, step {i}: data.a {value}"
                );
                said.extend(t.notes.drain(..).map(|n| n.reason));
            }
            said.dedup();
            let mut seen: Vec<&str> = Vec::new();
            for s in said {
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            assert_eq!(seen, events, "{policy}: the Events");
        }
    }

    /// Nothing is decided about a kind whose list has not completed, nor about a newer
    /// revision of the agent's own being applied.
    #[tokio::test(start_paused = true)]
    async fn an_unlisted_kind_or_a_newer_revision_being_applied_is_not_decided() {
        let repo = tempfile::tempdir().unwrap();
        let a = applied(repo.path(), "heal");
        let w = watch();
        let mut t = Tracker::default();
        t.follow(a.clone());
        let id = identity(&reference());
        let kind: KindKey = (KIND.0.into(), KIND.1.into(), KIND.2.into());
        let live = Mutex::new(Index::default());
        live.lock().unwrap().track(kind.clone());
        live.lock().unwrap().init(&kind);
        live.lock()
            .unwrap()
            .apply(&kind, live_as("2", Some("kubectl-edit")));
        let mut heal = Vec::new();
        w.evaluate(&live, &a, &mut t, &id, &mut heal);
        assert!(heal.is_empty() && t.drifted.is_empty(), "still listing");

        // Listed: live carries another hash of the agent's own (a newer revision applying).
        let mut newer = live_as("2", None);
        newer["metadata"]["annotations"] = json!({crate::object::ANNOTATION_HASH: "sha256:newer"});
        let a2 = applied_at(repo.path(), "heal", Some("sha256:older"));
        t.follow(a2.clone());
        live.lock().unwrap().apply(&kind, newer);
        live.lock().unwrap().init_done(&kind);
        w.evaluate(&live, &a2, &mut t, &id, &mut heal);
        assert!(
            heal.is_empty() && t.drifted.is_empty(),
            "another revision's"
        );
    }
}
