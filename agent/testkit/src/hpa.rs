//! A small HorizontalPodAutoscaler controller, in the part kube-controller-manager plays for
//! drift: it keeps each HPA's target inside `[minReplicas, maxReplicas]` by writing the target's
//! `scale` subresource as field manager `kube-controller-manager` (an `Update` of subresource
//! `scale`), so the target's `spec.replicas` changes owner as it does on a real cluster, and
//! it records `currentReplicas`/`desiredReplicas` in the HPA's status.
//!
//! There is no metrics pipeline. As the real controller does before it reads any metric
//! (<https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details>:
//! a count above `maxReplicas` or below `minReplicas` is brought inside them first, and a target
//! scaled to 0 disables autoscaling), the recommendation is the target's current count, clamped.
//! The HPA annotation `testkit.sextant.io/desired-replicas` stands for what its metrics would
//! ask, clamped the same way. Deciding is pure (`recommendation`); the loop writes only when
//! the count differs.

use serde_json::{json, Value};

use crate::handler::{Cluster, Write};
use crate::patch::PatchType;
use crate::request::{Query, Target};
use crate::storage::GroupResource;

/// What the HPA's metrics would ask for, as a test sets it.
pub const DESIRED_REPLICAS: &str = "testkit.sextant.io/desired-replicas";

/// The field manager the controller writes as, kube-controller-manager's.
pub const MANAGER: &str = "kube-controller-manager";

