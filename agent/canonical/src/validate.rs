//! The type check server-side apply makes before anything is stored: the applied object is
//! converted to its typed form (structured-merge-diff), and a value of the wrong JSON type or a
//! field the schema does not declare fails the request. The messages are structured-merge-diff's
//! (`typed/validate.go`, `typed/helpers.go`): `.spec.x: expected numeric (int or float), got
//! string`, `.spec.y: field not declared in schema`, with list items named by their keys
//! (`containers[name="web"]`) or index.

use crate::quantity;
use crate::table::{Field, ListType, Struct, Table, Ty};
use serde_json::{Map, Value};

/// One type error, with the field's path in structured-merge-diff's notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for TypeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The errors in a built-in object's fields; empty for a well-typed object and for kinds the
/// table does not know (custom resources are checked against their CRD's schema, not here).
pub fn validate(obj: &Value) -> Vec<TypeError> {
    let table = Table::get();
    let (Some(api_version), Some(kind)) = (obj["apiVersion"].as_str(), obj["kind"].as_str()) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    match (table.kind(api_version, kind), obj.as_object()) {
        (Some(root), Some(map)) => check_struct(table, map, root, &Path::Root(""), &mut errors),
        (None, Some(map)) => {
            if let Some(Value::Object(meta)) = map.get("metadata") {
                let path = Path::Root(".metadata");
                check_struct(table, meta, table.object_meta(), &path, &mut errors);
            }
        }
        _ => {}
    }
    errors
}

/// structured-merge-diff's `ValidationErrors.Error()`: one error alone, several under `errors:`.
pub fn message(errors: &[TypeError]) -> String {
    match errors {
        [one] => one.to_string(),
        many => {
            let mut out = String::from("errors:");
            for e in many {
                out.push_str("\n  ");
                out.push_str(&e.to_string());
            }
            out
        }
    }
}

/// A field's path, built only when an error needs it (a large CRD has thousands of fields).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Field(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>, &'a Field, &'a Value, usize),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        match self {
            Path::Root(p) => (*p).to_string(),
            Path::Field(parent, k) => format!("{}.{k}", parent.render()),
            Path::Item(parent, field, item, i) => {
                format!("{}{}", parent.render(), item_name(field, item, *i))
            }
            Path::Index(parent, i) => format!("{}[{i}]", parent.render()),
        }
    }
}

fn check_struct(
    table: &Table,
    map: &Map<String, Value>,
    s: &Struct,
    path: &Path<'_>,
    errors: &mut Vec<TypeError>,
) {
    for (k, v) in map {
        let here = Path::Field(path, k);
        match s.fields.get(k) {
            Some(field) => check_field(table, v, field, &here, errors),
            None => errors.push(TypeError {
                path: here.render(),
                message: "field not declared in schema".into(),
            }),
        }
    }
}

fn check_field(
    table: &Table,
    v: &Value,
    field: &Field,
    path: &Path<'_>,
    errors: &mut Vec<TypeError>,
) {
    if let (Ty::List(elem), Value::Array(items)) = (&field.ty, v) {
        for (i, item) in items.iter().enumerate() {
            check(table, item, elem, &Path::Item(path, field, item, i), errors);
        }
        return;
    }
    check(table, v, &field.ty, path, errors);
}

/// `[name="web"]` for a list-map item, `[="x"]` for a set's, `[0]` otherwise.
fn item_name(field: &Field, item: &Value, index: usize) -> String {
    match field.list_type {
        Some(ListType::Map) if !field.keys.is_empty() => {
            let parts: Vec<String> = field
                .keys
                .iter()
                .filter_map(|k| item.get(k).map(|v| format!("{k}={v}")))
                .collect();
            if parts.is_empty() {
                format!("[{index}]")
            } else {
                format!("[{}]", parts.join(","))
            }
        }
        Some(ListType::Set) if !item.is_object() && !item.is_array() => format!("[={item}]"),
        _ => format!("[{index}]"),
    }
}

/// Go's `%T` of the decoded JSON value, as structured-merge-diff prints it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%#v` of a value inside structured-merge-diff's unstructured wrapper.
fn go_value(v: &Value) -> String {
    let inner = match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        Value::Array(_) => "[]interface {}{...}".into(),
        Value::Object(_) => "map[string]interface {}{...}".into(),
    };
    format!("&value.valueUnstructured{{Value:{inner}}}")
}

fn check(table: &Table, v: &Value, ty: &Ty, path: &Path<'_>, errors: &mut Vec<TypeError>) {
    if v.is_null() {
        return;
    }
    let mut fail = |message: String| {
        errors.push(TypeError {
            path: path.render(),
            message,
        })
    };
    match ty {
        Ty::Integer | Ty::Number => {
            if !v.is_number() {
                fail(format!(
                    "expected numeric (int or float), got {}",
                    go_type(v)
                ));
            }
        }
        Ty::String | Ty::Time | Ty::Bytes => {
            if !v.is_string() {
                fail(format!("expected string, got {}", go_value(v)));
            }
        }
        Ty::Boolean => {
            if !v.is_boolean() {
                fail(format!("expected boolean, got {}", go_value(v)));
            }
        }
        Ty::Quantity => match v {
            Value::Number(_) => {}
            Value::String(s) if quantity::is_valid(s) => {}
            // The type check passes a string; decoding it then fails as apimachinery does.
            Value::String(_) => fail("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".into()),
            _ => fail(format!("expected string, got {}", go_value(v))),
        },
        Ty::IntOrString => {
            if !(v.is_number() || v.is_string()) {
                fail(format!("expected string, got {}", go_value(v)));
            }
        }
        Ty::Struct(i) => match v {
            Value::Object(m) => check_struct(table, m, &table.structs[*i], path, errors),
            _ => fail(format!("expected map, got {}", go_value(v))),
        },
        Ty::List(elem) => match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(table, item, elem, &Path::Index(path, i), errors);
                }
            }
            _ => fail(format!("expected list, got {}", go_value(v))),
        },
        Ty::Map(elem) => match v {
            Value::Object(m) => {
                for (k, x) in m {
                    check(table, x, elem, &Path::Field(path, k), errors);
                }
            }
            _ => fail(format!("expected map, got {}", go_value(v))),
        },
        Ty::SchemaOrArray | Ty::SchemaOrBool | Ty::Any => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_string_where_an_integer_belongs_is_named_by_its_path() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"volumes": [{"name": "config", "secret": {"secretName": "s", "defaultMode": "0755"}}],
                "containers": [{"name": "c", "image": "i"}]}}}});
        let errors = validate(&d);
        assert_eq!(
            message(&errors),
            ".spec.template.spec.volumes[name=\"config\"].secret.defaultMode: expected numeric (int or float), got string"
        );
    }

    #[test]
    fn bools_where_strings_belong_and_undeclared_fields_are_errors() {
        let d = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"enabled": true}},
            "data": {"a": "1"}, "extra": 1});
        let m = message(&validate(&d));
        assert!(m.starts_with("errors:\n  "), "{m}");
        assert!(m.contains(".metadata.labels.enabled: expected string, got &value.valueUnstructured{Value:true}"), "{m}");
        assert!(m.contains(".extra: field not declared in schema"), "{m}");
    }

    #[test]
    fn well_typed_objects_and_custom_resources_pass() {
        let s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}});
        assert!(validate(&s).is_empty());
        let cr = json!({"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"any": [1, "x"]}});
        assert!(validate(&cr).is_empty());
        let p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}]}});
        assert!(validate(&p).is_empty());
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "lots"}}}]}});
        assert_eq!(validate(&bad).len(), 1);
    }
}
