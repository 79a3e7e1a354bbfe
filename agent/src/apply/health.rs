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
        ("apiregistration.k8s.io", "APIService") => api_service(live),
        ("templates.gatekeeper.sh", "ConstraintTemplate") => constraint_template(live),
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

/// kube-aggregator's `Available` condition: True once the APIService's Service has endpoints and
/// answers discovery (or at once for a local one). False is not final — the backend may still be
/// starting — so it is progressing, with upstream's reason and message, until the wave timeout.
/// <https://kubernetes.io/docs/tasks/extend-kubernetes/configure-aggregation-layer/>
fn api_service(v: &Value) -> Health {
    match condition(v, "Available") {
        Some(c) if c["status"] == "True" => Health::healthy(),
        Some(c) => Health::progressing(format!(
            "condition Available is {}: {}",
            c["status"].as_str().unwrap_or("Unknown"),
            message_of(c)
        )),
        None => {
            let service = match (
                v.pointer("/spec/service/namespace").and_then(Value::as_str),
                v.pointer("/spec/service/name").and_then(Value::as_str),
            ) {
                (Some(ns), Some(name)) => format!(" of service {ns}/{name}"),
                _ => String::new(),
            };
            Health::progressing(format!(
                "no condition Available yet: the API server's aggregator has not checked the availability{service}"
            ))
        }
    }
}

/// Gatekeeper's ConstraintTemplate: healthy once Gatekeeper created the constraint CRD
/// (`status.created`) and every pod reporting on it (`status.byPod[]`) has seen its current
/// generation; an error a pod reports for the current generation (a template that does not
/// compile, a name that is not its kind's) is degraded: it stays until Git changes.
/// <https://open-policy-agent.github.io/gatekeeper/website/docs/howto>
fn constraint_template(v: &Value) -> Health {
    let generation = int(v, "/metadata/generation");
    let pods = v
        .pointer("/status/byPod")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let current = |p: &Value| {
        let seen = int(p, "/observedGeneration");
        seen.is_none() || generation.is_none() || seen == generation
    };
    for p in pods.iter().filter(|p| current(p)) {
        if let Some(e) = p["errors"].as_array().and_then(|e| e.first()) {
            return Health::degraded(format!(
                "Gatekeeper pod {} cannot create the constraint CRD: {}: {}",
                p["id"].as_str().unwrap_or("?"),
                e["code"].as_str().unwrap_or("error"),
                e["message"].as_str().unwrap_or_default()
            ));
        }
    }
    if v.pointer("/status/created").and_then(Value::as_bool) != Some(true) {
        return Health::progressing(
            "waiting for Gatekeeper to create the constraint CRD (status.created is not true)",
        );
    }
    if let Some(p) = pods.iter().find(|p| !current(p)) {
        return Health::progressing(format!(
            "Gatekeeper pod {} observed generation {} of {}",
            p["id"].as_str().unwrap_or("?"),
            int(p, "/observedGeneration").unwrap_or(0),
            generation.unwrap_or(0)
        ));
    }
    Health::healthy()
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
    fn an_api_service_is_healthy_only_when_available_and_says_why_not() {
        let api = |status: Value| {
            json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1beta1.metrics.k8s.io"},
                   "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}}, "status": status})
        };
        let cases = [
            (json!({"conditions": [{"type": "Available", "status": "True", "reason": "Passed"}]}),
             Health::healthy()),
            (json!({"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints",
                                    "message": "endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\""}]}),
             Health::progressing("condition Available is False: MissingEndpoints: endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\"")),
            (json!({"conditions": [{"type": "Available", "status": "Unknown", "reason": "ServiceAccessError"}]}),
             Health::progressing("condition Available is Unknown: ServiceAccessError")),
            (json!({}),
             Health::progressing("no condition Available yet: the API server's aggregator has not checked the availability of service kube-system/metrics-server")),
        ];
        for (status, want) in cases {
            assert_eq!(assess(&api(status.clone())), want, "{status}");
        }
    }

    #[test]
    fn a_constraint_template_is_healthy_once_created_and_observed_by_every_pod() {
        let ct = |status: Value| {
            json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                   "metadata": {"name": "k8sallowedrepos", "generation": 3}, "status": status})
        };
        let pod = |id: &str, generation: i64| json!({"id": id, "observedGeneration": generation, "templateUID": "u"});
        let error = json!({"id": "gk-0", "observedGeneration": 3, "errors": [{"code": "ingest_error", "message": "rego_parse_error"}]});
        let stale_error = json!({"id": "gk-0", "observedGeneration": 2, "errors": [{"code": "ingest_error", "message": "old"}]});
        let cases = [
            (json!({}), Status::Progressing),
            (
                json!({"created": false, "byPod": [pod("gk-0", 3)]}),
                Status::Progressing,
            ),
            (
                json!({"created": true, "byPod": [pod("gk-0", 3), pod("gk-audit", 2)]}),
                Status::Progressing,
            ),
            (
                json!({"created": true, "byPod": [pod("gk-0", 3), pod("gk-audit", 3)]}),
                Status::Healthy,
            ),
            (
                json!({"created": true, "byPod": [{"id": "gk-0"}]}),
                Status::Healthy,
            ),
            (json!({"created": true}), Status::Healthy),
            (
                json!({"created": false, "byPod": [error]}),
                Status::Degraded,
            ),
            (
                json!({"created": true, "byPod": [stale_error]}),
                Status::Progressing,
            ),
        ];
        for (status, want) in cases {
            assert_eq!(assess(&ct(status.clone())).status, want, "{status}");
        }
        assert_eq!(
            assess(&ct(json!({"created": true, "byPod": [pod("gk-audit", 2)]}))).message,
            "Gatekeeper pod gk-audit observed generation 2 of 3"
        );
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
