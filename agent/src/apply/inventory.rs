//! Inventory: which objects the agent applied for each release of an environment, kept in the
//! cluster (a ConfigMap per environment and release in the agent's namespace, as Flux keeps its
//! inventory), so that objects that leave Git can be pruned. The decisions here are pure.

use crate::kinds;
use crate::object::{
    Object, ObjectRef, LABEL_ENVIRONMENT, LABEL_MANAGED_BY, LABEL_RELEASE, MANAGER,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest as _;
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

/// The most of its entries one inventory ConfigMap holds, in bytes of JSON: half the 1 MiB a
/// ConfigMap's values may hold, so a release of thousands of objects spreads over parts.
pub const PART_BYTES: usize = 512 * 1024;
/// Which part of its release's inventory a ConfigMap is (`0`, `1`, …).
pub const LABEL_PART: &str = "sextant.io/inventory-part";

/// The name of part `part` of a release's inventory: the first is [`name`]; the others add the
/// part and a hash of environment and release, so that no other release's name can equal it.
pub fn part_name(environment: &str, release: &str, part: usize) -> String {
    if part == 0 {
        return name(environment, release);
    }
    let digest = sha2::Sha256::digest(format!("{environment}/{release}").as_bytes());
    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-part{part}-{short}", name(environment, release))
}

pub fn part_reference(
    agent_namespace: &str,
    environment: &str,
    release: &str,
    part: usize,
) -> ObjectRef {
    ObjectRef {
        name: part_name(environment, release, part),
        ..reference(agent_namespace, environment, release)
    }
}

/// A release's inventory as ConfigMaps: its entries sorted, in parts of at most
/// [`PART_BYTES`] (one at least, empty or not).
pub fn to_configmaps(
    agent_namespace: &str,
    environment: &str,
    release: &str,
    entries: &[Entry],
) -> Vec<Value> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|a| a.identity());
    let mut parts: Vec<Vec<String>> = vec![Vec::new()];
    let mut size = 0;
    for e in &sorted {
        let text = serde_json::to_string(e).unwrap_or_default();
        let last = parts.last().is_some_and(|p| !p.is_empty());
        if last && size + text.len() + 1 > PART_BYTES {
            parts.push(Vec::new());
            size = 0;
        }
        size += text.len() + 1;
        if let Some(p) = parts.last_mut() {
            p.push(text);
        }
    }
    parts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": part_name(environment, release, k),
                    "namespace": agent_namespace,
                    "labels": {
                        LABEL_MANAGED_BY: MANAGER,
                        LABEL_COMPONENT: COMPONENT,
                        LABEL_ENVIRONMENT: environment,
                        LABEL_RELEASE: release,
                        LABEL_PART: k.to_string(),
                    },
                },
                "data": { DATA_KEY: format!("[{}]", p.join(",")) },
            })
        })
        .collect()
}

/// Which part of its release's inventory `cm` is (an inventory written before parts: `0`).
pub fn part_of(cm: &Value) -> usize {
    cm.pointer(&format!(
        "/metadata/labels/{}",
        LABEL_PART.replace('/', "~1")
    ))
    .and_then(Value::as_str)
    .and_then(|p| p.parse().ok())
    .unwrap_or(0)
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
        let cms = to_configmaps("sextant-system", "prod", "web", &entries);
        assert_eq!(cms.len(), 1);
        assert_eq!(cms[0]["metadata"]["name"], "sextant-inventory-prod-web");
        let (release, back) = from_configmap(&cms[0]);
        assert_eq!(release, "web");
        assert!(same(&entries, &back));
        let mut damaged = cms[0].clone();
        damaged["data"]["objects.json"] = "not json".into();
        assert!(from_configmap(&damaged).1.is_empty());
        assert_eq!(to_configmaps("n", "prod", "web", &[]).len(), 1);
    }

    #[test]
    fn a_large_inventory_spreads_over_parts_each_under_the_limit() {
        let entries: Vec<Entry> = (0..20_000)
            .map(|i| e("ConfigMap", &format!("config-{i:05}"), 0))
            .collect();
        let cms = to_configmaps("sextant-system", "prod", "many", &entries);
        assert!(cms.len() > 1, "{} parts", cms.len());
        let mut back = Vec::new();
        for (k, cm) in cms.iter().enumerate() {
            let text = cm["data"]["objects.json"].as_str().unwrap();
            assert!(text.len() <= PART_BYTES, "part {k}: {} bytes", text.len());
            assert_eq!(part_of(cm), k);
            assert_eq!(cm["metadata"]["name"], part_name("prod", "many", k));
            back.extend(from_configmap(cm).1);
        }
        assert!(same(&entries, &back));
        // A part's name is no other release's first: the hash sets it apart.
        assert_ne!(part_name("prod", "many", 1), name("prod", "many-part1"));
    }
}
