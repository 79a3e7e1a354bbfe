//! Simulated controllers: after a delay, workloads report ready replicas and rollout
//! conditions, Jobs complete, CRDs are Established, PVCs Bound, and LoadBalancer Services
//! and Ingresses get an address. An object annotated `testkit.sextant.io/fail-readiness:
//! "true"` never becomes ready, nor does a workload running one of the server's failing
//! images (`crate::readiness`); `testkit.sextant.io/ready-after-ms` sets its own delay.
//! Deciding the status is pure (`desired_status`); the loop only writes what differs. HPAs
//! scale their targets (`crate::hpa`), APIServices report `Available` (`crate::aggregator`) and
//! Gatekeeper's ConstraintTemplates yield their constraint kinds (`crate::gatekeeper`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::handler::Cluster;
use crate::meta::now_rfc3339;
use crate::readiness::{readiness, FailImages, Readiness};
use crate::storage::{GroupResource, ObjectKey};

use crate::readiness::delay_for;
pub use crate::readiness::READY_AFTER_MS;

const CONTROLLED: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("", "persistentvolumeclaims"),
    ("", "services"),
    ("", "pods"),
    ("networking.k8s.io", "ingresses"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
];

fn condition(kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "reason": reason, "message": message})
}

/// The status a controller would converge the object to; `None` if it leaves it alone.
pub fn desired_status(
    resource: &GroupResource,
    obj: &Value,
    fail_images: &FailImages,
) -> Option<Value> {
    let readiness = readiness(resource, obj, fail_images);
    let ready = readiness == Readiness::Ready;
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let generation = obj
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let up = if ready { replicas } else { 0 };
    let status = match (resource.group.as_str(), resource.resource.as_str()) {
        ("apps", "deployments") => deployment_status(name, &generation, replicas, readiness),
        ("apps", "statefulsets") => json!({"observedGeneration": generation, "replicas": replicas,
            "readyReplicas": up, "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": up,
            "currentRevision": format!("{name}-1"), "updateRevision": format!("{name}-1"), "collisionCount": 0}),
        ("apps", "daemonsets") => {
            json!({"observedGeneration": generation, "desiredNumberScheduled": 1,
            "currentNumberScheduled": 1, "numberMisscheduled": 0, "numberReady": i64::from(ready),
            "updatedNumberScheduled": 1, "numberAvailable": i64::from(ready), "numberUnavailable": i64::from(!ready)})
        }
        ("apps", "replicasets") => json!({"observedGeneration": generation, "replicas": replicas,
            "fullyLabeledReplicas": replicas, "readyReplicas": up, "availableReplicas": up}),
        ("batch", "jobs") if ready => {
            let completions = obj
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            json!({"succeeded": completions, "active": 0, "ready": 0, "startTime": "", "completionTime": "",
                "conditions": [condition("SuccessCriteriaMet", true, "CompletionsReached", "Reached expected number of succeeded pods"),
                               condition("Complete", true, "CompletionsReached", "Reached expected number of succeeded pods")]})
        }
        ("batch", "jobs") => json!({"active": 1, "ready": 0, "startTime": ""}),
        ("", "persistentvolumeclaims") if ready => json!({"phase": "Bound",
            "accessModes": obj.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
            "capacity": {"storage": obj.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"))}}),
        ("", "persistentvolumeclaims") => json!({"phase": "Pending"}),
        ("", "services") if obj.pointer("/spec/type") == Some(&json!("LoadBalancer")) => {
            json!({"loadBalancer": if ready { json!({"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}) } else { json!({}) }})
        }
        ("networking.k8s.io", "ingresses") => {
            json!({"loadBalancer": if ready { json!({"ingress": [{"ip": "127.0.0.1"}]}) } else { json!({}) }})
        }
        ("", "pods") => json!({"phase": if ready { "Running" } else { "Pending" },
            "conditions": [condition("Ready", ready, if ready { "PodReady" } else { "ContainersNotReady" }, ""),
                           condition("ContainersReady", ready, if ready { "PodReady" } else { "ContainersNotReady" }, "")]}),
        ("apiextensions.k8s.io", "customresourcedefinitions") => crd_status(obj),
        _ => return None,
    };
    Some(status)
}

/// A Deployment's status: available and progressed when ready; else unavailable, and
/// progressing or (past its deadline) timed out.
fn deployment_status(name: &str, generation: &Value, replicas: i64, readiness: Readiness) -> Value {
    let ready = readiness == Readiness::Ready;
    let up = if ready { replicas } else { 0 };
    let conditions = if ready {
        vec![
            condition(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            ),
            condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{name}\" has successfully progressed."),
            ),
        ]
    } else {
        vec![
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            ),
            if readiness == Readiness::DeadlineExceeded {
                condition(
                    "Progressing",
                    false,
                    "ProgressDeadlineExceeded",
                    &format!("ReplicaSet \"{name}\" has timed out progressing."),
                )
            } else {
                condition(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{name}\" is progressing."),
                )
            },
        ]
    };
    let mut s = json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
        "readyReplicas": up, "availableReplicas": up, "conditions": conditions});
    if !ready {
        s["unavailableReplicas"] = json!(replicas);
    }
    s
}

/// A CRD's status: its names accepted, Established, its storage versions recorded.
fn crd_status(obj: &Value) -> Value {
    let stored: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == json!(true))
        .map(|v| v["name"].clone())
        .collect();
    json!({"acceptedNames": obj.pointer("/spec/names").cloned().unwrap_or(json!({})), "storedVersions": stored,
        "conditions": [condition("NamesAccepted", true, "NoConflicts", "no conflicts found"),
                       condition("Established", true, "InitialNamesAccepted", "the initial names have been accepted")]})
}

const TIME_FIELDS: &[&str] = &[
    "lastTransitionTime",
    "lastUpdateTime",
    "startTime",
    "completionTime",
];

/// Copy time stamps from the current status where the condition did not change, and
/// stamp now elsewhere; an empty-string placeholder means "a time goes here".
fn stamp_times(desired: &mut Value, current: &Value) {
    let now = now_rfc3339();
    for f in ["startTime", "completionTime"] {
        if desired.get(f).is_some() {
            desired[f] = current
                .get(f)
                .cloned()
                .unwrap_or_else(|| now.clone().into());
        }
    }
    let Some(conds) = desired.get_mut("conditions").and_then(Value::as_array_mut) else {
        return;
    };
    for c in conds {
        let same = current["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["type"] == c["type"] && o["status"] == c["status"]);
        for f in ["lastTransitionTime", "lastUpdateTime"] {
            c[f] = same
                .and_then(|s| s.get(f).cloned())
                .unwrap_or_else(|| now.clone().into());
        }
    }
}

fn without_times(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !TIME_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_times(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// The status to write on `obj` of `gr`, if a controller would change it now: `None` when it is
/// left alone, being deleted, or already says the same (times aside).
fn evaluate(gr: &GroupResource, obj: &Value, fail_images: &FailImages) -> Option<Value> {
    let mut desired = desired_status(gr, obj, fail_images)?;
    let current = obj.get("status").cloned().unwrap_or(json!({}));
    let mut merged = current.clone();
    crate::patch::merge(&mut merged, &desired);
    if without_times(&merged) == without_times(&current)
        || obj.pointer("/metadata/deletionTimestamp").is_some()
    {
        return None;
    }
    stamp_times(&mut desired, &current);
    let mut merged = current;
    crate::patch::merge(&mut merged, &desired);
    Some(merged)
}

/// The delay before a controller reports `obj` of `gr`: none for CRDs, else the object's own or
/// the server's.
fn delay_of(gr: &GroupResource, obj: &Value, ready_delay: Duration) -> Duration {
    if gr.group == "apiextensions.k8s.io" {
        Duration::ZERO
    } else {
        delay_for(obj, ready_delay)
    }
}

fn write_statuses(cluster: &mut Cluster, writes: Vec<(ObjectKey, Value)>) {
    for (key, status) in writes {
        let Some(mut next) = cluster.store.get(&key).cloned() else {
            continue;
        };
        next["status"] = status;
        cluster.store.put(key, next);
    }
}

/// What the controllers still have to look at: the objects of the controlled kinds written since
/// their last look, each due once its delay has passed. A status depends only on the object and
/// the failing images, so nothing else needs a look: a pass costs what changed, not what is
/// stored (a full pass each tick held the server's lock most of the time at 5,000 objects).
pub struct Pending {
    feed: tokio::sync::broadcast::Receiver<crate::storage::Event>,
    due: std::collections::HashMap<ObjectKey, Instant>,
    /// The failing images of the last pass (`None` before the first: everything is looked at).
    images: Option<FailImages>,
}

impl Pending {
    pub fn new(cluster: &Cluster) -> Self {
        Pending {
            feed: cluster.store.feed(),
            due: Default::default(),
            images: None,
        }
    }

    fn mark(&mut self, cluster: &Cluster, key: ObjectKey, ready_delay: Duration) {
        let Some(obj) = cluster.store.get(&key) else {
            self.due.remove(&key);
            return;
        };
        let changed = cluster.store.changed_at(&key).unwrap_or_else(Instant::now);
        let at = changed + delay_of(&key.resource, obj, ready_delay);
        self.due.insert(key, at);
    }

    /// Takes in what was written since the last pass; everything again when the feed overflowed
    /// or the failing images changed.
    fn collect(&mut self, cluster: &Cluster, ready_delay: Duration, images: &FailImages) {
        use tokio::sync::broadcast::error::TryRecvError;
        let controlled = |gr: &GroupResource| {
            CONTROLLED
                .iter()
                .any(|(g, r)| gr.group == *g && gr.resource == *r)
        };
        let mut all = self.images.as_ref() != Some(images);
        loop {
            match self.feed.try_recv() {
                Ok(e) if controlled(&e.key.resource) => self.mark(cluster, e.key, ready_delay),
                Ok(_) => {}
                Err(TryRecvError::Lagged(_)) => all = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if all {
            for (group, resource) in CONTROLLED {
                let gr = GroupResource::new(group, resource);
                for key in cluster.store.keys_of(&gr) {
                    self.mark(cluster, key, ready_delay);
                }
            }
            self.images = Some(images.clone());
        }
    }

    /// One pass over what changed: write every status that is due and differs.
    pub fn reconcile(&mut self, cluster: &mut Cluster, ready_delay: Duration, images: &FailImages) {
        self.collect(cluster, ready_delay, images);
        let now = Instant::now();
        let ripe: Vec<ObjectKey> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let writes = ripe
            .into_iter()
            .filter_map(|key| {
                self.due.remove(&key);
                let obj = cluster.store.get(&key)?;
                Some((key.clone(), evaluate(&key.resource, obj, images)?))
            })
            .collect();
        write_statuses(cluster, writes);
    }
}

/// Run the controllers until `shutdown` flips. `fail_images` is read on every pass, so a change
/// reaches every workload on the next one (one already ready with a failing image turns unready).
pub async fn run(
    cluster: Arc<Mutex<Cluster>>,
    ready_delay: Duration,
    fail_images: Arc<Mutex<FailImages>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut pending = match cluster.lock() {
        Ok(c) => Pending::new(&c),
        Err(_) => return,
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let images = crate::shared::lock(&fail_images).clone();
                if let Ok(mut c) = cluster.lock() {
                    pending.reconcile(&mut c, ready_delay, &images);
                    crate::hpa::reconcile_once(&mut c);
                    crate::aggregator::reconcile_once(&mut c);
                    crate::gatekeeper::reconcile_once(&mut c, ready_delay);
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_becomes_available_with_its_replicas() {
        let d = json!({"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3}});
        let s = desired_status(
            &GroupResource::new("apps", "deployments"),
            &d,
            &FailImages::default(),
        )
        .unwrap();
        assert_eq!(
            (
                s["readyReplicas"].as_i64(),
                s["observedGeneration"].as_i64()
            ),
            (Some(3), Some(2))
        );
        assert_eq!(
            s["conditions"][0],
            condition(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability."
            )
        );
    }

    #[test]
    fn fail_readiness_annotation_keeps_a_rollout_unready() {
        let d = json!({"metadata": {"name": "web", "annotations": {crate::FAIL_READINESS: "true"}}, "spec": {"replicas": 2}});
        let s = desired_status(
            &GroupResource::new("apps", "deployments"),
            &d,
            &FailImages::default(),
        )
        .unwrap();
        assert_eq!(s["readyReplicas"], 0);
        assert_eq!(s["conditions"][0]["status"], "False");
        assert_eq!(s["conditions"][1]["reason"], "ReplicaSetUpdated");
        let past = json!({"metadata": {"name": "web", "annotations": {crate::FAIL_READINESS: "deadline-exceeded"}}, "spec": {"replicas": 2}});
        let s = desired_status(
            &GroupResource::new("apps", "deployments"),
            &past,
            &FailImages::default(),
        )
        .unwrap();
        assert_eq!(s["readyReplicas"], 0);
        assert_eq!(s["conditions"][1]["reason"], "ProgressDeadlineExceeded");
    }

    const BAD: &str = "sha256:badbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbad0";
    const GOOD: &str = "sha256:600d600d600d600d600d600d600d600d600d600d600d600d600d600d600d6000";

    fn workload(containers: &str, image: &str) -> Value {
        json!({"metadata": {"name": "web", "generation": 3}, "spec": {"replicas": 2,
            "template": {"spec": {containers: [{"name": "app", "image": format!("registry.example/web@{image}")}]}}}})
    }

    #[test]
    fn a_failing_image_keeps_a_deployment_unready_past_its_deadline() {
        let bad = FailImages::new([BAD]);
        let d = workload("containers", BAD);
        let deployments = GroupResource::new("apps", "deployments");
        assert_eq!(
            readiness(&deployments, &d, &bad),
            Readiness::DeadlineExceeded
        );
        let s = desired_status(&deployments, &d, &bad).unwrap();
        assert_eq!(
            (
                s["readyReplicas"].as_i64(),
                s["unavailableReplicas"].as_i64()
            ),
            (Some(0), Some(2))
        );
        assert_eq!(
            s["observedGeneration"], 3,
            "the controller saw the new template"
        );
        assert_eq!(s["conditions"][0]["status"], "False");
        assert_eq!(
            (
                &s["conditions"][1]["type"],
                &s["conditions"][1]["status"],
                &s["conditions"][1]["reason"]
            ),
            (
                &json!("Progressing"),
                &json!("False"),
                &json!("ProgressDeadlineExceeded")
            )
        );
    }

    #[test]
    fn the_same_image_is_ready_on_a_server_that_does_not_fail_it() {
        let d = workload("containers", BAD);
        let deployments = GroupResource::new("apps", "deployments");
        for images in [FailImages::default(), FailImages::new([GOOD])] {
            assert_eq!(readiness(&deployments, &d, &images), Readiness::Ready);
            let s = desired_status(&deployments, &d, &images).unwrap();
            assert_eq!(s["readyReplicas"], 2);
        }
        let good = workload("containers", GOOD);
        assert_eq!(
            readiness(&deployments, &good, &FailImages::new([BAD])),
            Readiness::Ready
        );
    }

    #[test]
    fn every_workload_kind_fails_on_an_image_in_any_container_or_init_container() {
        let bad = FailImages::new(["badbad"]);
        for (resource, ready) in [
            ("statefulsets", "/readyReplicas"),
            ("daemonsets", "/numberReady"),
            ("replicasets", "/readyReplicas"),
        ] {
            let gr = GroupResource::new("apps", resource);
            for list in ["containers", "initContainers"] {
                let mut w = workload(list, BAD);
                w["spec"]["template"]["spec"]
                    .as_object_mut()
                    .unwrap()
                    .entry("containers")
                    .or_insert(json!([{"name": "ok", "image": "busybox"}]));
                let s = desired_status(&gr, &w, &bad).unwrap();
                assert_eq!(s.pointer(ready), Some(&json!(0)), "{resource} {list}");
                let s = desired_status(&gr, &workload(list, GOOD), &bad).unwrap();
                assert_ne!(
                    s.pointer(ready),
                    Some(&json!(0)),
                    "{resource} {list} with a good image"
                );
            }
        }
    }

    #[test]
    fn a_ready_deployment_turns_unready_when_its_image_fails_and_ready_again_on_a_good_one() {
        let mut c = Cluster::new(100);
        let mut pending = Pending::new(&c);
        let key = crate::storage::ObjectKey {
            resource: GroupResource::new("apps", "deployments"),
            namespace: Some("d".into()),
            name: "web".into(),
        };
        let ready = |c: &Cluster| c.store.get(&key).unwrap()["status"]["readyReplicas"].clone();
        c.store.put(key.clone(), workload("containers", BAD));
        pending.reconcile(&mut c, Duration::ZERO, &FailImages::default());
        assert_eq!(ready(&c), 2);
        let bad = FailImages::new([BAD]);
        pending.reconcile(&mut c, Duration::ZERO, &bad);
        assert_eq!(
            ready(&c),
            0,
            "a change of the set reaches a workload already ready"
        );
        let mut next = c.store.get(&key).unwrap().clone();
        next["spec"] = workload("containers", GOOD)["spec"].clone();
        c.store.put(key.clone(), next);
        pending.reconcile(&mut c, Duration::ZERO, &bad);
        assert_eq!(ready(&c), 2);
        assert_eq!(
            c.store.get(&key).unwrap()["status"]["conditions"][1]["reason"],
            "NewReplicaSetAvailable"
        );
    }

    #[test]
    fn an_annotation_sets_the_ready_delay_per_object() {
        let mut c = Cluster::new(100);
        let mut pending = Pending::new(&c);
        let key = |n: &str| crate::storage::ObjectKey {
            resource: GroupResource::new("batch", "jobs"),
            namespace: Some("d".into()),
            name: n.into(),
        };
        c.store.put(key("slow"), json!({"metadata": {"name": "slow", "annotations": {READY_AFTER_MS: "3600000"}}, "spec": {}}));
        c.store.put(
            key("fast"),
            json!({"metadata": {"name": "fast", "annotations": {READY_AFTER_MS: "0"}}, "spec": {}}),
        );
        pending.reconcile(&mut c, Duration::from_secs(3600), &FailImages::default());
        assert!(c.store.get(&key("slow")).unwrap().get("status").is_none());
        assert!(c.store.get(&key("fast")).unwrap().get("status").is_some());
    }

    #[test]
    fn controllers_write_once_then_stay_quiet() {
        let mut c = Cluster::new(100);
        let mut pending = Pending::new(&c);
        let key = crate::storage::ObjectKey {
            resource: GroupResource::new("batch", "jobs"),
            namespace: Some("d".into()),
            name: "j".into(),
        };
        c.store
            .put(key.clone(), json!({"metadata": {"name": "j"}, "spec": {}}));
        pending.reconcile(&mut c, Duration::ZERO, &FailImages::default());
        let rv = c.store.current_rv();
        assert_eq!(
            c.store.get(&key).unwrap()["status"]["conditions"][1]["type"],
            "Complete"
        );
        pending.reconcile(&mut c, Duration::ZERO, &FailImages::default());
        assert_eq!(
            c.store.current_rv(),
            rv,
            "a converged object is not rewritten"
        );
    }

    #[test]
    fn a_pass_looks_only_at_what_was_written_and_everything_after_the_feed_overflows() {
        let mut c = Cluster::new(100);
        let mut pending = Pending::new(&c);
        let job = |n: &str| crate::storage::ObjectKey {
            resource: GroupResource::new("batch", "jobs"),
            namespace: Some("d".into()),
            name: n.into(),
        };
        let none = FailImages::default();
        c.store
            .put(job("a"), json!({"metadata": {"name": "a"}, "spec": {}}));
        pending.reconcile(&mut c, Duration::ZERO, &none);
        pending.reconcile(&mut c, Duration::ZERO, &none);
        assert!(pending.due.is_empty(), "looked at, nothing left to look at");
        // A status removed behind the feed's back (as no real write could) is not seen...
        let mut bare = c.store.get(&job("a")).unwrap().clone();
        bare.as_object_mut().unwrap().remove("status");
        c.store.objects_mut().insert(job("a"), bare);
        pending.reconcile(&mut c, Duration::ZERO, &none);
        assert!(c.store.get(&job("a")).unwrap().get("status").is_none());
        // ...until the feed overflows: then every object is looked at again.
        for i in 0..5000 {
            let cm = crate::storage::ObjectKey {
                resource: GroupResource::new("", "configmaps"),
                namespace: Some("d".into()),
                name: format!("cm-{i}"),
            };
            c.store.put(cm, json!({"metadata": {}}));
        }
        pending.reconcile(&mut c, Duration::ZERO, &none);
        assert!(c.store.get(&job("a")).unwrap().get("status").is_some());
    }
}
