//! The inventories one sync reads and writes, in the cluster: read before anything is written,
//! widened with what is about to be created (so a sync killed midway leaves nothing the next
//! one cannot prune), and settled after prune to what Git holds and what could not be pruned.

use super::cluster::{Cluster, ClusterError};
use super::inventory::{self, Entry};
use crate::plan::Plan;
use std::collections::{BTreeMap, HashSet};

/// Each release's entries, as an inventory records them.
pub(crate) type Inventories = BTreeMap<String, Vec<Entry>>;

/// What the plan asks for, release by release (hooks are not inventoried).
pub(crate) fn desired(plan: &Plan) -> Inventories {
    let mut out: Inventories = BTreeMap::new();
    for o in plan.objects().filter(|o| o.hook.is_none()) {
        out.entry(o.release.clone()).or_default().push(Entry::of(o));
    }
    out
}

/// The releases whose objects changed in Git since their inventory was written: only their
/// hooks run.
pub(crate) fn changed_releases(previous: &Inventories, desired: &Inventories) -> HashSet<String> {
    desired
        .iter()
        .filter(|(release, entries)| {
            inventory::release_changed(previous.get(*release).map(Vec::as_slice), entries)
        })
        .map(|(release, _)| release.clone())
        .collect()
}

/// Where one environment's inventories are kept: ConfigMaps in the agent's namespace.
pub(crate) struct Store<'a, C> {
    pub(crate) cluster: &'a C,
    /// The agent's namespace.
    pub(crate) namespace: &'a str,
    pub(crate) environment: &'a str,
}

impl<C: Cluster> Store<'_, C> {
    pub(crate) async fn read(&self) -> Result<Inventories, ClusterError> {
        let any = inventory::reference(self.namespace, self.environment, "");
        let list = self
            .cluster
            .list(&any, &inventory::selector(self.environment))
            .await?;
        Ok(list
            .iter()
            .map(inventory::from_configmap)
            .filter(|(release, _)| !release.is_empty())
            .collect())
    }

    /// Remembers what is about to be created before creating it, so that a sync killed midway
    /// leaves no object the next one cannot prune.
    pub(super) async fn record_pending(
        &self,
        previous: &Inventories,
        desired: &Inventories,
    ) -> Result<(), ClusterError> {
        for (release, entries) in desired {
            let before = previous.get(release).cloned().unwrap_or_default();
            // Changed objects are written as pending: a sync killed midway leaves the release
            // "changed", so the next one runs its hooks.
            let pending: Vec<_> = entries
                .iter()
                .map(|e| match before.iter().find(|b| *b == e) {
                    Some(b) => b.clone(),
                    None => e.pending(),
                })
                .collect();
            let union = inventory::union(&before, &pending);
            if !inventory::same(&before, &union) {
                self.write(release, &union).await?;
            }
        }
        Ok(())
    }

    /// After the waves and prune: each release's inventory is what Git holds plus what could
    /// not be pruned safely (`deferred`, for the next sync to retry); with `prune`, the
    /// inventory of a release that left Git goes, its objects pruned.
    pub(super) async fn settle(
        &self,
        prune: bool,
        previous: &Inventories,
        desired: &Inventories,
        deferred: &Inventories,
    ) -> Result<(), ClusterError> {
        let mut keep = desired.clone();
        for (release, entries) in deferred {
            let merged =
                inventory::union(keep.get(release).map_or(&[][..], Vec::as_slice), entries);
            keep.insert(release.clone(), merged);
        }
        for (release, entries) in &keep {
            if !previous
                .get(release)
                .is_some_and(|p| inventory::same(p, entries))
            {
                self.write(release, entries).await?;
            }
        }
        for release in previous.keys().filter(|r| !keep.contains_key(*r)) {
            if prune {
                self.cluster
                    .delete(&inventory::reference(
                        self.namespace,
                        self.environment,
                        release,
                    ))
                    .await?;
            }
        }
        Ok(())
    }

    async fn write(&self, release: &str, entries: &[Entry]) -> Result<(), ClusterError> {
        let r = inventory::reference(self.namespace, self.environment, release);
        let cm = inventory::to_configmap(self.namespace, self.environment, release, entries);
        self.cluster.apply(&r, &cm, true, false).await.map(|_| ())
    }
}
