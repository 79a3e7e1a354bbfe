//! Desired against live: the one notion of "Git's state is already live", shared by apply's
//! skip decision, `sextant diff` and (next) drift. Pure.
//!
//! Git's object is first put in the form the API server stores (`kube_canonical`: nulls and
//! `omitempty` zero values dropped, quantities canonical, `stringData` folded into `data`), then
//! every field it sets must hold the same value live. Fields only the cluster sets (defaults,
//! status, other managers' list items) are not differences. A field Git stops setting changes the
//! object's `sextant.io/hash` annotation, which is itself a field Git sets, so removals are seen.
//!
//! Lists are compared as server-side apply merges them: list-maps by their keys (`containers` by
//! `name`, `ports` by `containerPort` and `protocol`, from the field table), sets as sets, other
//! lists whole and in order.
//!
//! Why local rules rather than a server-side dry-run per object (Argo CD's server-side diff): a
//! comparison runs on every sync for every object, and soon on every watch event; a dry-run costs
//! one API request each, on the hot path, and makes `diff` and drift depend on the API server
//! answering. The rules are the server's own encoding, taken from its Go types, and kube-testkit
//! stores by the same table; the kind workflow checks them against a real API server.

mod comparison;
pub mod ignore;
pub mod owner;

pub use comparison::{made, Comparison, FieldDrift, Keep, Respected};
use kube_canonical::{Field, ListType, Struct, Table, Ty};
use serde_json::{Map, Value};

/// A field Git sets whose live value differs.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    /// JSON pointer into Git's object (list items by their position in Git).
    pub path: String,
    pub git: Value,
    /// `None`: the field is absent live.
    pub live: Option<Value>,
}

/// Git's object as the server will store it.
pub fn canonical(desired: &Value) -> Value {
    let mut d = desired.clone();
    kube_canonical::canonicalize(&mut d);
    d
}

/// Whether every field Git sets already holds Git's value live.
pub fn in_sync(desired: &Value, live: &Value) -> bool {
    differences(desired, live).is_empty()
}

/// Every field Git sets that differs live.
pub fn differences(desired: &Value, live: &Value) -> Vec<FieldDiff> {
    differences_of_canonical(&canonical(desired), live)
}

/// [`differences`] of a Git object already in the form the server stores.
fn differences_of_canonical(d: &Value, live: &Value) -> Vec<FieldDiff> {
    let table = Table::get();
    let root = table.kind(
        d["apiVersion"].as_str().unwrap_or_default(),
        d["kind"].as_str().unwrap_or_default(),
    );
    let mut out = Vec::new();
    let mut walker = Walker {
        table,
        out: &mut out,
    };
    match root {
        Some(s) => walker.structure(d, live, s, ""),
        None => {
            // A custom resource: its metadata is ObjectMeta, the rest compared generically.
            if let (Value::Object(dm), Value::Object(lm)) = (d, live) {
                for (k, dv) in dm {
                    let path = format!("/{}", escape(k));
                    match (k.as_str(), lm.get(k)) {
                        ("metadata", Some(lv)) => {
                            walker.structure(dv, lv, table.object_meta(), &path)
                        }
                        (_, Some(lv)) => walker.value(dv, lv, None, &path),
                        (_, None) => walker.missing(dv, &path),
                    }
                }
            } else if d != live {
                walker.differ(d, live, "");
            }
        }
    }
    out
}

struct Walker<'a> {
    table: &'a Table,
    out: &'a mut Vec<FieldDiff>,
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

