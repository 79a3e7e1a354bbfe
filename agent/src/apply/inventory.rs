//! Inventory: which objects the agent applied for each release of an environment, kept in the
//! cluster (a ConfigMap per environment and release in the agent's namespace, as Flux keeps its
//! inventory), so that objects that leave Git can be pruned. The decisions here are pure.

use crate::kinds;
use crate::object::{
    Object, ObjectRef, LABEL_ENVIRONMENT, LABEL_MANAGED_BY, LABEL_RELEASE, MANAGER,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashSet;

pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const COMPONENT: &str = "inventory";
const DATA_KEY: &str = "objects.json";

/// One applied object, as remembered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    pub wave: i32,
    /// The content hash last applied successfully; `None` while a sync that writes it is under
    /// way (and in inventories older than this field). Hooks run when these change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Entry {
    pub fn of(o: &Object) -> Self {
        let r = &o.reference;
        Entry {
            group: r.group.clone(),
            version: r.version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            wave: o.wave.0,
            hash: Some(o.hash.clone()),
        }
    }

    /// This entry as written before its object is applied: remembered, not yet applied.
    pub fn pending(&self) -> Self {
        Entry {
            hash: None,
            ..self.clone()
        }
    }

    pub fn reference(&self) -> ObjectRef {
        ObjectRef {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Identity regardless of version: an object moving from v1beta1 to v1 is the same object.
    pub fn identity(&self) -> (String, String, Option<String>, String) {
        (
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

/// The ConfigMap's name for a release of an environment.
pub fn name(environment: &str, release: &str) -> String {
    format!("sextant-inventory-{environment}-{release}")
}

pub fn reference(agent_namespace: &str, environment: &str, release: &str) -> ObjectRef {
    ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some(agent_namespace.to_string()),
        name: name(environment, release),
    }
}

/// The label selector of an environment's inventories.
pub fn selector(environment: &str) -> String {
    format!("{LABEL_COMPONENT}={COMPONENT},{LABEL_ENVIRONMENT}={environment}")
}

pub fn to_configmap(
    agent_namespace: &str,
    environment: &str,
    release: &str,
    entries: &[Entry],
) -> Value {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|a| a.identity());
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name(environment, release),
            "namespace": agent_namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGER,
                LABEL_COMPONENT: COMPONENT,
                LABEL_ENVIRONMENT: environment,
                LABEL_RELEASE: release,
            },
        },
        "data": { DATA_KEY: serde_json::to_string(&sorted).unwrap_or_else(|_| "[]".into()) },
    })
}

/// Reads an inventory ConfigMap: its release and entries. A damaged one reads as empty, so the
/// worst case is an object not pruned, never one pruned by mistake.
pub fn from_configmap(cm: &Value) -> (String, Vec<Entry>) {
    let release = cm
        .pointer(&format!(
            "/metadata/labels/{}",
            LABEL_RELEASE.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let entries = cm
        .pointer(&format!("/data/{}", DATA_KEY.replace('/', "~1")))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    (release, entries)
}

/// What left Git: remembered entries no longer desired, in deletion order (reverse wave, then
/// reverse kind order: workloads before the namespaces and CRDs they need).
pub fn to_prune(previous: &[Entry], desired: &[Entry]) -> Vec<Entry> {
    let keep: HashSet<_> = desired.iter().map(Entry::identity).collect();
    let mut seen = HashSet::new();
    let mut out: Vec<Entry> = previous
        .iter()
        .filter(|e| !keep.contains(&e.identity()) && seen.insert(e.identity()))
        .cloned()
        .collect();
    out.sort_by(|a, b| {
        (b.wave, kinds::install_rank(&b.kind), &b.name).cmp(&(
            a.wave,
            kinds::install_rank(&a.kind),
            &a.name,
        ))
    });
    out
}

/// The union of two entry lists, by identity (newer entries win).
pub fn union(previous: &[Entry], desired: &[Entry]) -> Vec<Entry> {
    let mut out = desired.to_vec();
    let have: HashSet<_> = desired.iter().map(Entry::identity).collect();
    out.extend(
        previous
            .iter()
            .filter(|e| !have.contains(&e.identity()))
            .cloned(),
    );
    out
}

/// Whether a release's Git content changed since its last successful sync: an object added,
/// removed or changed, or a sync of it that never finished. Live drift is not a change.
pub fn release_changed(previous: Option<&[Entry]>, desired: &[Entry]) -> bool {
    !previous.is_some_and(|p| same(p, desired))
}

/// Whether two entry lists hold the same objects (order ignored).
pub fn same(a: &[Entry], b: &[Entry]) -> bool {
    let a: HashSet<_> = a.iter().collect();
    let b: HashSet<_> = b.iter().collect();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_changed_when_an_object_or_its_hash_did_or_its_last_sync_did_not_finish() {
        let with = |h: Option<&str>| Entry {
            hash: h.map(str::to_string),
            ..e("ConfigMap", "a", 0)
        };
        let desired = vec![with(Some("sha256:1"))];
        assert!(!release_changed(Some(&desired), &desired));
        assert!(release_changed(None, &desired));
        assert!(release_changed(Some(&[with(Some("sha256:0"))]), &desired));
        assert!(release_changed(Some(&[with(None)]), &desired));
        assert!(release_changed(Some(&[]), &desired));
    }

    fn e(kind: &str, name: &str, wave: i32) -> Entry {
        Entry {
            hash: None,
            group: String::new(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: (kind != "Namespace").then(|| "ns".to_string()),
            name: name.into(),
            wave,
        }
    }

    #[test]
    fn prunes_what_left_git_in_reverse_wave_and_kind_order() {
        let previous = vec![
            e("Namespace", "ns", 0),
            e("ConfigMap", "a", 0),
            e("Deployment", "d", 0),
            e("Service", "late", 3),
            e("ConfigMap", "kept", 0),
        ];
        let desired = vec![e("ConfigMap", "kept", 0)];
        let names: Vec<_> = to_prune(&previous, &desired)
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["late", "d", "a", "ns"]);
    }

    #[test]
    fn an_object_changing_api_version_is_not_pruned() {
        let mut v1beta1 = e("ConfigMap", "a", 0);
        v1beta1.version = "v1beta1".into();
        assert!(to_prune(&[v1beta1], &[e("ConfigMap", "a", 0)]).is_empty());
    }

    #[test]
    fn configmap_round_trips_and_damage_reads_as_empty() {
        let entries = vec![e("ConfigMap", "a", 1), e("Deployment", "d", 2)];
        let cm = to_configmap("sextant-system", "prod", "web", &entries);
        let (release, back) = from_configmap(&cm);
        assert_eq!(release, "web");
        assert!(same(&entries, &back));
        let mut damaged = cm.clone();
        damaged["data"]["objects.json"] = "not json".into();
        assert!(from_configmap(&damaged).1.is_empty());
    }
}
