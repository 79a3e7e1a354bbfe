//! Who changed a field, and when: a drifted field's JSON pointer (into Git's object) turned into
//! its `managedFields` path (`f:spec`, `f:containers`, `k:{"name":"web"}`, `f:image`), then looked
//! up in each manager's field set — pure.
//!
//! Path elements follow structured-merge-diff's `FieldsV1` encoding: `f:<name>` for a struct
//! field or map key, `k:<json>` for a list-map item (its key fields, sorted by name, as the server
//! writes them after defaulting: a port without `protocol` is `"protocol":"TCP"`), `v:<json>` for
//! a set item; an atomic list is owned whole, so the path stops at it.

use super::index_of;
use kube_canonical::{Field, ListType, Table, Ty};
use serde_json::{Map, Value};

/// One element of a `FieldsV1` path.
pub type Element = String;

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// The `FieldsV1` path of `pointer` in Git's canonical object `git`.
pub fn fields_path(git: &Value, pointer: &str) -> Vec<Element> {
    let table = Table::get();
    let root = table.kind(
        git["apiVersion"].as_str().unwrap_or_default(),
        git["kind"].as_str().unwrap_or_default(),
    );
    let segments: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let mut out = Vec::new();
    let mut node = git;
    let mut ty: Option<Ty> = root.map(|s| Ty::Struct(index_of(table, s)));
    let mut i = 0;
    while i < segments.len() {
        let seg = &segments[i];
        match node {
            Value::Object(m) => {
                out.push(format!("f:{seg}"));
                let field = match &ty {
                    Some(Ty::Struct(s)) => table.structs[*s].fields.get(seg),
                    _ => None,
                };
                // A custom resource's metadata is ObjectMeta.
                let next_ty = match (&ty, field) {
                    (Some(Ty::Map(elem)), _) => Some(elem.as_ref().clone()),
                    (_, Some(f)) => Some(f.ty.clone()),
                    (None, None) if i == 0 && seg == "metadata" => {
                        Some(Ty::Struct(index_of(table, table.object_meta())))
                    }
                    _ => None,
                };
                let Some(child) = m.get(seg) else { break };
                if let (Value::Array(items), Some(f)) = (child, field) {
                    // The next segment is an index into this list.
                    let Some(index) = segments.get(i + 1).and_then(|s| s.parse::<usize>().ok())
                    else {
                        break;
                    };
                    let Some(item) = items.get(index) else { break };
                    match list_element(f, item) {
                        Some(e) => out.push(e),
                        None => break, // atomic: owned whole
                    }
                    node = item;
                    ty = match &f.ty {
                        Ty::List(elem) => Some(elem.as_ref().clone()),
                        _ => None,
                    };
                    i += 2;
                    continue;
                }
                if child.is_array() {
                    break; // no schema: lists are atomic
                }
                node = child;
                ty = next_ty;
                i += 1;
            }
            _ => break,
        }
    }
    out
}

/// The path element of one list item: `k:` for a list-map, `v:` for a set, `None` when atomic.
fn list_element(f: &Field, item: &Value) -> Option<Element> {
    match f.list_type {
        Some(ListType::Map) if !f.keys.is_empty() => {
            let mut keys: Vec<&String> = f.keys.iter().collect();
            keys.sort();
            let mut m = Map::new();
            for k in keys {
                match item.get(k.as_str()) {
                    Some(v) => {
                        m.insert(k.clone(), v.clone());
                    }
                    None if k == "protocol" => {
                        m.insert(k.clone(), Value::String("TCP".into()));
                    }
                    None => {}
                }
            }
            Some(format!("k:{}", Value::Object(m)))
        }
        Some(ListType::Set) => Some(format!("v:{item}")),
        _ => None,
    }
}

/// A manager's claim on a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub manager: String,
    pub time: Option<String>,
    /// Its field set holds the path; `false`: a guess (the most recent writer of an object
    /// whose field is gone).
    pub holds: bool,
}