impl Walker<'_> {
    fn differ(&mut self, git: &Value, live: &Value, path: &str) {
        self.out.push(FieldDiff {
            path: path.to_string(),
            git: git.clone(),
            live: Some(live.clone()),
        });
    }

    fn missing(&mut self, git: &Value, path: &str) {
        self.out.push(FieldDiff {
            path: path.to_string(),
            git: git.clone(),
            live: None,
        });
    }

    fn structure(&mut self, d: &Value, l: &Value, s: &Struct, path: &str) {
        let (Value::Object(dm), Value::Object(lm)) = (d, l) else {
            if !same_scalar(d, l) {
                self.differ(d, l, path);
            }
            return;
        };
        for (k, dv) in dm {
            let here = format!("{path}/{}", escape(k));
            match lm.get(k) {
                None => self.missing(dv, &here),
                Some(lv) => self.value(dv, lv, s.fields.get(k), &here),
            }
        }
    }

    fn value(&mut self, d: &Value, l: &Value, field: Option<&Field>, path: &str) {
        match field.map(|f| (&f.ty, f)) {
            Some((Ty::Struct(i), _)) => {
                let s = &self.table.structs[*i];
                self.structure(d, l, s, path)
            }
            Some((Ty::List(elem), f)) => self.list(d, l, elem, f, path),
            Some((Ty::Map(elem), _)) => self.map(d, l, Some(elem), path),
            Some((Ty::SchemaOrArray | Ty::SchemaOrBool, _)) => match self.table.json_schema_props()
            {
                Some(props) if d.is_object() => self.structure(d, l, props, path),
                _ => self.generic(d, l, path),
            },
            Some(_) => {
                if !same_scalar(d, l) {
                    self.differ(d, l, path);
                }
            }
            None => self.generic(d, l, path),
        }
    }

    fn map(&mut self, d: &Value, l: &Value, elem: Option<&Ty>, path: &str) {
        let (Value::Object(dm), Value::Object(lm)) = (d, l) else {
            return self.generic(d, l, path);
        };
        for (k, dv) in dm {
            let here = format!("{path}/{}", escape(k));
            match (lm.get(k), elem) {
                (None, _) => self.missing(dv, &here),
                (Some(lv), Some(Ty::Struct(i))) => {
                    let s = &self.table.structs[*i];
                    self.structure(dv, lv, s, &here)
                }
                (
                    Some(lv),
                    Some(
                        Ty::Quantity
                        | Ty::String
                        | Ty::Bytes
                        | Ty::Boolean
                        | Ty::Integer
                        | Ty::Number,
                    ),
                ) => {
                    if !same_scalar(dv, lv) {
                        self.differ(dv, lv, &here);
                    }
                }
                (Some(lv), _) => self.generic(dv, lv, &here),
            }
        }
    }

    fn list(&mut self, d: &Value, l: &Value, elem: &Ty, f: &Field, path: &str) {
        let (Value::Array(di), Value::Array(li)) = (d, l) else {
            return self.generic(d, l, path);
        };
        match f.list_type {
            Some(ListType::Map) if !f.keys.is_empty() => {
                for (i, item) in di.iter().enumerate() {
                    let here = format!("{path}/{i}");
                    match li.iter().find(|x| same_keys(item, x, &f.keys)) {
                        None => self.missing(item, &here),
                        Some(live_item) => self.item(item, live_item, elem, &here),
                    }
                }
            }
            Some(ListType::Set) => {
                for (i, item) in di.iter().enumerate() {
                    if !li.iter().any(|x| same_scalar(item, x)) {
                        self.missing(item, &format!("{path}/{i}"));
                    }
                }
            }
            _ => {
                if di.len() != li.len() {
                    return self.differ(d, l, path);
                }
                for (i, (item, live_item)) in di.iter().zip(li).enumerate() {
                    self.item(item, live_item, elem, &format!("{path}/{i}"));
                }
            }
        }
    }

    fn item(&mut self, d: &Value, l: &Value, elem: &Ty, path: &str) {
        match elem {
            Ty::Struct(i) => {
                let s = &self.table.structs[*i];
                self.structure(d, l, s, path)
            }
            Ty::Any => self.generic(d, l, path),
            _ => {
                if !same_scalar(d, l) {
                    self.differ(d, l, path);
                }
            }
        }
    }

    /// No schema: mappings by key, lists whole and in order, scalars by value.
    fn generic(&mut self, d: &Value, l: &Value, path: &str) {
        match (d, l) {
            (Value::Object(dm), Value::Object(lm)) => {
                for (k, dv) in dm {
                    let here = format!("{path}/{}", escape(k));
                    match lm.get(k) {
                        None => self.missing(dv, &here),
                        Some(lv) => self.generic(dv, lv, &here),
                    }
                }
            }
            (Value::Array(di), Value::Array(li)) if di.len() == li.len() => {
                for (i, (x, y)) in di.iter().zip(li).enumerate() {
                    self.generic(x, y, &format!("{path}/{i}"));
                }
            }
            _ => {
                if !same_scalar(d, l) {
                    self.differ(d, l, path);
                }
            }
        }
    }
}

/// What `live` becomes once Git's fields are applied over it (for showing a diff): mappings
/// merged, list-maps merged by key, other lists replaced.
pub fn merged(desired: &Value, live: &Value) -> Value {
    let d = canonical(desired);
    let table = Table::get();
    let root = table.kind(
        d["apiVersion"].as_str().unwrap_or_default(),
        d["kind"].as_str().unwrap_or_default(),
    );
    overlay(
        table,
        &d,
        live,
        root.map(|s| Ty::Struct(index_of(table, s))).as_ref(),
    )
}

/// A struct's place in the field table (the index `Ty::Struct` names it by).
fn index_of(table: &Table, s: &Struct) -> usize {
    table
        .structs
        .iter()
        .position(|x| std::ptr::eq(x, s))
        .unwrap_or_default()
}