/// The replica count the HPA wants for a target now at `current`; `None` leaves it alone.
pub fn recommendation(hpa: &Value, current: i64) -> Option<i64> {
    if current == 0 {
        return None;
    }
    let min = hpa
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let max = hpa.pointer("/spec/maxReplicas").and_then(Value::as_i64)?;
    let asked = hpa
        .pointer(&format!(
            "/metadata/annotations/{}",
            DESIRED_REPLICAS.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(current);
    Some(asked.clamp(min, max.max(min)))
}

/// One pass: every HPA whose target's count is off gets it scaled, then its status written.
pub fn reconcile_once(cluster: &mut Cluster) {
    let hpas: Vec<Value> = cluster
        .store
        .list(
            &GroupResource::new("autoscaling", "horizontalpodautoscalers"),
            None,
        )
        .into_iter()
        .filter(|(_, o)| o.pointer("/metadata/deletionTimestamp").is_none())
        .map(|(_, o)| o.clone())
        .collect();
    for hpa in hpas {
        let namespace = hpa["metadata"]["namespace"].as_str().map(String::from);
        let target = &hpa["spec"]["scaleTargetRef"];
        let (Some(api_version), Some(kind), Some(name)) = (
            target["apiVersion"].as_str(),
            target["kind"].as_str(),
            target["name"].as_str(),
        ) else {
            continue;
        };
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let Some(rt) = cluster.registry.find_kind(group, version, kind).cloned() else {
            continue;
        };
        if rt.scale.is_none() {
            continue;
        }
        let scale = Target {
            rt,
            namespace: namespace.clone(),
            name: Some(name.to_string()),
            subresource: Some("scale".into()),
            watch_prefix: false,
        };
        let Ok((_, live)) = cluster.live(&scale) else {
            continue;
        };
        let current = live
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let Some(desired) = recommendation(&hpa, current) else {
            continue;
        };
        if desired != current {
            let body = json!({"spec": {"replicas": desired}}).to_string();
            let _ = cluster.patch(
                &Write {
                    target: &scale,
                    query: &Query::default(),
                    body: body.as_bytes(),
                    content_type: "application/merge-patch+json",
                    manager: Some(MANAGER.into()),
                },
                PatchType::Merge,
            );
        }
        let status = json!({"currentReplicas": current, "desiredReplicas": desired});
        if hpa["status"]["currentReplicas"] != status["currentReplicas"]
            || hpa["status"]["desiredReplicas"] != status["desiredReplicas"]
        {
            let Some(hpa_rt) = cluster
                .registry
                .find_kind("autoscaling", "v2", "HorizontalPodAutoscaler")
                .cloned()
            else {
                continue;
            };
            let body = json!({"status": status}).to_string();
            let _ = cluster.patch(
                &Write {
                    target: &Target {
                        rt: hpa_rt,
                        namespace,
                        name: hpa["metadata"]["name"].as_str().map(String::from),
                        subresource: Some("status".into()),
                        watch_prefix: false,
                    },
                    query: &Query::default(),
                    body: body.as_bytes(),
                    content_type: "application/merge-patch+json",
                    manager: Some(MANAGER.into()),
                },
                PatchType::Merge,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(min: Option<i64>, max: i64, asked: Option<&str>) -> Value {
        let mut h = json!({"metadata": {"name": "web"}, "spec": {"maxReplicas": max}});
        if let Some(m) = min {
            h["spec"]["minReplicas"] = m.into();
        }
        if let Some(a) = asked {
            h["metadata"]["annotations"] = json!({ DESIRED_REPLICAS: a });
        }
        h
    }

    #[test]
    fn a_count_outside_the_bounds_is_brought_inside_them() {
        assert_eq!(recommendation(&hpa(Some(2), 10, None), 1), Some(2));
        assert_eq!(recommendation(&hpa(Some(2), 10, None), 12), Some(10));
        assert_eq!(recommendation(&hpa(Some(2), 10, None), 4), Some(4));
        // minReplicas defaults to 1.
        assert_eq!(recommendation(&hpa(None, 10, None), 1), Some(1));
    }

    #[test]
    fn what_metrics_ask_is_clamped_and_zero_disables_autoscaling() {
        assert_eq!(recommendation(&hpa(Some(2), 10, Some("5")), 2), Some(5));
        assert_eq!(recommendation(&hpa(Some(2), 10, Some("50")), 2), Some(10));
        assert_eq!(recommendation(&hpa(Some(2), 10, Some("5")), 0), None);
    }

    #[test]
    fn scaling_moves_the_targets_replicas_to_kube_controller_manager() {
        let mut c = Cluster::new(100);
        let apply = |c: &mut Cluster, group: &str, version: &str, kind: &str, obj: Value| {
            let rt = c.registry.find_kind(group, version, kind).unwrap().clone();
            let t = Target {
                rt,
                namespace: obj["metadata"]["namespace"].as_str().map(String::from),
                name: obj["metadata"]["name"].as_str().map(String::from),
                subresource: None,
                watch_prefix: false,
            };
            let body = obj.to_string();
            c.patch(
                &Write {
                    target: &t,
                    query: &Query::default(),
                    body: body.as_bytes(),
                    content_type: "application/apply-patch+yaml",
                    manager: Some("sextant".into()),
                },
                PatchType::Apply,
            )
            .unwrap();
        };
        apply(
            &mut c,
            "",
            "v1",
            "Namespace",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
        );
        apply(
            &mut c,
            "apps",
            "v1",
            "Deployment",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "app"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        );
        apply(
            &mut c,
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "app",
                    "annotations": {DESIRED_REPLICAS: "4"}},
                "spec": {"minReplicas": 2, "maxReplicas": 10,
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}),
        );
        reconcile_once(&mut c);
        let key = |resource: &str| crate::storage::ObjectKey {
            resource: GroupResource::new(
                if resource == "deployments" {
                    "apps"
                } else {
                    "autoscaling"
                },
                resource,
            ),
            namespace: Some("app".into()),
            name: "web".into(),
        };
        let d = c.store.get(&key("deployments")).unwrap().clone();
        assert_eq!(d["spec"]["replicas"], 4);
        let owner = d["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == MANAGER)
            .expect("an entry of kube-controller-manager");
        assert_eq!(owner["operation"], "Update");
        assert_eq!(owner["subresource"], "scale");
        assert!(owner["fieldsV1"]["f:spec"]["f:replicas"].is_object());
        let h = c.store.get(&key("horizontalpodautoscalers")).unwrap();
        assert_eq!(h["status"]["desiredReplicas"], 4);
        // Nothing more to do: a second pass writes nothing.
        let rv = c.store.current_rv();
        reconcile_once(&mut c);
        reconcile_once(&mut c);
        assert_eq!(c.store.current_rv(), rv + 1, "one status write, then quiet");
    }
}