/// Whether a `FieldsV1` set holds `path`, or an ancestor of it that is a leaf (owned whole).
fn holds(set: &Value, path: &[Element]) -> bool {
    let mut node = set;
    for e in path {
        match node.get(e.as_str()) {
            Some(next) => node = next,
            // Reaching a leaf (`{}`) above the path: the whole value (an atomic list) is owned.
            None => {
                return node.as_object().is_some_and(|m| m.is_empty()) && !std::ptr::eq(node, set)
            }
        }
    }
    true
}

/// Whether a manager other than `except` holds `path` (status entries aside).
pub fn held_by_other(live: &Value, path: &[Element], except: &str) -> bool {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("subresource").and_then(Value::as_str) != Some("status"))
        .filter(|e| e.get("manager").and_then(Value::as_str) != Some(except))
        .any(|e| e.get("fieldsV1").is_some_and(|s| holds(s, path)))
}

/// The managers (other than `ignore`, the agent itself) whose field sets hold `path`, most
/// recent first; when none holds it (a field someone removed), the object's most recent
/// writer. Status-subresource entries never count: status is not drift.
pub fn owners(live: &Value, path: &[Element], ignore: &str) -> Vec<Owner> {
    let entries: Vec<&Value> = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("subresource").and_then(Value::as_str) != Some("status"))
        .filter(|e| e.get("manager").and_then(Value::as_str) != Some(ignore))
        .collect();
    let owner = |e: &Value, holds: bool| Owner {
        manager: e["manager"].as_str().unwrap_or_default().to_string(),
        time: e.get("time").and_then(Value::as_str).map(str::to_string),
        holds,
    };
    let mut found: Vec<Owner> = entries
        .iter()
        .filter(|e| e.get("fieldsV1").is_some_and(|s| holds(s, path)))
        .map(|e| owner(e, true))
        .collect();
    if found.is_empty() {
        found = entries.iter().map(|e| owner(e, false)).collect();
        found.sort_by(|a, b| b.time.cmp(&a.time));
        found.truncate(1);
    } else {
        found.sort_by(|a, b| b.time.cmp(&a.time));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "a:1", "ports": [{"containerPort": 80}],
                 "env": [{"name": "MODE", "value": "fast"}]}]}}}})
    }

    #[test]
    fn pointers_become_field_set_paths_with_list_map_keys() {
        let d = deployment();
        assert_eq!(fields_path(&d, "/spec/replicas"), ["f:spec", "f:replicas"]);
        assert_eq!(
            fields_path(&d, "/spec/template/spec/containers/0/image"),
            [
                "f:spec",
                "f:template",
                "f:spec",
                "f:containers",
                "k:{\"name\":\"web\"}",
                "f:image"
            ]
        );
        assert_eq!(
            fields_path(&d, "/spec/template/spec/containers/0/ports/0/containerPort"),
            [
                "f:spec",
                "f:template",
                "f:spec",
                "f:containers",
                "k:{\"name\":\"web\"}",
                "f:ports",
                "k:{\"containerPort\":80,\"protocol\":\"TCP\"}",
                "f:containerPort"
            ]
        );
        assert_eq!(
            fields_path(&d, "/metadata/labels/app"),
            ["f:metadata", "f:labels", "f:app"]
        );
    }

    #[test]
    fn the_owner_is_who_holds_the_field_and_else_the_latest_writer() {
        let mut live = deployment();
        live["metadata"]["managedFields"] = json!([
            {"manager": "sextant", "operation": "Apply", "time": "2026-01-01T00:00:00Z",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl", "operation": "Update", "subresource": "scale", "time": "2026-01-02T00:00:00Z",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "time": "2026-01-03T00:00:00Z", "fieldsV1": {"f:status": {}}},
            {"manager": "editor", "operation": "Update", "time": "2026-01-02T12:00:00Z",
             "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:note": {}}}}}
        ]);
        let replicas = fields_path(&live, "/spec/replicas");
        assert_eq!(
            owners(&live, &replicas, "sextant"),
            [Owner {
                manager: "kubectl".into(),
                time: Some("2026-01-02T00:00:00Z".into()),
                holds: true,
            }]
        );
        let gone = fields_path(&live, "/spec/template/spec/containers/0/image");
        assert_eq!(owners(&live, &gone, "sextant")[0].manager, "editor");
        assert!(!owners(&live, &gone, "sextant")[0].holds);
    }
}