fn overlay(table: &Table, d: &Value, l: &Value, ty: Option<&Ty>) -> Value {
    match (d, l) {
        (Value::Object(dm), Value::Object(lm)) => {
            let fields = match ty {
                Some(Ty::Struct(i)) => Some(&table.structs[*i]),
                _ => None,
            };
            let mut out = lm.clone();
            for (k, dv) in dm {
                let field = fields.and_then(|s| s.fields.get(k));
                let elem_ty = match (ty, field) {
                    (Some(Ty::Map(elem)), _) => Some(elem.as_ref().clone()),
                    (_, Some(f)) => Some(f.ty.clone()),
                    _ => None,
                };
                let merged = match (lm.get(k), field) {
                    (Some(lv), Some(f))
                        if matches!(f.list_type, Some(ListType::Map)) && !f.keys.is_empty() =>
                    {
                        merge_list_map(table, dv, lv, f)
                    }
                    (Some(lv), _) => overlay(table, dv, lv, elem_ty.as_ref()),
                    (None, _) => dv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        _ => d.clone(),
    }
}

fn merge_list_map(table: &Table, d: &Value, l: &Value, f: &Field) -> Value {
    let (Value::Array(di), Value::Array(li), Ty::List(elem)) = (d, l, &f.ty) else {
        return d.clone();
    };
    let mut out: Vec<Value> = li.clone();
    for item in di {
        match out.iter().position(|x| same_keys(item, x, &f.keys)) {
            Some(i) => out[i] = overlay(table, item, &out[i], Some(elem)),
            None => out.push(item.clone()),
        }
    }
    Value::Array(out)
}

fn same_keys(a: &Value, b: &Value, keys: &[String]) -> bool {
    keys.iter().all(|k| match (a.get(k), b.get(k)) {
        (Some(x), Some(y)) => same_scalar(x, y),
        // A key the server defaults (a port's `protocol`): absent in Git matches the default.
        (None, Some(Value::String(s))) => k == "protocol" && s == "TCP",
        (None, None) => true,
        _ => false,
    })
}

/// Equal values, numbers by value (`1` and `1.0` are one number).
fn same_scalar(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => same_map(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_scalar(p, q))
        }
        _ => a == b,
    }
}

fn same_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| same_scalar(v, w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(pod: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
               "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "d"}}, "spec": pod}}})
    }

    #[test]
    fn live_with_defaults_and_status_is_in_sync() {
        let desired = deployment(json!({"containers": [{"name": "a", "image": "x"}]}));
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "n", "uid": "u", "resourceVersion": "3"},
            "spec": {"replicas": 2, "strategy": {}, "template": {"metadata": {"labels": {"app": "d"}, "creationTimestamp": null},
                "spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always"}], "dnsPolicy": "ClusterFirst"}}},
            "status": {"replicas": 2}});
        assert!(in_sync(&desired, &live));
    }

    #[test]
    fn nulls_zero_values_and_quantities_are_compared_as_stored() {
        let desired = deployment(
            json!({"hostNetwork": false, "tolerations": [], "affinity": {"podAffinity": null},
            "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 0}],
                "readinessProbe": {"initialDelaySeconds": 0, "httpGet": {"port": 80, "path": "/"}},
                "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}, "requests": {"cpu": 0.5}}}]}),
        );
        let live = deployment(
            json!({"affinity": {}, "containers": [{"name": "a", "image": "x",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1},
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]}),
        );
        assert_eq!(differences(&desired, &live), vec![]);
    }

    #[test]
    fn a_changed_field_is_named_by_its_json_pointer() {
        let desired = deployment(
            json!({"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}),
        );
        let mut live = desired.clone();
        live["spec"]["replicas"] = json!(5);
        // Order of a list-map does not matter; a changed item field does.
        live["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "b", "image": "z"}, {"name": "a", "image": "x"}, {"name": "sidecar"}]);
        let d = differences(&desired, &live);
        assert_eq!(
            d,
            vec![
                FieldDiff {
                    path: "/spec/replicas".into(),
                    git: json!(2),
                    live: Some(json!(5))
                },
                FieldDiff {
                    path: "/spec/template/spec/containers/1/image".into(),
                    git: json!("y"),
                    live: Some(json!("z"))
                },
            ]
        );
    }

    #[test]
    fn secret_string_data_counts_against_data() {
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "foo"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "Zm9v"}, "type": "Opaque"});
        assert!(in_sync(&desired, &live));
        let rotated = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "YmFy"}});
        assert!(!in_sync(&desired, &rotated));
    }

    #[test]
    fn custom_resources_compare_what_they_send() {
        let desired = json!({"apiVersion": "example.io/v1", "kind": "T", "metadata": {"name": "t", "labels": {}},
            "spec": {"x": [1, 2], "enabled": false, "gone": null}});
        let live = json!({"apiVersion": "example.io/v1", "kind": "T", "metadata": {"name": "t", "generation": 1},
            "spec": {"x": [1, 2], "enabled": false, "defaulted": 3}});
        assert!(in_sync(&desired, &live));
        let mut changed = live.clone();
        changed["spec"]["x"] = json!([2, 1]);
        assert_eq!(differences(&desired, &changed)[0].path, "/spec/x/0");
    }

    #[test]
    fn an_object_missing_a_field_git_sets_differs() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        assert_eq!(
            differences(&desired, &live),
            vec![FieldDiff {
                path: "/metadata/labels".into(),
                git: json!({"a": "1"}),
                live: None
            }]
        );
    }
}
