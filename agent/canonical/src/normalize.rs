//! An object as the API server stores it, before defaulting: what a write keeps of what a client
//! sent. The rules, each from the server's own encoding:
//!
//! - `null` means "no value" and is never stored (encoding/json leaves a Go value at its zero
//!   value for `null`; server-side apply treats it as unset).
//! - Built-in kinds are decoded into their Go types, stored as protobuf and encoded back with
//!   encoding/json. So a zero scalar under `omitempty` on a non-pointer field is dropped
//!   (`hostNetwork: false`, `minReadySeconds: 0`), and an empty list or map is not kept apart from
//!   an absent one (protobuf has no empty-versus-nil; `tolerations: []`). Structs are kept,
//!   empty or not (`emptyDir: {}`), and so are pointers' zero values (`replicas: 0`).
//! - Quantities are stored in canonical form (see [`crate::quantity`]); a number in an integer
//!   or int-or-string field is an integer (`1.0` → `1`).
//! - A Secret's `stringData` is write-only: the server merges it into `data`, base64-encoded,
//!   its keys winning (core/v1 `SecretStrategy`).
//! - Every object's `metadata` is `ObjectMeta`, custom resources included; the rest of a custom
//!   resource is stored as sent, less its nulls.

use crate::quantity;
use crate::table::{Struct, Table, Ty};
use serde_json::{Map, Number, Value};

/// Rewrites `obj` (a whole object with `apiVersion` and `kind`) to what the server stores.
pub fn canonicalize(obj: &mut Value) {
    let table = Table::get();
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match table.kind(&api_version, &kind) {
        Some(root) => {
            walk_struct(table, map, root);
            if api_version == "v1" && kind == "Secret" {
                fold_string_data(map);
            }
        }
        None => {
            drop_nulls_in(map);
            if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                walk_struct(table, meta, table.object_meta());
            }
        }
    }
}

fn fold_string_data(map: &mut Map<String, Value>) {
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(data) = data {
        for (k, v) in strings {
            let text = v.as_str().unwrap_or_default();
            data.insert(k, Value::String(crate::base64::encode(text.as_bytes())));
        }
    }
}

/// Removes `null` from every mapping, at every depth (list items' mappings included).
pub fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => drop_nulls_in(m),
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn drop_nulls_in(m: &mut Map<String, Value>) {
    m.retain(|_, v| !v.is_null());
    m.values_mut().for_each(drop_nulls);
}

fn walk_struct(table: &Table, map: &mut Map<String, Value>, s: &Struct) {
    map.retain(|_, v| !v.is_null());
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        let Some(field) = s.fields.get(&k) else {
            // Not in the table (a newer field): stored as sent, less its nulls.
            if let Some(v) = map.get_mut(&k) {
                drop_nulls(v);
            }
            continue;
        };
        let Some(v) = map.get_mut(&k) else { continue };
        walk(table, v, &field.ty);
        let empty_collection =
            matches!(field.ty, Ty::List(_) | Ty::Map(_) | Ty::Bytes) && is_empty(v);
        if empty_collection || (field.omitempty && is_zero_scalar(v, &field.ty)) {
            map.remove(&k);
        }
    }
}

