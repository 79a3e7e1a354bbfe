//! Health of a live object, per kind — pure. The apply engine gates each wave on it; the daemon
//! reports it. Modelled on gitops-engine's `health` package: one function per kind from the live
//! object to a status and a message a human can act on.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Status {
    Healthy,
    Progressing,
    Degraded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub status: Status,
    pub message: String,
}

impl Health {
    fn healthy() -> Self {
        Health {
            status: Status::Healthy,
            message: String::new(),
        }
    }
    fn progressing(message: impl Into<String>) -> Self {
        Health {
            status: Status::Progressing,
            message: message.into(),
        }
    }
    fn degraded(message: impl Into<String>) -> Self {
        Health {
            status: Status::Degraded,
            message: message.into(),
        }
    }
}

/// The health of a live object. Kinds without a rule are healthy once they exist, unless they
/// carry a standard `Ready` condition.
pub fn assess(live: &Value) -> Health {
    let group = live["apiVersion"]
        .as_str()
        .and_then(|a| a.rsplit_once('/'))
        .map_or("", |(g, _)| g);
    match (group, live["kind"].as_str().unwrap_or_default()) {
        ("apps", "Deployment") => deployment(live),
        ("apps", "StatefulSet") => stateful_set(live),
        ("apps", "DaemonSet") => daemon_set(live),
        ("apps", "ReplicaSet") => replica_set(live),
        ("batch", "Job") => job(live),
        ("", "Pod") => pod(live),
        ("", "PersistentVolumeClaim") => pvc(live),
        ("", "Service") => service(live),
        ("networking.k8s.io", "Ingress") => ingress(live),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(live),
        ("apiregistration.k8s.io", "APIService") => condition_rule(live, "Available"),
        _ => ready_condition(live),
    }
}

fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn message_of(c: &Value) -> String {
    let reason = c["reason"].as_str().unwrap_or_default();
    let message = c["message"].as_str().unwrap_or_default();
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_string(),
        _ => message.to_string(),
    }
}

/// `None` when the controller has seen the latest spec, else a Progressing health.
fn observed(v: &Value) -> Option<Health> {
    let generation = int(v, "/metadata/generation")?;
    let observed = int(v, "/status/observedGeneration").unwrap_or(0);
    (observed < generation).then(|| {
        Health::progressing(format!(
            "waiting for the controller to observe generation {generation} (observed {observed})"
        ))
    })
}

fn deployment(v: &Value) -> Health {
    if let Some(h) = observed(v) {
        return h;
    }
    if let Some(c) = condition(v, "Progressing") {
        if c["reason"] == "ProgressDeadlineExceeded" {
            return Health::degraded(message_of(c));
        }
    }
    let want = int(v, "/spec/replicas").unwrap_or(1);
    let updated = int(v, "/status/updatedReplicas").unwrap_or(0);
    let replicas = int(v, "/status/replicas").unwrap_or(0);
    let available = int(v, "/status/availableReplicas").unwrap_or(0);
    if updated < want {
        Health::progressing(format!("{updated} of {want} replicas updated"))
    } else if replicas > updated {
        Health::progressing(format!(
            "{} old replicas pending termination",
            replicas - updated
        ))
    } else if available < updated {
        Health::progressing(format!(
            "{available} of {updated} updated replicas available"
        ))
    } else {
        Health::healthy()
    }
}

fn stateful_set(v: &Value) -> Health {
    if let Some(h) = observed(v) {
        return h;
    }
    let want = int(v, "/spec/replicas").unwrap_or(1);
    let ready = int(v, "/status/readyReplicas").unwrap_or(0);
    let updated = int(v, "/status/updatedReplicas").unwrap_or(0);
    if ready < want {
        return Health::progressing(format!("{ready} of {want} replicas ready"));
    }
    let rolling = v
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        != Some("OnDelete");
    let current = v.pointer("/status/currentRevision");
    if rolling && current.is_some() && current != v.pointer("/status/updateRevision") {
        return Health::progressing(format!("{updated} of {want} replicas on the new revision"));
    }
    Health::healthy()
}

fn daemon_set(v: &Value) -> Health {
    if let Some(h) = observed(v) {
        return h;
    }
    let want = int(v, "/status/desiredNumberScheduled").unwrap_or(0);
    let updated = int(v, "/status/updatedNumberScheduled").unwrap_or(0);
    let available = int(v, "/status/numberAvailable").unwrap_or(0);
    if updated < want {
        Health::progressing(format!("{updated} of {want} pods updated"))
    } else if available < want {
        Health::progressing(format!("{available} of {want} pods available"))
    } else {
        Health::healthy()
    }
}

fn replica_set(v: &Value) -> Health {
    if let Some(h) = observed(v) {
        return h;
    }
    let want = int(v, "/spec/replicas").unwrap_or(1);
    let available = int(v, "/status/availableReplicas").unwrap_or(0);
    if available < want {
        Health::progressing(format!("{available} of {want} replicas available"))
    } else {
        Health::healthy()
    }
}

