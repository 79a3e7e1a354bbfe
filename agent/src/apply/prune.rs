//! Pruning: deleting what left Git, in reverse wave order, sparing objects annotated
//! `sextant.io/prune: disabled`, objects no longer labelled as the agent's, and namespaces that
//! still hold objects the agent does not manage.

use super::cluster::{Cluster, ClusterError};
use super::inventory::{self, Entry};
use super::result::{ObjectResult, Outcome};
use super::sync::{identity, Identity, SyncError};
use crate::object::{ANNOTATION_PRUNE, LABEL_MANAGED_BY, MANAGER};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Deletes what left Git, in reverse wave order, sparing what asks to be kept.
pub(super) async fn prune(
    cluster: &Cluster,
    dry_run: bool,
    previous: &BTreeMap<String, Vec<Entry>>,
    desired: &BTreeMap<String, Vec<Entry>>,
) -> Result<Vec<ObjectResult>, SyncError> {
    let all_desired: Vec<Entry> = desired.values().flatten().cloned().collect();
    let mut by_identity: HashMap<Identity, String> = HashMap::new();
    let mut all_previous = Vec::new();
    for (release, entries) in previous {
        for e in entries {
            by_identity.insert(identity(&e.reference()), release.clone());
            all_previous.push(e.clone());
        }
    }
    let mut out = Vec::new();
    for e in inventory::to_prune(&all_previous, &all_desired) {
        let r = e.reference();
        let release = by_identity.get(&identity(&r)).cloned().unwrap_or_default();
        let Some(live) = cluster.get(&r).await? else {
            continue;
        };
        let kept = |why: &str| {
            ObjectResult::new(&release, &r, None, Outcome::Unchanged).with_message(why.to_string())
        };
        let annotation = live
            .pointer(&format!(
                "/metadata/annotations/{}",
                ANNOTATION_PRUNE.replace('/', "~1")
            ))
            .and_then(Value::as_str);
        if annotation == Some("disabled") {
            out.push(kept("left Git; kept: sextant.io/prune=disabled"));
            continue;
        }
        let managed = live
            .pointer(&format!(
                "/metadata/labels/{}",
                LABEL_MANAGED_BY.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            == Some(MANAGER);
        if !managed {
            out.push(kept(
                "left Git; kept: no longer labelled as managed by sextant",
            ));
            continue;
        }
        if r.kind == "Namespace" && r.group.is_empty() {
            if let Some(other) = unmanaged_in_namespace(cluster, &r.name).await? {
                out.push(kept(&format!(
                    "left Git; kept: namespace holds {other}, which sextant does not manage"
                )));
                continue;
            }
        }
        if !dry_run {
            cluster.delete(&r).await?;
        }
        out.push(ObjectResult::new(&release, &r, None, Outcome::Pruned));
    }
    Ok(out)
}

/// The first object in a namespace that the agent does not manage, if any (objects owned by
/// others, events and the per-namespace defaults do not count).
async fn unmanaged_in_namespace(cluster: &Cluster, ns: &str) -> Result<Option<String>, SyncError> {
    let discovery = kube::discovery::Discovery::new(cluster.client().clone())
        .run()
        .await
        .map_err(|e| ClusterError::Api {
            object: format!("Namespace {ns}"),
            verb: "discovery",
            code: None,
            message: e.to_string(),
        })?;
    let ignored: BTreeSet<&str> = ["Event", "Endpoints", "EndpointSlice", "Lease"].into();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope != kube::discovery::Scope::Namespaced
                || !caps.supports_operation(kube::discovery::verbs::LIST)
                || ignored.contains(ar.kind.as_str())
            {
                continue;
            }
            let api: kube::Api<kube::api::DynamicObject> =
                kube::Api::namespaced_with(cluster.client().clone(), ns, &ar);
            let Ok(list) = api.list(&Default::default()).await else {
                continue;
            };
            for o in list.items {
                let name = o.metadata.name.clone().unwrap_or_default();
                let labels = o.metadata.labels.clone().unwrap_or_default();
                let owned = o
                    .metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|r| !r.is_empty());
                let default = matches!(
                    (ar.kind.as_str(), name.as_str()),
                    ("ServiceAccount", "default") | ("ConfigMap", "kube-root-ca.crt")
                );
                if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGER)
                    && !owned
                    && !default
                {
                    return Ok(Some(format!("{} {name}", ar.kind)));
                }
            }
        }
    }
    Ok(None)
}
