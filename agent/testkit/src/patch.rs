//! Patch formats: JSON merge (RFC 7386), JSON patch (RFC 6902) and strategic merge, plus
//! the list-key table that strategic merge and server-side apply share.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The patch types a `PATCH` request may carry, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// The key fields that make a list an associative ("map") list, by field name — the
/// subset of the Kubernetes schema markers (`x-kubernetes-list-map-keys`,
/// `patchMergeKey`) that charts meet; other lists of named objects are keyed by `name`.
pub fn list_keys(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    let first = items.first()?.as_object()?;
    if !items.iter().all(Value::is_object) {
        return None;
    }
    match field {
        "ports" if first.contains_key("containerPort") => Some(&["containerPort", "protocol"]),
        "ports" if first.contains_key("port") => Some(&["port", "protocol"]),
        "volumeMounts" => Some(&["mountPath"]),
        "conditions" => Some(&["type"]),
        "ownerReferences" => Some(&["uid"]),
        "hostAliases" => Some(&["ip"]),
        _ if items.iter().all(|i| i.get("name").is_some()) => Some(&["name"]),
        _ => None,
    }
}

/// The key of one list item, with defaults filled in (`protocol` is `TCP` when unset).
pub fn item_key(item: &Value, keys: &[&str]) -> Map<String, Value> {
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    sorted
        .into_iter()
        .filter_map(|k| match item.get(k) {
            Some(v) => Some((k.to_string(), v.clone())),
            None if k == "protocol" => Some((k.to_string(), Value::String("TCP".into()))),
            None => None,
        })
        .collect()
}

/// RFC 7386 JSON merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    json_patch::patch(target, &ops)
        .map_err(|e| ApiError::invalid("", "", format!("the JSON patch failed: {e}")))
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Strategic merge patch: maps merge, keyed lists (containers, ports, env, volumes …)
/// merge item by item, `$patch: delete|replace` and `$deleteFromPrimitiveList` apply.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(del)) = (t.get_mut(field), v) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue; // $setElementOrder, $retainKeys: ordering hints we do not need.
        }
        if v.is_null() || v.get("$patch").and_then(Value::as_str) == Some("delete") {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(live)), Value::Array(items)) => {
                match list_keys(k, items).or_else(|| list_keys(k, live)) {
                    Some(keys) => merge_list(live, items, keys),
                    None => *live = items.iter().map(strip_directives).collect(),
                }
            }
            (Some(existing), Value::Object(_)) => strategic(existing, v),
            _ => {
                t.insert(k.clone(), strip_directives(v));
            }
        }
    }
}

fn merge_list(live: &mut Vec<Value>, items: &[Value], keys: &[&str]) {
    for item in items {
        let key = item_key(item, keys);
        let pos = live.iter().position(|l| item_key(l, keys) == key);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                live.remove(i);
            }
            (Some(i), false) => strategic(&mut live[i], item),
            (None, false) => live.push(strip_directives(item)),
            (None, true) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_nulls_and_replaces_lists() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge(&mut v, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut v = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"}]}});
        strategic(
            &mut v,
            &json!({"spec": {"containers": [
            {"name": "app", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
            {"name": "side", "$patch": "delete"}]}}),
        );
        assert_eq!(
            v,
            json!({"spec": {"containers": [{"name": "app", "image": "a:2",
            "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}})
        );
    }

    #[test]
    fn ports_are_keyed_by_port_and_default_protocol() {
        let mut v = json!({"ports": [{"containerPort": 80, "name": "http"}]});
        strategic(
            &mut v,
            &json!({"ports": [{"containerPort": 80, "protocol": "TCP", "hostPort": 8080}]}),
        );
        assert_eq!(v["ports"].as_array().unwrap().len(), 1);
        assert_eq!(v["ports"][0]["hostPort"], 8080);
    }

    #[test]
    fn json_patch_applies_operations() {
        let mut v = json!({"spec": {"replicas": 1}});
        json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]),
        )
        .unwrap();
        assert_eq!(v["spec"]["replicas"], 4);
    }
}
