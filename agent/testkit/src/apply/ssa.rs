//! Server-side apply and field ownership: merging an applied configuration, detecting
//! conflicts with other managers, removing fields a manager stopped applying, and
//! recording `managedFields` for applies and plain updates alike.
//! Semantics follow <https://kubernetes.io/docs/reference/using-api/server-side-apply/>.

use serde_json::{json, Map, Value};

use super::fieldset::{display, remove_at, value_at, FieldSet, Path};
use crate::error::ApiError;
use crate::meta::now_rfc3339;
use crate::patch::{item_key, list_keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedEntry {
    fn is(&self, manager: &str, op: Operation, sub: Option<&str>) -> bool {
        self.manager == manager && self.operation == op && self.subresource.as_deref() == sub
    }
}

/// Who is writing, as what, through which subresource.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
}

/// Another manager owns a field the applier sets to a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: Operation,
    pub subresource: Option<String>,
    pub api_version: String,
    pub time: String,
    pub path: Path,
}

impl Conflict {
    /// The manager as the real server prints it: `"alice"` for an applier, `"kubectl"
    /// with subresource "scale" using apps/v1 at <time>` for an updater.
    fn owner(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
            if !self.time.is_empty() {
                s.push_str(&format!(" at {}", self.time));
            }
        }
        s
    }
}

pub fn read_managed(obj: &Value) -> Vec<ManagedEntry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| ManagedEntry {
            manager: e["manager"].as_str().unwrap_or_default().into(),
            operation: if e["operation"] == "Apply" {
                Operation::Apply
            } else {
                Operation::Update
            },
            api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
            time: e["time"].as_str().unwrap_or_default().into(),
            subresource: e["subresource"].as_str().map(str::to_string),
            fields: FieldSet::from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

fn write_managed(obj: &mut Value, entries: &[ManagedEntry]) {
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": if e.operation == Operation::Apply { "Apply" } else { "Update" },
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": e.fields.to_fields_v1(),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = Value::String(s.clone());
            }
            v
        })
        .collect();
    crate::meta::metadata_mut(obj).insert("managedFields".into(), Value::Array(list));
}

fn entry<'e>(
    entries: &'e mut Vec<ManagedEntry>,
    w: Writer<'_>,
    op: Operation,
) -> &'e mut ManagedEntry {
    let pos = match entries
        .iter()
        .position(|e| e.is(w.manager, op, w.subresource))
    {
        Some(pos) => pos,
        None => {
            entries.push(ManagedEntry {
                manager: w.manager.into(),
                operation: op,
                api_version: w.api_version.into(),
                time: String::new(),
                subresource: w.subresource.map(str::to_string),
                fields: FieldSet::default(),
            });
            entries.len() - 1
        }
    };
    let e = &mut entries[pos];
    e.api_version = w.api_version.into();
    e.time = now_rfc3339();
    e
}

fn is_item(path: &Path) -> bool {
    path.last().is_some_and(|el| el.starts_with("k:"))
}

/// The `409 Conflict` the real server returns, listing each conflicting field.
pub fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    let message = match conflicts {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.owner(),
            display(&one.path)
        ),
        _ => {
            let mut owners: Vec<String> = conflicts.iter().map(Conflict::owner).collect();
            owners.sort();
            owners.dedup();
            let mut lines = Vec::new();
            for owner in owners {
                lines.push(format!("conflicts with {owner}:"));
                lines.extend(
                    conflicts
                        .iter()
                        .filter(|c| c.owner() == owner)
                        .map(|c| format!("- {}", display(&c.path))),
                );
            }
            format!(
                "Apply failed with {} conflicts: {}",
                conflicts.len(),
                lines.join("\n")
            )
        }
    };
    let mut err = ApiError::new(409, "Conflict", message);
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.owner()), "field": display(&c.path)}))
        .collect();
    err.details = Some(json!({"causes": causes}));
    err
}

