//! kube-aggregator's availability controllers, in the part they play for a client: each
//! `apiregistration.k8s.io/v1` APIService gets an `Available` condition. Nothing is proxied: the
//! aggregated API itself is not served.
//!
//! As upstream (k8s.io/kube-aggregator `pkg/controllers/status`, release-1.33): an APIService
//! without `spec.service` is local and `Available=True` (`Local`, "Local APIServices are always
//! available"); otherwise its Service must exist (`ServiceNotFound`), and for a ClusterIP Service
//! list the APIService's port (`ServicePortError`) and have Endpoints (`EndpointsNotFound`) with an
//! address on that port's name (`MissingEndpoints`); then the discovery check passes (`Passed`, "all
//! checks passed"). <https://kubernetes.io/docs/tasks/extend-kubernetes/configure-aggregation-layer/>
//!
//! The test server runs no endpoints controller. An `Endpoints` object of the Service's name is
//! read as upstream reads it; without one, a Service with a selector has the endpoints the
//! endpoints controller would give it: an address when a ready workload (Deployment, StatefulSet,
//! DaemonSet, ReplicaSet) or a ready Pod in its namespace carries the selector's labels, none
//! otherwise. An APIService annotated `testkit.sextant.io/fail-readiness: "true"` fails its
//! discovery check (`FailedDiscoveryCheck`), the state of a backend that answers nothing.
//! Deciding is pure (`available`); the loop writes only a changed condition.

use serde_json::{json, Map, Value};

use crate::handler::Cluster;
use crate::meta::now_rfc3339;
use crate::readiness::FAIL_READINESS;
use crate::storage::{GroupResource, ObjectKey};

/// What the Service behind an APIService looks like to the availability check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoints {
    /// No Endpoints object: the Service has no selector and nobody wrote one.
    NotFound,
    /// Endpoints whose subsets carry an address on these port names.
    Ready,
    /// Endpoints without an address on the Service's port.
    Empty,
}

