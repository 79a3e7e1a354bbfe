//! The defaulting the real API server applies to built-in kinds on every write, for the
//! fields charts usually leave out: Secret type, Service type,
//! ports and cluster IP, container and pod-spec defaults, workload replicas and rollout
//! settings. Appliers do not own defaulted fields; updaters do (as upstream).

use serde_json::{json, Value};

use crate::kinds::ResourceType;

fn or_insert(obj: &mut Value, key: &str, value: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key.to_string()).or_insert(value);
    }
}

fn containers(spec: &mut Value) {
    for field in ["initContainers", "containers"] {
        let Some(list) = spec.get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in list {
            let image = c["image"].as_str().unwrap_or_default();
            let latest = !image.rsplit('/').next().unwrap_or_default().contains(':')
                || image.ends_with(":latest");
            let pull = if latest && !image.contains('@') {
                "Always"
            } else {
                "IfNotPresent"
            };
            or_insert(c, "imagePullPolicy", json!(pull));
            or_insert(c, "terminationMessagePath", json!("/dev/termination-log"));
            or_insert(c, "terminationMessagePolicy", json!("File"));
            for p in c
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                or_insert(p, "protocol", json!("TCP"));
            }
        }
    }
}

/// Pod-spec defaults; Jobs get no `restartPolicy` (theirs is required, never `Always`).
fn pod_spec(spec: &mut Value, restart_always: bool) {
    if !spec.is_object() {
        return;
    }
    containers(spec);
    if restart_always {
        or_insert(spec, "restartPolicy", json!("Always"));
    }
    for (k, v) in [
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
    ] {
        or_insert(spec, k, v);
    }
}

/// Fill in defaults; `old` supplies what the server allocated before (a Service's IP).
pub fn apply(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    next_ip: impl FnOnce() -> String,
) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        // `stringData` was folded into `data` with the rest of the encoding (kube-canonical).
        ("", "secrets") => or_insert(obj, "type", json!("Opaque")),
        ("", "services") => service(obj, old, next_ip),
        ("", "pods") => pod_spec(&mut obj["spec"], true),
        ("apps", "deployments") => {
            or_insert(&mut obj["spec"], "replicas", json!(1));
            or_insert(&mut obj["spec"], "revisionHistoryLimit", json!(10));
            or_insert(&mut obj["spec"], "progressDeadlineSeconds", json!(600));
            or_insert(
                &mut obj["spec"],
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            pod_spec(&mut obj["spec"]["template"]["spec"], true);
        }
        ("apps", "statefulsets") | ("apps", "replicasets") => {
            or_insert(&mut obj["spec"], "replicas", json!(1));
            pod_spec(&mut obj["spec"]["template"]["spec"], true);
        }
        ("apps", "daemonsets") => pod_spec(&mut obj["spec"]["template"]["spec"], true),
        ("batch", "jobs") => pod_spec(&mut obj["spec"]["template"]["spec"], false),
        _ => {}
    }
}

fn service(obj: &mut Value, old: Option<&Value>, next_ip: impl FnOnce() -> String) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        return;
    }
    or_insert(spec, "type", json!("ClusterIP"));
    or_insert(spec, "sessionAffinity", json!("None"));
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        or_insert(p, "protocol", json!("TCP"));
        let port = p["port"].clone();
        or_insert(p, "targetPort", port);
    }
    if spec["type"] == "ExternalName" || spec.get("clusterIP").is_some() {
        return;
    }
    let ip = old
        .and_then(|o| o.pointer("/spec/clusterIP"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(next_ip);
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;

    #[test]
    fn secrets_fold_string_data_and_services_get_ports_and_an_ip() {
        let r = Registry::default();
        let mut secret = json!({"data": {"k": "Zm9v"}});
        apply(
            r.find("", "v1", "secrets").unwrap(),
            &mut secret,
            None,
            || unreachable!(),
        );
        assert_eq!(secret, json!({"data": {"k": "Zm9v"}, "type": "Opaque"}));
        let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
        apply(
            r.find("", "v1", "services").unwrap(),
            &mut svc,
            None,
            || "10.96.0.10".into(),
        );
        assert_eq!(
            svc["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(
            (
                svc["spec"]["clusterIP"].as_str(),
                svc["spec"]["type"].as_str()
            ),
            (Some("10.96.0.10"), Some("ClusterIP"))
        );
    }

    #[test]
    fn deployments_get_rollout_and_container_defaults() {
        let r = Registry::default();
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}});
        apply(
            r.find("apps", "v1", "deployments").unwrap(),
            &mut d,
            None,
            || unreachable!(),
        );
        assert_eq!(d["spec"]["replicas"], 1);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            (
                c["imagePullPolicy"].as_str(),
                c["ports"][0]["protocol"].as_str()
            ),
            (Some("IfNotPresent"), Some("TCP"))
        );
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }
}