fn walk(table: &Table, v: &mut Value, ty: &Ty) {
    match ty {
        Ty::Struct(i) => {
            if let Value::Object(m) = v {
                walk_struct(table, m, &table.structs[*i]);
            }
        }
        Ty::List(elem) => {
            if let Value::Array(items) = v {
                for item in items {
                    walk(table, item, elem);
                }
            }
        }
        Ty::Map(elem) => {
            if let Value::Object(m) = v {
                m.retain(|_, x| !x.is_null());
                for x in m.values_mut() {
                    walk(table, x, elem);
                }
            }
        }
        Ty::Quantity => {
            let text = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            if let Some(c) = text.as_deref().and_then(quantity::canonical) {
                *v = Value::String(c);
            }
        }
        Ty::Integer | Ty::IntOrString => integral(v),
        Ty::SchemaOrArray | Ty::SchemaOrBool => {
            if let Some(props) = table.json_schema_props() {
                match v {
                    Value::Object(m) => walk_struct(table, m, props),
                    Value::Array(items) if *ty == Ty::SchemaOrArray => {
                        for item in items.iter_mut() {
                            if let Value::Object(m) = item {
                                walk_struct(table, m, props);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ty::Any => drop_nulls(v),
        Ty::String | Ty::Boolean | Ty::Number | Ty::Bytes | Ty::Time => {}
    }
}

/// `1.0` → `1`: the server decodes an integral float into an integer field.
fn integral(v: &mut Value) {
    if let Value::Number(n) = v {
        if n.is_f64() {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *v = Value::Number(Number::from(f as i64));
                }
            }
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The Go zero value of a scalar field (structs, quantities and int-or-string are structs in Go:
/// `omitempty` never drops them).
fn is_zero_scalar(v: &Value, ty: &Ty) -> bool {
    match ty {
        Ty::String | Ty::Bytes => v.as_str() == Some(""),
        Ty::Boolean => v.as_bool() == Some(false),
        Ty::Integer | Ty::Number => v.as_f64() == Some(0.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(mut v: Value) -> Value {
        canonicalize(&mut v);
        v
    }

    #[test]
    fn drops_nulls_and_omitempty_zero_values_of_built_in_kinds() {
        let d = canon(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "annotations": null, "labels": {"a": "1", "b": null}},
            "spec": {
                "replicas": 0, "minReadySeconds": 0, "paused": false,
                "template": {"metadata": {"labels": {}}, "spec": {
                    "hostNetwork": false, "tolerations": [], "affinity": {"podAffinity": null},
                    "volumes": [{"name": "v", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}}],
                    "containers": [{"name": "c", "image": "i", "stdin": false,
                        "ports": [{"containerPort": 80, "hostPort": 0, "name": ""}],
                        "livenessProbe": {"initialDelaySeconds": 0, "periodSeconds": 10, "httpGet": {"port": 8080.0, "path": "/"}},
                        "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}, "requests": {"cpu": 0.5, "memory": "1.5Gi"}}}]}}}
        }));
        assert_eq!(d["metadata"], json!({"name": "d", "labels": {"a": "1"}}));
        // `replicas` is a pointer: 0 is kept.
        assert_eq!(d["spec"]["replicas"], 0);
        assert!(d["spec"].get("minReadySeconds").is_none() && d["spec"].get("paused").is_none());
        let pod = &d["spec"]["template"]["spec"];
        assert!(pod.get("hostNetwork").is_none() && pod.get("tolerations").is_none());
        // A struct is kept even when it ends up empty.
        assert_eq!(pod["affinity"], json!({}));
        assert_eq!(pod["volumes"][0], json!({"name": "v", "emptyDir": {}}));
        assert_eq!(d["spec"]["template"]["metadata"], json!({}));
        let c = &pod["containers"][0];
        assert!(c.get("stdin").is_none());
        assert_eq!(c["ports"], json!([{"containerPort": 80}]));
        assert_eq!(
            c["livenessProbe"],
            json!({"periodSeconds": 10, "httpGet": {"port": 8080, "path": "/"}})
        );
        assert_eq!(
            c["resources"],
            json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1536Mi"}})
        );
    }

    #[test]
    fn service_ports_and_config_data() {
        let s = canon(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "nodePort": null, "targetPort": "http"}], "selector": {}}}),
        );
        assert_eq!(
            s["spec"],
            json!({"ports": [{"port": 80, "targetPort": "http"}]})
        );
        let c = canon(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": null}),
        );
        assert_eq!(
            c,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        );
        let r = canon(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}, "rules": null}),
        );
        assert!(r.get("rules").is_none());
    }

    #[test]
    fn secret_string_data_is_stored_in_data() {
        let s = canon(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "YQ==", "b": "old"}, "stringData": {"b": "foo"}}),
        );
        assert_eq!(s["data"], json!({"a": "YQ==", "b": "Zm9v"}));
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn an_api_service_is_stored_as_kube_aggregator_encodes_it() {
        // k8s.io/kube-aggregator apiregistration/v1: insecureSkipTLSVerify is omitempty, the
        // priorities are not.
        let api = canon(
            json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": false,
                     "groupPriorityMinimum": 0, "versionPriority": 100, "caBundle": "",
                     "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443}}}),
        );
        assert_eq!(
            api["spec"],
            json!({"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 0,
                   "versionPriority": 100,
                   "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443}})
        );
        let wrong = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "x"}, "spec": {"versionPriority": "high"}});
        assert_eq!(
            crate::validate(&wrong)[0].to_string(),
            ".spec.versionPriority: expected numeric (int or float), got string"
        );
    }

    #[test]
    fn custom_resources_keep_what_they_send_less_nulls() {
        let cr = canon(json!({"apiVersion": "example.io/v1", "kind": "Thing",
            "metadata": {"name": "t", "annotations": {}},
            "spec": {"enabled": false, "count": 0, "items": [], "opt": null, "list": [{"a": null, "b": 1}], "cpu": "1000m"}}));
        assert_eq!(
            cr["spec"],
            json!({"enabled": false, "count": 0, "items": [], "list": [{"b": 1}], "cpu": "1000m"})
        );
        assert_eq!(cr["metadata"], json!({"name": "t"}));
    }

    #[test]
    fn crd_schemas_are_walked_through_items_and_additional_properties() {
        let crd = canon(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.io"},
            "spec": {"group": "example.io", "names": {"kind": "Thing", "plural": "things"}, "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "nullable": false, "required": [],
                    "properties": {"spec": {"type": "array", "items": {"type": "string", "description": ""}},
                                   "m": {"type": "object", "additionalProperties": {"type": "string", "nullable": false}}}}}}]}}),
        );
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert_eq!(
            schema,
            &json!({"type": "object", "properties": {"spec": {"type": "array", "items": {"type": "string"}},
                "m": {"type": "object", "additionalProperties": {"type": "string"}}}})
        );
        // `served: false` is not omitempty: it is stored.
        assert_eq!(crd["spec"]["versions"][0]["served"], true);
    }
}