/// Server-side apply `applied` onto `live` (absent for a create) as `w.manager`.
/// Returns the merged object with its `managedFields` updated, or the conflicts.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    w: Writer<'_>,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let mut entries = live.map(read_managed).unwrap_or_default();
    let live_obj = live.cloned().unwrap_or_else(|| json!({}));
    let applied_set = FieldSet::from_object(applied);

    let mut conflicts = Vec::new();
    for path in applied_set.iter().filter(|p| !is_item(p)) {
        if value_at(&live_obj, path) == value_at(applied, path) {
            continue; // Same value: ownership becomes shared, no conflict.
        }
        for e in entries
            .iter()
            .filter(|e| !e.is(w.manager, Operation::Apply, w.subresource))
        {
            if e.fields.contains(path) {
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    operation: e.operation,
                    subresource: e.subresource.clone(),
                    api_version: e.api_version.clone(),
                    time: e.time.clone(),
                    path: path.clone(),
                });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    for c in &conflicts {
        for e in entries
            .iter_mut()
            .filter(|e| e.is(&c.manager, c.operation, c.subresource.as_deref()))
        {
            e.fields.remove(&c.path);
        }
    }

    let mut merged = live_obj;
    merge_applied(&mut merged, applied, "");

    let previous = entries
        .iter()
        .find(|e| e.is(w.manager, Operation::Apply, w.subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: Vec<FieldSet> = entries
        .iter()
        .filter(|e| !e.is(w.manager, Operation::Apply, w.subresource))
        .map(|e| e.fields.clone())
        .collect();
    let owned_elsewhere =
        |p: &Path| applied_set.owns_under(p) || others.iter().any(|s| s.owns_under(p));
    let mut dropped: Vec<&Path> = previous
        .iter()
        .filter(|p| !applied_set.contains(p))
        .collect();
    dropped.sort_by_key(|p| p.len());
    for path in dropped {
        if owned_elsewhere(path) {
            continue;
        }
        if remove_at(&mut merged, path) {
            prune_empty_parents(&mut merged, path, &owned_elsewhere);
        }
    }

    entry(&mut entries, w, Operation::Apply).fields = applied_set;
    finish(&mut merged, entries);
    Ok(merged)
}

/// Record a non-apply write (create, update, patch) as `w.manager`'s `Update` entry: it
/// takes the fields it changed, away from whoever owned them (updates never conflict).
/// `managedFields` the request itself changed are taken as given (an empty list resets
/// them), which is how kubectl migrates client-side-apply ownership to server-side apply.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: Writer<'_>) {
    let given = new.pointer("/metadata/managedFields");
    let stored = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let mut entries = match given {
        Some(g) if g.is_array() && Some(g) != stored => read_managed(new),
        _ => old.map(read_managed).unwrap_or_default(),
    };
    let empty = json!({});
    let old_obj = old.unwrap_or(&empty);
    let changed: Vec<Path> = FieldSet::from_object(new)
        .iter()
        .filter(|p| {
            if is_item(p) {
                value_at(old_obj, p).is_none()
            } else {
                value_at(old_obj, p) != value_at(new, p)
            }
        })
        .cloned()
        .collect();
    if !changed.is_empty() {
        for e in entries.iter_mut() {
            for p in &changed {
                e.fields.remove(p);
            }
        }
        let mine = entry(&mut entries, w, Operation::Update);
        for p in changed {
            mine.fields.insert(p);
        }
    }
    finish(new, entries);
}

/// Drop ownership of fields that no longer exist, and entries that own nothing.
fn finish(obj: &mut Value, mut entries: Vec<ManagedEntry>) {
    for e in entries.iter_mut() {
        e.fields.retain(|p| value_at(obj, p).is_some());
    }
    entries.retain(|e| !e.fields.is_empty());
    write_managed(obj, &entries);
}

fn prune_empty_parents(obj: &mut Value, path: &Path, owned: &impl Fn(&Path) -> bool) {
    for len in (2..path.len()).rev() {
        let parent: Path = path[..len].to_vec();
        let empty = match value_at(obj, &parent) {
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if !empty || owned(&parent) || !remove_at(obj, &parent) {
            return;
        }
    }
}

/// Merge an applied configuration into an object: maps recursively, associative lists
/// item by item (by key), everything else replaced.
fn merge_applied(target: &mut Value, applied: &Value, field: &str) {
    match applied {
        Value::Object(a) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            for (k, v) in a {
                if v.is_null() {
                    continue;
                }
                let Value::Object(t) = target else { return };
                merge_applied(t.entry(k.clone()).or_insert(Value::Null), v, k);
            }
        }
        Value::Array(items) => match (list_keys(field, items), target.as_array_mut()) {
            (Some(keys), Some(live)) => {
                for item in items {
                    let key = item_key(item, keys);
                    match live.iter_mut().find(|l| item_key(l, keys) == key) {
                        Some(existing) => merge_applied(existing, item, ""),
                        None => live.push(item.clone()),
                    }
                }
            }
            _ => *target = applied.clone(),
        },
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Writer<'static> = Writer {
        manager: "alice",
        api_version: "apps/v1",
        subresource: None,
    };
    const B: Writer<'static> = Writer {
        manager: "bob",
        api_version: "apps/v1",
        subresource: None,
    };

    fn deploy(replicas: i64, labels: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels},
               "spec": {"replicas": replicas}})
    }

    #[test]
    fn different_value_for_a_field_another_manager_owns_conflicts() {
        let live = apply(None, &deploy(1, json!({"a": "1"})), A, false).unwrap();
        let conflicts = apply(Some(&live), &deploy(3, json!({})), B, false).unwrap_err();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].manager, "alice");
        assert_eq!(display(&conflicts[0].path), ".spec.replicas");
    }

    #[test]
    fn same_value_shares_ownership_and_force_takes_it() {
        let live = apply(None, &deploy(1, json!({})), A, false).unwrap();
        let shared = apply(Some(&live), &deploy(1, json!({})), B, false).unwrap();
        assert_eq!(read_managed(&shared).len(), 2);
        let forced = apply(Some(&shared), &deploy(5, json!({})), B, true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 5);
        let replicas: Path = vec!["f:spec".into(), "f:replicas".into()];
        let owners: Vec<String> = read_managed(&forced)
            .into_iter()
            .filter(|e| e.fields.contains(&replicas))
            .map(|e| e.manager)
            .collect();
        assert_eq!(
            owners,
            vec!["bob".to_string()],
            "force moves the field to the applier"
        );
    }

    #[test]
    fn field_dropped_by_its_only_owner_is_removed() {
        let live = apply(None, &deploy(1, json!({"a": "1", "b": "2"})), A, false).unwrap();
        let next = apply(Some(&live), &deploy(1, json!({"a": "1"})), A, false).unwrap();
        assert_eq!(next["metadata"]["labels"], json!({"a": "1"}));
    }

    #[test]
    fn conflict_messages_name_updaters_with_subresource_and_version() {
        let live = apply(None, &deploy(1, json!({"a": "1"})), A, false).unwrap();
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(4);
        let scaler = Writer {
            manager: "kubectl",
            api_version: "apps/v1",
            subresource: Some("scale"),
        };
        record_update(Some(&live), &mut scaled, scaler);
        let conflicts = apply(Some(&scaled), &deploy(2, json!({"a": "2"})), B, false).unwrap_err();
        let err = conflict_error(&conflicts);
        assert!(err.message.starts_with("Apply failed with 2 conflicts: conflicts with \"alice\":\n- .metadata.labels.a\nconflicts with \"kubectl\" with subresource \"scale\" using apps/v1 at "), "{}", err.message);
        assert!(
            err.message.ends_with(":\n- .spec.replicas"),
            "{}",
            err.message
        );
    }

    #[test]
    fn update_takes_the_fields_it_changes() {
        let live = apply(None, &deploy(1, json!({})), A, false).unwrap();
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(4);
        record_update(Some(&live), &mut scaled, B);
        let entries = read_managed(&scaled);
        let bob = entries.iter().find(|e| e.manager == "bob").unwrap();
        assert_eq!(bob.operation, Operation::Update);
        assert!(bob
            .fields
            .contains(&vec!["f:spec".into(), "f:replicas".into()]));
        let alice = entries.iter().find(|e| e.manager == "alice");
        assert!(alice.is_none_or(|a| !a
            .fields
            .contains(&vec!["f:spec".into(), "f:replicas".into()])));
    }
}
