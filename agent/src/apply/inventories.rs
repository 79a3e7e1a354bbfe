//! The inventories one sync reads and writes, in the cluster: read before anything is written,
//! widened with what is about to be created (so a sync killed midway leaves nothing the next
//! one cannot prune), and settled after prune to what Git holds and what could not be pruned.

use super::cluster::{Cluster, ClusterError};
use super::inventory::{self, Entry};
use crate::plan::Plan;
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

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

/// Where one environment's inventories are kept: ConfigMaps in the agent's namespace, one or
/// more per release.
pub(crate) struct Store<'a, C> {
    cluster: &'a C,
    /// The agent's namespace.
    namespace: &'a str,
    environment: &'a str,
    /// How many parts each release's inventory had when read or last written.
    parts: Mutex<BTreeMap<String, usize>>,
}

impl<'a, C: Cluster> Store<'a, C> {
    pub(crate) fn new(cluster: &'a C, namespace: &'a str, environment: &'a str) -> Self {
        Store {
            cluster,
            namespace,
            environment,
            parts: Mutex::default(),
        }
    }

    /// Every release's inventory, its parts put together (a part left from a larger one that
    /// could not be deleted adds entries: an object of ours pruned, never one of another's).
    pub(crate) async fn read(&self) -> Result<Inventories, ClusterError> {
        let any = inventory::reference(self.namespace, self.environment, "");
        let list = self
            .cluster
            .list(&any, &inventory::selector(self.environment))
            .await?;
        let mut out: Inventories = BTreeMap::new();
        let mut parts = BTreeMap::new();
        for cm in &list {
            let (release, entries) = inventory::from_configmap(cm);
            if release.is_empty() {
                continue;
            }
            let count: &mut usize = parts.entry(release.clone()).or_default();
            *count = (*count).max(inventory::part_of(cm) + 1);
            let merged =
                inventory::union(out.get(&release).map_or(&[][..], Vec::as_slice), &entries);
            out.insert(release, merged);
        }
        *self.parts.lock().unwrap_or_else(|p| p.into_inner()) = parts;
        Ok(out)
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
                self.delete_parts(release, 0).await?;
            }
        }
        Ok(())
    }

    /// Writes a release's inventory, in as many parts as it needs, then deletes the parts a
    /// larger one left.
    async fn write(&self, release: &str, entries: &[Entry]) -> Result<(), ClusterError> {
        let cms = inventory::to_configmaps(self.namespace, self.environment, release, entries);
        for (k, cm) in cms.iter().enumerate() {
            let r = inventory::part_reference(self.namespace, self.environment, release, k);
            self.cluster.apply(&r, cm, true, false).await?;
        }
        self.delete_parts(release, cms.len()).await?;
        self.count(release, cms.len());
        Ok(())
    }

    /// Deletes the parts of a release's inventory from `from` on, as many as it had.
    async fn delete_parts(&self, release: &str, from: usize) -> Result<(), ClusterError> {
        let had = self.count_of(release);
        for k in from..had {
            let r = inventory::part_reference(self.namespace, self.environment, release, k);
            self.cluster.delete(&r).await?;
        }
        if from < had {
            self.count(release, from);
        }
        Ok(())
    }

    fn count_of(&self, release: &str) -> usize {
        let parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        parts.get(release).copied().unwrap_or(0)
    }

    fn count(&self, release: &str, n: usize) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        parts.insert(release.to_string(), n);
    }
}
