//! `meta.k8s.io/v1 Table` answers for clients that ask for them (`kubectl get` does), with
//! the familiar columns for the common kinds and `NAME`/`AGE` for the rest.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::kinds::ResourceType;

/// Whether the `Accept` header asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept.contains("as=Table")
}

type Column = (&'static str, &'static str, fn(&Value) -> Value);

fn text(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Null) | None => Value::String("<none>".into()),
        Some(other) => Value::String(other.to_string()),
    }
}

fn int(o: &Value, path: &str) -> i64 {
    o.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

fn columns(rt: &ResourceType) -> Vec<Column> {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", plural) => apps_columns(plural),
        ("batch", "jobs") => job_columns(),
        ("", "pods") => pod_columns(),
        ("", "services") => service_columns(),
        ("", "namespaces") | ("", "persistentvolumeclaims") => {
            vec![("Status", "string", |o| text(o.pointer("/status/phase")))]
        }
        ("", "configmaps") | ("", "secrets") => {
            vec![("Data", "integer", |o| {
                o.get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
                    .into()
            })]
        }
        _ => Vec::new(),
    }
}

/// `ready/replicas`, as Deployments and StatefulSets show it.
fn ready_of_replicas(o: &Value) -> Value {
    format!(
        "{}/{}",
        int(o, "/status/readyReplicas"),
        int(o, "/spec/replicas")
    )
    .into()
}

fn apps_columns(plural: &str) -> Vec<Column> {
    match plural {
        "deployments" => vec![
            ("Ready", "string", ready_of_replicas),
            ("Up-to-date", "integer", |o| {
                int(o, "/status/updatedReplicas").into()
            }),
            ("Available", "integer", |o| {
                int(o, "/status/availableReplicas").into()
            }),
        ],
        "statefulsets" => vec![("Ready", "string", ready_of_replicas)],
        "replicasets" => vec![
            ("Desired", "integer", |o| int(o, "/spec/replicas").into()),
            ("Current", "integer", |o| int(o, "/status/replicas").into()),
            ("Ready", "integer", |o| {
                int(o, "/status/readyReplicas").into()
            }),
        ],
        "daemonsets" => vec![
            ("Desired", "integer", |o| {
                int(o, "/status/desiredNumberScheduled").into()
            }),
            ("Current", "integer", |o| {
                int(o, "/status/currentNumberScheduled").into()
            }),
            ("Ready", "integer", |o| int(o, "/status/numberReady").into()),
            ("Up-to-date", "integer", |o| {
                int(o, "/status/updatedNumberScheduled").into()
            }),
            ("Available", "integer", |o| {
                int(o, "/status/numberAvailable").into()
            }),
        ],
        _ => Vec::new(),
    }
}

fn job_columns() -> Vec<Column> {
    vec![
        ("Status", "string", |o| {
            let done = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Complete" && c["status"] == "True");
            Value::String(if done { "Complete" } else { "Running" }.into())
        }),
        ("Completions", "string", |o| {
            let want = o
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            format!("{}/{want}", int(o, "/status/succeeded")).into()
        }),
    ]
}

fn pod_columns() -> Vec<Column> {
    vec![
        ("Ready", "string", |o| {
            let n = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = o.pointer("/status/phase") == Some(&json!("Running"));
            format!("{}/{n}", if ready { n } else { 0 }).into()
        }),
        ("Status", "string", |o| text(o.pointer("/status/phase"))),
    ]
}

fn service_columns() -> Vec<Column> {
    vec![
        ("Type", "string", |o| {
            text(o.pointer("/spec/type").or(Some(&json!("ClusterIP"))))
        }),
        ("External-IP", "string", |o| {
            text(o.pointer("/status/loadBalancer/ingress/0/ip"))
        }),
        ("Port(s)", "string", |o| {
            let ports = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            let list: Vec<String> = ports
                .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                .collect();
            Value::String(if list.is_empty() {
                "<none>".into()
            } else {
                list.join(",")
            })
        }),
    ]
}

/// Parse an RFC 3339 time into seconds since the epoch.
fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

/// kubectl's short ages: `45s`, `3m12s`, `47m`, `5h`, `3d`.
pub fn human_age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn age(o: &Value) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
    {
        Some(t) => human_age(now - t).into(),
        None => "<unknown>".into(),
    }
}

/// A Table of the objects, with `resourceVersion` (and `continue`) from `list_meta`.
pub fn to_table(rt: &ResourceType, objects: &[Value], list_meta: Value) -> Value {
    let cols = columns(rt);
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}),
    ];
    for (name, kind, _) in &cols {
        defs.push(
            json!({"name": name, "type": kind, "format": "", "description": name, "priority": 0}),
        );
    }
    defs.push(
        json!({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}),
    );
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
            cells.extend(cols.iter().map(|(_, _, f)| f(o)));
            cells.push(age(o));
            let metadata = o.get("metadata").cloned().unwrap_or(json!({}));
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;

    #[test]
    fn deployments_show_ready_over_desired() {
        let r = Registry::default();
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"replicas": 3}, "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let t = to_table(
            r.find("apps", "v1", "deployments").unwrap(),
            &[d],
            json!({}),
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            vec!["Name", "Ready", "Up-to-date", "Available", "Age"]
        );
        assert_eq!(t["rows"][0]["cells"][1], "2/3");
        assert!(t["rows"][0]["cells"][4].as_str().unwrap().ends_with('d'));
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(parse_rfc3339("1970-01-02T00:00:10Z"), Some(86_410));
        assert_eq!(
            parse_rfc3339(&crate::meta::format_rfc3339(1_709_251_199)),
            Some(1_709_251_199)
        );
        assert_eq!(
            (
                human_age(5),
                human_age(200),
                human_age(7200),
                human_age(3 * 86_400)
            ),
            ("5s".into(), "3m20s".into(), "120m".into(), "3d".into())
        );
    }
}