/// The `Available` condition kube-aggregator would set: (status, reason, message).
pub fn available(
    apiservice: &Value,
    service: Option<&Value>,
    endpoints: impl Fn(&str) -> Endpoints,
) -> (bool, &'static str, String) {
    let Some(svc_ref) = apiservice
        .pointer("/spec/service")
        .filter(|s| s.is_object())
    else {
        return (
            true,
            "Local",
            "Local APIServices are always available".into(),
        );
    };
    let name = svc_ref["name"].as_str().unwrap_or_default();
    let namespace = svc_ref["namespace"].as_str().unwrap_or_default();
    let port = svc_ref["port"].as_i64().unwrap_or(443);
    let Some(service) = service else {
        return (
            false,
            "ServiceNotFound",
            format!("service/{name} in {namespace:?} is not present"),
        );
    };
    let cluster_ip = service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .is_none_or(|t| t == "ClusterIP");
    if cluster_ip {
        let Some(service_port) = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p["port"].as_i64() == Some(port))
        else {
            return (
                false,
                "ServicePortError",
                format!("service/{name} in {namespace:?} is not listening on port {port}"),
            );
        };
        let port_name = service_port["name"].as_str().unwrap_or_default();
        match endpoints(port_name) {
            Endpoints::NotFound => {
                return (
                    false,
                    "EndpointsNotFound",
                    format!("cannot find endpoints for service/{name} in {namespace:?}"),
                )
            }
            Endpoints::Empty => {
                return (
                    false,
                    "MissingEndpoints",
                    format!("endpoints for service/{name} in {namespace:?} have no addresses with port name {port_name:?}"),
                )
            }
            Endpoints::Ready => {}
        }
    }
    let failing = apiservice
        .pointer(&format!(
            "/metadata/annotations/{}",
            FAIL_READINESS.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .is_some_and(|v| v != "false");
    if failing {
        let group = apiservice
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let version = apiservice
            .pointer("/spec/version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return (
            false,
            "FailedDiscoveryCheck",
            format!("failing or missing response from https://{name}.{namespace}.svc:{port}/apis/{group}/{version}: the backend does not answer ({FAIL_READINESS})"),
        );
    }
    (true, "Passed", "all checks passed".into())
}

/// What an `Endpoints` object says for a port name, as upstream reads it: a subset with
/// addresses and a port of that name.
pub fn read_endpoints(endpoints: &Value, port_name: &str) -> Endpoints {
    let ready = endpoints["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["addresses"].as_array().is_some_and(|a| !a.is_empty()))
        .any(|s| {
            s["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"].as_str().unwrap_or_default() == port_name)
        });
    if ready {
        Endpoints::Ready
    } else {
        Endpoints::Empty
    }
}

/// Whether `labels` carry every pair of the selector (a Service selector is a plain map).
fn selects(selector: &Map<String, Value>, labels: Option<&Value>) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Workloads and where their pods' labels and ready count are.
const BACKENDS: &[(&str, &str, &str, &str)] = &[
    (
        "apps",
        "deployments",
        "/spec/template/metadata/labels",
        "/status/readyReplicas",
    ),
    (
        "apps",
        "statefulsets",
        "/spec/template/metadata/labels",
        "/status/readyReplicas",
    ),
    (
        "apps",
        "daemonsets",
        "/spec/template/metadata/labels",
        "/status/numberReady",
    ),
    (
        "apps",
        "replicasets",
        "/spec/template/metadata/labels",
        "/status/readyReplicas",
    ),
];

/// The endpoints the endpoints controller would give a Service with a selector.
fn simulated_endpoints(cluster: &Cluster, namespace: &str, service: &Value) -> Endpoints {
    let Some(selector) = service.pointer("/spec/selector").and_then(Value::as_object) else {
        return Endpoints::NotFound;
    };
    let workload_ready = BACKENDS.iter().any(|(group, resource, labels, ready)| {
        cluster
            .store
            .list(&GroupResource::new(group, resource), Some(namespace))
            .into_iter()
            .any(|(_, o)| {
                selects(selector, o.pointer(labels))
                    && o.pointer(ready).and_then(Value::as_i64).unwrap_or(0) > 0
            })
    });
    let pod_ready = cluster
        .store
        .list(&GroupResource::new("", "pods"), Some(namespace))
        .into_iter()
        .any(|(_, p)| {
            selects(selector, p.pointer("/metadata/labels"))
                && p.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
    if workload_ready || pod_ready {
        Endpoints::Ready
    } else {
        Endpoints::Empty
    }
}

fn key(group: &str, resource: &str, namespace: Option<&str>, name: &str) -> ObjectKey {
    ObjectKey {
        resource: GroupResource::new(group, resource),
        namespace: namespace.map(str::to_string),
        name: name.to_string(),
    }
}

/// One pass: every APIService whose `Available` condition would change gets it written.
pub fn reconcile_once(cluster: &mut Cluster) {
    let resource = GroupResource::new("apiregistration.k8s.io", "apiservices");
    let writes: Vec<(ObjectKey, Value)> = cluster
        .store
        .list(&resource, None)
        .into_iter()
        .filter(|(_, o)| o.pointer("/metadata/deletionTimestamp").is_none())
        .filter_map(|(k, o)| {
            let namespace = o
                .pointer("/spec/service/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = o
                .pointer("/spec/service/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let service = cluster
                .store
                .get(&key("", "services", Some(namespace), name));
            let explicit = cluster
                .store
                .get(&key("", "endpoints", Some(namespace), name));
            let (ok, reason, message) = available(o, service, |port_name| match explicit {
                Some(e) => read_endpoints(e, port_name),
                None => service.map_or(Endpoints::NotFound, |s| {
                    simulated_endpoints(cluster, namespace, s)
                }),
            });
            let status = if ok { "True" } else { "False" };
            let current = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"));
            let same = |f: &str, v: &str| current.and_then(|c| c[f].as_str()) == Some(v);
            if same("status", status) && same("reason", reason) && same("message", &message) {
                return None;
            }
            let since = current
                .filter(|c| c["status"] == status)
                .and_then(|c| c.get("lastTransitionTime").cloned())
                .unwrap_or_else(|| now_rfc3339().into());
            let mut next = o.clone();
            next["status"] = json!({"conditions": [{"type": "Available", "status": status,
                "lastTransitionTime": since, "reason": reason, "message": message}]});
            Some((k.clone(), next))
        })
        .collect();
    for (k, next) in writes {
        cluster.store.put(k, next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apiservice(service: Value) -> Value {
        json!({"metadata": {"name": "v1beta1.metrics.k8s.io"},
               "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "service": service}})
    }

    #[test]
    fn availability_follows_the_service_its_port_and_its_endpoints_as_upstream() {
        let svc = json!({"spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443}]}});
        let remote = apiservice(json!({"name": "metrics-server", "namespace": "kube-system"}));
        let on_8443 =
            apiservice(json!({"name": "metrics-server", "namespace": "kube-system", "port": 8443}));
        let external = json!({"spec": {"type": "ExternalName"}});
        let mut failing = remote.clone();
        failing["metadata"]["annotations"] = json!({FAIL_READINESS: "true"});
        for (what, api, service, endpoints, want) in [
            (
                "local",
                json!({"spec": {"group": "apps", "version": "v1"}}),
                None,
                Endpoints::NotFound,
                (true, "Local"),
            ),
            (
                "no service",
                remote.clone(),
                None,
                Endpoints::Ready,
                (false, "ServiceNotFound"),
            ),
            (
                "wrong port",
                on_8443,
                Some(&svc),
                Endpoints::Ready,
                (false, "ServicePortError"),
            ),
            (
                "no endpoints",
                remote.clone(),
                Some(&svc),
                Endpoints::NotFound,
                (false, "EndpointsNotFound"),
            ),
            (
                "no address",
                remote.clone(),
                Some(&svc),
                Endpoints::Empty,
                (false, "MissingEndpoints"),
            ),
            (
                "ready",
                remote.clone(),
                Some(&svc),
                Endpoints::Ready,
                (true, "Passed"),
            ),
            (
                "not ClusterIP",
                remote.clone(),
                Some(&external),
                Endpoints::NotFound,
                (true, "Passed"),
            ),
            (
                "backend silent",
                failing,
                Some(&svc),
                Endpoints::Ready,
                (false, "FailedDiscoveryCheck"),
            ),
        ] {
            let (ok, reason, _) = available(&api, service, |_| endpoints);
            assert_eq!((ok, reason), want, "{what}");
        }
        let (_, _, message) = available(&remote, Some(&svc), |_| Endpoints::Empty);
        assert_eq!(
            message,
            r#"endpoints for service/metrics-server in "kube-system" have no addresses with port name "https""#
        );
    }

    #[test]
    fn an_endpoints_object_counts_only_subsets_with_addresses_on_the_port_name() {
        let e = json!({"subsets": [{"addresses": [], "ports": [{"name": "https"}]},
                                   {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "metrics"}]}]});
        assert_eq!(read_endpoints(&e, "https"), Endpoints::Empty);
        assert_eq!(read_endpoints(&e, "metrics"), Endpoints::Ready);
    }

    #[test]
    fn an_apiservice_becomes_available_once_the_deployment_behind_its_service_is_ready() {
        let mut c = Cluster::new(100);
        let put = |c: &mut Cluster,
                   group: &str,
                   resource: &str,
                   ns: Option<&str>,
                   name: &str,
                   v: Value| {
            c.store.put(
                ObjectKey {
                    resource: GroupResource::new(group, resource),
                    namespace: ns.map(str::to_string),
                    name: name.into(),
                },
                v,
            );
        };
        put(
            &mut c,
            "apiregistration.k8s.io",
            "apiservices",
            None,
            "v1beta1.metrics.k8s.io",
            apiservice(json!({"name": "metrics-server", "namespace": "kube-system", "port": 443})),
        );
        let reason = |c: &Cluster| {
            c.store
                .get(&key(
                    "apiregistration.k8s.io",
                    "apiservices",
                    None,
                    "v1beta1.metrics.k8s.io",
                ))
                .unwrap()["status"]["conditions"][0]["reason"]
                .clone()
        };
        reconcile_once(&mut c);
        assert_eq!(reason(&c), "ServiceNotFound");
        put(
            &mut c,
            "",
            "services",
            Some("kube-system"),
            "metrics-server",
            json!({"metadata": {"name": "metrics-server"},
            "spec": {"selector": {"app": "ms"}, "ports": [{"name": "https", "port": 443}]}}),
        );
        let deployment = |ready: i64| {
            json!({"metadata": {"name": "metrics-server"},
            "spec": {"template": {"metadata": {"labels": {"app": "ms", "tier": "x"}}}}, "status": {"readyReplicas": ready}})
        };
        put(
            &mut c,
            "apps",
            "deployments",
            Some("kube-system"),
            "metrics-server",
            deployment(0),
        );
        reconcile_once(&mut c);
        assert_eq!(reason(&c), "MissingEndpoints");
        put(
            &mut c,
            "apps",
            "deployments",
            Some("kube-system"),
            "metrics-server",
            deployment(1),
        );
        reconcile_once(&mut c);
        assert_eq!(reason(&c), "Passed");
        let rv = c.store.current_rv();
        reconcile_once(&mut c);
        assert_eq!(
            c.store.current_rv(),
            rv,
            "a converged APIService is not rewritten"
        );
    }
}
