//! Field sets: the paths a manager owns, in the `FieldsV1` wire form of `managedFields`
//! (`f:<field>`, `k:<list-item key>`, `.` for the node itself).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::patch::{item_key, list_keys};

/// One path element: `f:name` or `k:{"name":"app"}`.
pub type Path = Vec<String>;

/// Metadata fields the user owns; the rest of `metadata` is the server's.
const USER_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    /// The fields an object (an applied configuration, or a whole object) sets.
    pub fn from_object(obj: &Value) -> Self {
        let mut set = BTreeSet::new();
        if let Value::Object(m) = obj {
            for (k, v) in m {
                match k.as_str() {
                    "apiVersion" | "kind" => {}
                    "metadata" => {
                        for f in USER_METADATA {
                            if let Some(v) = v.get(*f) {
                                walk(v, vec!["f:metadata".into(), format!("f:{f}")], f, &mut set);
                            }
                        }
                    }
                    _ => walk(v, vec![format!("f:{k}")], k, &mut set),
                }
            }
        }
        Self(set)
    }

    pub fn from_fields_v1(v: &Value) -> Self {
        let mut set = BTreeSet::new();
        parse(v, Vec::new(), &mut set);
        Self(set)
    }

    pub fn to_fields_v1(&self) -> Value {
        let mut root = Value::Object(Map::new());
        for path in &self.0 {
            let mut node = &mut root;
            for el in path {
                node = node
                    .as_object_mut()
                    .map(|m| m.entry(el.clone()).or_insert(Value::Object(Map::new())))
                    .unwrap_or_else(|| unreachable!("nodes are objects"));
            }
        }
        // A node that is a member and has children carries `.`.
        for path in &self.0 {
            let node = path
                .iter()
                .try_fold(&mut root, |n, el| n.get_mut(el.as_str()));
            if let Some(Value::Object(m)) = node {
                if !m.is_empty() && !m.contains_key(".") {
                    m.insert(".".into(), Value::Object(Map::new()));
                }
            }
        }
        root
    }

    pub fn contains(&self, p: &Path) -> bool {
        self.0.contains(p)
    }

    pub fn insert(&mut self, p: Path) {
        self.0.insert(p);
    }

    pub fn remove(&mut self, p: &Path) {
        self.0.remove(p);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Path> {
        self.0.iter()
    }

    /// Whether this set owns the path or anything below it.
    pub fn owns_under(&self, prefix: &Path) -> bool {
        self.0.iter().any(|p| p.starts_with(prefix))
    }

    pub fn retain(&mut self, f: impl FnMut(&Path) -> bool) {
        self.0.retain(f);
    }
}

fn walk(v: &Value, path: Path, field: &str, out: &mut BTreeSet<Path>) {
    match v {
        Value::Null => {}
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let mut p = path.clone();
                p.push(format!("f:{k}"));
                walk(c, p, k, out);
            }
        }
        Value::Array(items) => match list_keys(field, items) {
            Some(keys) => {
                for item in items {
                    let mut p = path.clone();
                    p.push(key_element(item, keys));
                    out.insert(p.clone());
                    walk(item, p, "", out);
                }
            }
            None => {
                out.insert(path);
            }
        },
        _ => {
            out.insert(path);
        }
    }
}

pub fn key_element(item: &Value, keys: &[&str]) -> String {
    format!("k:{}", Value::Object(item_key(item, keys)))
}

fn parse(v: &Value, path: Path, out: &mut BTreeSet<Path>) {
    let Value::Object(m) = v else { return };
    for (k, c) in m {
        if k == "." {
            out.insert(path.clone());
            continue;
        }
        let mut p = path.clone();
        p.push(k.clone());
        match c {
            Value::Object(cm) if !cm.is_empty() => parse(c, p, out),
            _ => {
                out.insert(p);
            }
        }
    }
}

/// The value at a field-set path inside an object.
pub fn value_at<'a>(obj: &'a Value, path: &Path) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, el| step(v, el))
}

fn step<'a>(v: &'a Value, el: &str) -> Option<&'a Value> {
    if let Some(f) = el.strip_prefix("f:") {
        return v.get(f);
    }
    let key: Map<String, Value> = serde_json::from_str(el.strip_prefix("k:")?).ok()?;
    let keys: Vec<&str> = key.keys().map(String::as_str).collect();
    v.as_array()?
        .iter()
        .find(|item| item_key(item, &keys) == key)
}

/// Remove the value at a path; returns whether something was removed.
pub fn remove_at(obj: &mut Value, path: &Path) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = obj;
    for el in parents {
        let Some(next) = step_mut(cur, el) else {
            return false;
        };
        cur = next;
    }
    if let Some(f) = last.strip_prefix("f:") {
        return cur.as_object_mut().and_then(|m| m.remove(f)).is_some();
    }
    let Some(key) = last
        .strip_prefix("k:")
        .and_then(|k| serde_json::from_str::<Map<String, Value>>(k).ok())
    else {
        return false;
    };
    let keys: Vec<&str> = key.keys().map(String::as_str).collect();
    let Some(list) = cur.as_array_mut() else {
        return false;
    };
    let before = list.len();
    list.retain(|item| item_key(item, &keys) != key);
    list.len() != before
}

pub fn step_mut<'a>(v: &'a mut Value, el: &str) -> Option<&'a mut Value> {
    if let Some(f) = el.strip_prefix("f:") {
        return v.get_mut(f);
    }
    let key: Map<String, Value> = serde_json::from_str(el.strip_prefix("k:")?).ok()?;
    let keys: Vec<&str> = key.keys().map(String::as_str).collect();
    v.as_array_mut()?
        .iter_mut()
        .find(|item| item_key(item, &keys) == key)
}

/// `.spec.template.spec.containers[name="app"].image`, as conflict messages print paths.
pub fn display(path: &Path) -> String {
    path.iter()
        .map(|el| match el.strip_prefix("f:") {
            Some(f) => format!(".{f}"),
            None => {
                let key: Map<String, Value> = el
                    .strip_prefix("k:")
                    .and_then(|k| serde_json::from_str(k).ok())
                    .unwrap_or_default();
                let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips_with_keyed_lists() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}}});
        let set = FieldSet::from_object(&obj);
        let wire = set.to_fields_v1();
        assert_eq!(wire["f:spec"]["f:replicas"], json!({}));
        let item = &wire["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        assert_eq!(item, &json!({".": {}, "f:name": {}, "f:image": {}}));
        assert!(wire["f:metadata"].get("f:name").is_none());
        assert_eq!(FieldSet::from_fields_v1(&wire), set);
    }

    #[test]
    fn values_are_found_and_removed_by_path() {
        let mut obj = json!({"spec": {"ports": [{"port": 80}, {"port": 443, "protocol": "TCP"}]}});
        let path = vec![
            "f:spec".to_string(),
            "f:ports".into(),
            r#"k:{"port":443,"protocol":"TCP"}"#.into(),
        ];
        assert!(value_at(&obj, &path).is_some());
        assert!(remove_at(&mut obj, &path));
        assert_eq!(obj["spec"]["ports"].as_array().unwrap().len(), 1);
        assert_eq!(display(&path), r#".spec.ports[port=443,protocol="TCP"]"#);
    }
}