fn job(v: &Value) -> Health {
    if let Some(c) = condition(v, "Failed").filter(|c| c["status"] == "True") {
        return Health::degraded(format!("job failed: {}", message_of(c)));
    }
    if condition(v, "Complete").is_some_and(|c| c["status"] == "True") {
        return Health::healthy();
    }
    let active = int(v, "/status/active").unwrap_or(0);
    Health::progressing(format!("job running ({active} active)"))
}

fn pod(v: &Value) -> Health {
    match v.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Health::healthy(),
        Some("Failed") => Health::degraded(format!(
            "pod failed: {}",
            v.pointer("/status/message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
        )),
        Some("Running") if condition(v, "Ready").is_some_and(|c| c["status"] == "True") => {
            Health::healthy()
        }
        phase => Health::progressing(format!("pod {}", phase.unwrap_or("Pending"))),
    }
}

fn pvc(v: &Value) -> Health {
    match v.pointer("/status/phase").and_then(Value::as_str) {
        Some("Bound") => Health::healthy(),
        Some("Lost") => Health::degraded("claim lost its volume"),
        phase => Health::progressing(format!("claim {}", phase.unwrap_or("Pending"))),
    }
}

fn has_lb_ingress(v: &Value) -> bool {
    v.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn service(v: &Value) -> Health {
    if v.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer") && !has_lb_ingress(v)
    {
        return Health::progressing("waiting for the load balancer address");
    }
    Health::healthy()
}

fn ingress(v: &Value) -> Health {
    if has_lb_ingress(v) {
        Health::healthy()
    } else {
        Health::progressing("waiting for the ingress address")
    }
}

fn crd(v: &Value) -> Health {
    if let Some(c) = condition(v, "NamesAccepted").filter(|c| c["status"] == "False") {
        return Health::degraded(message_of(c));
    }
    condition_rule(v, "Established")
}

/// Healthy when the condition is True, progressing otherwise (with its reason).
fn condition_rule(v: &Value, kind: &str) -> Health {
    match condition(v, kind) {
        Some(c) if c["status"] == "True" => Health::healthy(),
        Some(c) => Health::progressing(format!("{kind}: {}", message_of(c))),
        None => Health::progressing(format!("waiting for condition {kind}")),
    }
}

fn ready_condition(v: &Value) -> Health {
    match condition(v, "Ready") {
        None => Health::healthy(),
        Some(_) => condition_rule(v, "Ready"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(generation: i64, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "d", "generation": generation},
               "spec": {"replicas": 2}, "status": status})
    }

    #[test]
    fn a_deployment_is_healthy_only_when_its_rollout_is_observed_updated_and_available() {
        let unobserved = deploy(
            2,
            json!({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(assess(&unobserved).status, Status::Progressing);
        let rolling = deploy(
            2,
            json!({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(assess(&rolling).message, "1 of 2 replicas updated");
        let old = deploy(
            2,
            json!({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 3, "availableReplicas": 2}),
        );
        assert_eq!(assess(&old).status, Status::Progressing);
        let unavailable = deploy(
            2,
            json!({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 1}),
        );
        assert_eq!(
            assess(&unavailable).message,
            "1 of 2 updated replicas available"
        );
        let done = deploy(
            2,
            json!({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(assess(&done).status, Status::Healthy);
        let stuck = deploy(
            2,
            json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet d-1 has timed out progressing."}]}),
        );
        assert_eq!(
            assess(&stuck),
            Health::degraded("ProgressDeadlineExceeded: ReplicaSet d-1 has timed out progressing.")
        );
    }

    #[test]
    fn jobs_complete_or_fail() {
        let job = |conds: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": conds, "active": 1}});
        assert_eq!(assess(&job(json!([]))).status, Status::Progressing);
        assert_eq!(
            assess(&job(json!([{"type": "Complete", "status": "True"}]))).status,
            Status::Healthy
        );
        let failed = assess(&job(
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]),
        ));
        assert_eq!(failed, Health::degraded("job failed: BackoffLimitExceeded"));
    }

    #[test]
    fn crds_pvcs_and_load_balancers_wait_for_their_controllers() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"},
                         "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(assess(&crd).status, Status::Healthy);
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p"}, "status": {"phase": "Pending"}});
        assert_eq!(assess(&pvc).status, Status::Progressing);
        let lb = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}});
        assert_eq!(assess(&lb).status, Status::Progressing);
        let cluster_ip = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}});
        assert_eq!(assess(&cluster_ip).status, Status::Healthy);
    }

    #[test]
    fn any_kind_with_a_ready_condition_follows_it_and_others_are_healthy() {
        let cr = |status: &str| {
            json!({"apiVersion": "example.io/v1", "kind": "Certificate", "metadata": {"name": "c"},
                                       "status": {"conditions": [{"type": "Ready", "status": status, "reason": "Issuing"}]}})
        };
        assert_eq!(assess(&cr("True")).status, Status::Healthy);
        assert_eq!(assess(&cr("False")), Health::progressing("Ready: Issuing"));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(assess(&cm).status, Status::Healthy);
    }
}
