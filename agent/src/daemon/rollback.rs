//! The target's side of promotion: when a revision that changed a promoted digest fails its
//! health gate, the last good revision's rendering is applied again at once — no waiting for
//! Git, a gate or a soak — then the forge's loop puts Git right with a revert. The rollback is
//! recorded in the cluster first, so a restart or a leader failover mid-way still ends rolled
//! back; while Git stays on the failed revision, it is not applied again.

use super::applied::Applied;
use super::reconcile::{ReconcileError, Reconciler};
use super::status::now;
use super::Snapshot;
use crate::apply::cluster::{Cluster, Event};
use crate::apply::record;
use crate::apply::result::SyncResult;
use crate::apply::sync::{sync, SyncOptions};
use crate::promotion::rollback::{decide, resume, Decision, Resume, Rollback};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

impl<C: Cluster + 'static> Reconciler<C> {
    /// The environment's rollback record (read from the cluster on first use).
    async fn rollback_record(&self) -> Option<Rollback> {
        let name = record::rollback_name(&self.environment);
        self.remembered(&self.rollback, &name, |r: Rollback| r)
            .await
    }

    /// A record of this environment kept in `memo` as `wrap` makes it, read from the cluster
    /// on first use. `None` when there is none, or when it cannot be read now (logged, and read
    /// again next time).
    pub(super) async fn remembered<R: serde::de::DeserializeOwned + Send, T: Clone>(
        &self,
        memo: &tokio::sync::Mutex<Option<Option<T>>>,
        name: &str,
        wrap: impl FnOnce(R) -> T,
    ) -> Option<T> {
        let mut memo = memo.lock().await;
        if memo.is_none() {
            match record::load::<R>(&self.cluster, &self.agent_namespace, name).await {
                Ok(r) => *memo = Some(r.map(wrap)),
                Err(e) => {
                    tracing::warn!(environment = %self.environment, record = name, error = %e, "cannot read the record; reading it again next time");
                    return None;
                }
            }
        }
        memo.clone().flatten()
    }

    async fn keep_record(&self, r: Option<Rollback>) {
        let written = record::keep(
            &self.cluster,
            &self.agent_namespace,
            &record::rollback_name(&self.environment),
            &self.environment,
            r.as_ref(),
        )
        .await;
        if let Err(e) = written {
            tracing::warn!(environment = %self.environment, error = %e, "cannot write the rollback record");
        }
        self.update(|s| s.rollback = r.clone());
        *self.rollback.lock().await = Some(r);
    }

    /// `Some` when Git still says the revision this environment rolled back from: what the
    /// reconcile returns instead of applying it.
    pub(super) async fn rolled_back_from(
        &self,
        snapshot: &Snapshot,
    ) -> Option<Result<(), ReconcileError>> {
        let r = self.rollback_record().await?;
        let applied = self
            .applied
            .borrow()
            .as_ref()
            .and_then(|a| a.revision.clone());
        match resume(Some(&r), &snapshot.revision, applied.as_deref()) {
            Resume::Reconcile => return None,
            Resume::Hold => {
                self.update(|s| s.rollback = Some(r.clone()));
                tracing::debug!(environment = %self.environment, from = %r.from, to = %r.to, "rolled back: the failed revision is not applied again");
                return Some(Ok(()));
            }
            Resume::Finish => self.update(|s| s.rollback = Some(r.clone())),
        }
        // A restart or failover since the rollback began: finish it.
        tracing::info!(environment = %self.environment, from = %r.from, to = %r.to, "finishing a rollback begun before a restart or failover");
        let good = match self.good_rendering(&r.to).await {
            Ok(good) => good,
            Err(e) => return Some(Err(e)),
        };
        Some(self.apply_good(good, r).await)
    }

    /// The rendering of the last good revision `revision`: the one in memory, or rendered again
    /// from Git's history.
    pub(super) async fn good_rendering(
        &self,
        revision: &str,
    ) -> Result<Arc<Applied>, ReconcileError> {
        if let Some(a) = self.applied.borrow().clone() {
            if a.is_revision(revision) {
                return Ok(a);
            }
        }
        let rendered = self.render_again(revision).await;
        if let Err(e) = &rendered {
            tracing::error!(environment = %self.environment, revision, error = %e, "the last good revision cannot be rendered again: no rollback");
        }
        rendered
    }

    async fn render_again(&self, revision: &str) -> Result<Arc<Applied>, ReconcileError> {
        let Some(history) = self.history.clone() else {
            return Err(ReconcileError::NoHistory {
                revision: revision.to_string(),
            });
        };
        let rev = revision.to_string();
        let snapshot = tokio::task::spawn_blocking(move || history(&rev))
            .await?
            .map_err(|source| ReconcileError::History {
                revision: revision.to_string(),
                source,
            })?;
        let prepared = self.plan(&snapshot).await?;
        Ok(Arc::new(Applied::new(
            prepared.environment,
            Some(revision.to_string()),
            prepared
                .plan
                .objects()
                .filter(|o| o.hook.is_none())
                .cloned()
                .collect(),
        )))
    }

    /// After a failed sync of `revision`: rolls back when it changed a promoted digest.
    pub(super) async fn roll_back_if_promoted(
        &self,
        environment: &crate::environment::Environment,
        revision: &str,
        result: &SyncResult,
    ) {
        let images = environment
            .promotion
            .as_ref()
            .map(|p| p.images.clone())
            .unwrap_or_default();
        let digests = crate::promotion::digests(environment, &images);
        let in_memory = self
            .applied
            .borrow()
            .clone()
            .filter(|a| !a.is_revision(revision));
        let good = match in_memory {
            Some(a) => Some(a),
            None => {
                let recorded = crate::apply::state::applied_revision(
                    &self.cluster,
                    &self.agent_namespace,
                    &self.environment,
                )
                .await
                .ok()
                .flatten()
                .filter(|g| g != revision);
                match recorded {
                    Some(g) => self.good_rendering(&g).await.ok(),
                    None => None,
                }
            }
        };
        let good_digests: Option<BTreeMap<String, String>> = good.as_ref().map(|g| {
            // The good revision's digests, read with today's declaration.
            crate::promotion::digests(&g.environment, &images)
                .into_iter()
                .chain(g.digests.clone())
                .collect()
        });
        let decision = decide(
            result.unhealthy,
            revision,
            &digests,
            good.as_ref()
                .zip(good_digests.as_ref())
                .and_then(|(g, d)| Some((g.revision.as_deref()?, d))),
        );
        let (Decision::RollBack(releases), Some(good)) = (decision.clone(), good) else {
            if let Decision::Stay(why) = decision {
                tracing::info!(environment = %self.environment, revision, why, "no rollback");
            }
            return;
        };
        let r = Rollback {
            from: revision.to_string(),
            to: good.revision.clone().unwrap_or_default(),
            releases,
            reason: result.error.as_deref().unwrap_or_default().to_string(),
            cause: crate::promotion::rollback::Cause::Health,
            at: now(),
            rolled_back: false,
            reverted: None,
            revert_error: None,
            revert_retry_at: None,
        };
        tracing::warn!(environment = %self.environment, from = %r.from, to = %r.to, reason = %r.reason, "a promoted digest failed its health gate: rolling back now");
        self.start_rollback(Some(good), r).await;
    }

    /// Records the rollback, then applies the good rendering when there is one. Recorded
    /// before anything is written: whoever leads next finishes it (rendering the good revision
    /// again when it could not be here).
    pub(super) async fn start_rollback(&self, good: Option<Arc<Applied>>, r: Rollback) {
        self.keep_record(Some(r.clone())).await;
        if let Some(good) = good {
            // A failure is logged where it happens; the record makes the next reconcile finish it.
            let _ = self.apply_good(good, r).await;
        }
    }

    /// Applies the good rendering (a fresh sync: every object back to it, prune included).
    async fn apply_good(&self, good: Arc<Applied>, mut r: Rollback) -> Result<(), ReconcileError> {
        let started = Instant::now();
        let plan = match crate::plan::build(
            &self.environment,
            good.revision.clone(),
            good.objects.clone(),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(environment = %self.environment, error = %e, "the good rendering does not plan: no rollback");
                return Err(crate::Error::from(e).into());
            }
        };
        let mut opts = SyncOptions::for_environment(&good.environment);
        opts.leave_drift = true;
        opts.agent_namespace = self.agent_namespace.clone();
        opts.stop = Some(self.stop.clone());
        opts.live = self.live.clone();
        let result = sync(&self.cluster, &good.environment, &plan, &opts).await;
        self.record(&result, started.elapsed().as_secs_f64());
        if let Some(failure) = result.error.filter(|_| !result.succeeded) {
            tracing::error!(environment = %self.environment, to = %r.to, error = %failure, "the rollback's sync failed; trying again with the next reconcile");
            return Err(ReconcileError::Sync(failure));
        }
        r.rolled_back = true;
        for c in &r.releases {
            self.metrics
                .rollbacks_total
                .with_label_values(&[
                    self.environment.as_str(),
                    c.release.as_str(),
                    r.cause.as_str(),
                ])
                .inc();
        }
        tracing::warn!(environment = %self.environment, from = %r.from, to = %r.to, seconds = started.elapsed().as_secs_f64(), "rolled back to the last good rendering");
        self.keep_record(Some(r.clone())).await;
        self.events(&good, &r).await;
        if let Some(jobs) = &self.jobs {
            let _ = jobs
                .send(super::promote::Job::Revert {
                    environment: Box::new(good.environment.clone()),
                    rollback: r.clone(),
                })
                .await;
        }
        self.applied.send_replace(Some(good));
        // The failed revision is not applied again: the loop sees the rollback as done.
        Ok(())
    }

    /// Once a revision other than the failed one is applied in full, the rollback is over; a
    /// digest that changed is timed from the source's apply to this one (the lead time).
    pub(super) async fn applied_in_full(
        &self,
        applied: &Applied,
        before: Option<&BTreeMap<String, String>>,
    ) {
        if let Some(r) = self.rollback_record().await {
            if applied.revision.as_deref() != Some(r.from.as_str()) {
                tracing::info!(environment = %self.environment, from = %r.from, "Git moved on from the rolled-back revision and it applied: the rollback is over");
                self.keep_record(None).await;
            }
        }
        let Some(jobs) = &self.jobs else { return };
        for (release, digest) in &applied.digests {
            if before.is_some_and(|b| b.get(release) != Some(digest)) {
                let _ = jobs
                    .send(super::promote::Job::Applied {
                        environment: self.environment.clone(),
                        release: release.clone(),
                        digest: digest.clone(),
                    })
                    .await;
            }
        }
    }

    /// A Warning Event on each rolled-back release's workloads.
    async fn events(&self, good: &Applied, r: &Rollback) {
        for c in &r.releases {
            let note = format!(
                "rolled back from {} (revision {}) to {} (revision {}): {}",
                crate::promotion::gate::short(&c.bad),
                &r.from[..r.from.len().min(12)],
                crate::promotion::gate::short(&c.previous),
                &r.to[..r.to.len().min(12)],
                r.reason
            );
            for o in good.objects.iter().filter(|o| {
                o.release == c.release
                    && matches!(
                        o.reference.kind.as_str(),
                        "Deployment" | "StatefulSet" | "DaemonSet"
                    )
            }) {
                let event = Event {
                    regarding: o.reference.clone(),
                    warning: true,
                    reason: "RolledBack".into(),
                    action: "Rollback".into(),
                    note: note.clone(),
                    instance: self.identity.clone(),
                };
                if let Err(e) = self.cluster.event(&event).await {
                    tracing::debug!(error = %e, "cannot publish an event");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The rollback's steps called directly, over the in-memory cluster (held to the kube edge
    //! by `tests/cluster_contract.rs`) under a paused clock, with a real helm rendering: no
    //! process, no server, no waiting on a loop.
    use super::super::testing::{self, checkout, live_image, rendered};
    use super::*;
    use crate::apply::result::SyncFailure;
    use crate::promotion::rollback::Changed;
    use sextant_fakes::FakeCluster;
    use std::path::Path;

    const NS: &str = "default";
    const GOOD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const BAD: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn reconciler(
        cluster: &Arc<FakeCluster>,
        dir: &Path,
    ) -> (
        Reconciler<FakeCluster>,
        tokio::sync::mpsc::Receiver<super::super::promote::Job>,
    ) {
        testing::reconciler(dir, NS, cluster.clone())
    }

    fn failed(unhealthy: bool) -> SyncResult {
        SyncResult {
            environment: "prod".into(),
            revision: Some("b".repeat(40)),
            dry_run: false,
            succeeded: false,
            error: Some(SyncFailure {
                message: "ConfigMap default/app: degraded".into(),
                label: "degraded",
                transient: false,
            }),
            duration_seconds: 0.0,
            waves: Vec::new(),
            pruned: Vec::new(),
            totals: Default::default(),
            unhealthy,
        }
    }

    /// After a failed sync of the bad revision: a health-gate failure of a revision that
    /// changed a promoted digest rolls back at once (the good rendering applied, recorded, a
    /// revert asked of the forge's loop); any other failure, or a digest unchanged, does not.
    #[tokio::test(start_paused = true)]
    async fn only_a_health_gate_failure_of_a_changed_digest_rolls_back_at_once() {
        let (good_rev, bad_rev) = ("g".repeat(40), "b".repeat(40));
        // (the bad revision's digest, the sync stopped at a health gate, rolled back)
        let table = [(BAD, true, true), (BAD, false, false), (GOOD, true, false)];
        for (digest, unhealthy, rolls_back) in table {
            let cluster = Arc::new(FakeCluster::new());
            let dir = tempfile::tempdir().unwrap();
            let (good_repo, bad_repo) = (dir.path().join("good"), dir.path().join("bad"));
            checkout(&good_repo, GOOD, "");
            checkout(&bad_repo, digest, "");
            let (r, mut jobs) = reconciler(&cluster, dir.path());
            r.applied
                .send_replace(Some(rendered(&r, &good_repo, &good_rev)));
            let bad = crate::environment::load(&bad_repo, "prod").unwrap();

            r.roll_back_if_promoted(&bad, &bad_rev, &failed(unhealthy))
                .await;

            let row = format!("digest {digest}, unhealthy {unhealthy}");
            let recorded: Option<Rollback> =
                record::load(&r.cluster, NS, &record::rollback_name("prod"))
                    .await
                    .unwrap();
            assert_eq!(recorded.is_some(), rolls_back, "{row}: the record");
            let job = jobs.try_recv().ok();
            assert_eq!(job.is_some(), rolls_back, "{row}: the revert asked");
            let rolled = r
                .metrics
                .rollbacks_total
                .with_label_values(&["prod", "app", "health"])
                .get();
            assert_eq!(rolled, u64::from(rolls_back), "{row}");
            if !rolls_back {
                assert_eq!(
                    live_image(&*r.cluster, NS).await,
                    None,
                    "{row}: nothing written"
                );
                continue;
            }
            let recorded = recorded.unwrap();
            assert!(recorded.rolled_back, "{recorded:?}");
            assert_eq!(
                (recorded.from.as_str(), recorded.to.as_str()),
                (bad_rev.as_str(), good_rev.as_str())
            );
            let changed = Changed {
                release: "app".into(),
                bad: BAD.into(),
                previous: GOOD.into(),
            };
            assert_eq!(recorded.releases, std::slice::from_ref(&changed));
            assert!(recorded.reason.contains("degraded"), "{recorded:?}");
            let Some(super::super::promote::Job::Revert { rollback, .. }) = job else {
                panic!("a revert job: {job:?}");
            };
            assert_eq!(rollback.releases, [changed]);
            assert_eq!(
                live_image(&*r.cluster, NS).await.as_deref(),
                Some(GOOD),
                "the good rendering applied"
            );
            let shown = r.status.lock().unwrap().environments["prod"]
                .rollback
                .clone();
            assert_eq!(shown.map(|s| s.to), Some(good_rev.clone()));
        }
    }

    /// A reconcile of the revision rolled back from: held while the good rendering is what this
    /// agent applied; after a restart (nothing applied in memory) it finishes the rollback,
    /// which without Git's history to render the good revision again is a typed error.
    #[tokio::test(start_paused = true)]
    async fn a_reconcile_of_the_failed_revision_is_held_or_finishes_the_rollback() {
        let (good_rev, bad_rev) = ("g".repeat(40), "b".repeat(40));
        let cluster = Arc::new(FakeCluster::new());
        let dir = tempfile::tempdir().unwrap();
        let (good_repo, bad_repo) = (dir.path().join("good"), dir.path().join("bad"));
        checkout(&good_repo, GOOD, "");
        checkout(&bad_repo, BAD, "");
        let (r, _jobs) = reconciler(&cluster, dir.path());
        r.applied
            .send_replace(Some(rendered(&r, &good_repo, &good_rev)));
        let bad = crate::environment::load(&bad_repo, "prod").unwrap();
        r.roll_back_if_promoted(&bad, &bad_rev, &failed(true)).await;
        let snapshot = |revision: &str| Snapshot {
            revision: revision.to_string(),
            path: bad_repo.clone(),
        };

        let writes = |cluster: &FakeCluster| {
            cluster
                .calls()
                .iter()
                .filter(|(verb, _)| ["apply", "delete", "event"].contains(&verb.as_str()))
                .count()
        };
        let before = writes(&cluster);
        assert!(
            matches!(r.rolled_back_from(&snapshot(&bad_rev)).await, Some(Ok(()))),
            "held"
        );
        assert_eq!(writes(&cluster), before, "nothing written while held");
        assert!(
            r.rolled_back_from(&snapshot("c".repeat(40).as_str()))
                .await
                .is_none(),
            "Git moved on: reconciled"
        );

        // A restart: the record read from the cluster, nothing applied in memory yet.
        let (restarted, _jobs) = reconciler(&cluster, dir.path());
        match restarted.rolled_back_from(&snapshot(&bad_rev)).await {
            Some(Err(e)) => assert_eq!(e.metric_label(), "rollback_unavailable", "{e}"),
            other => panic!("finishing without history: {other:?}"),
        }
        let shown = restarted.status.lock().unwrap().environments["prod"]
            .rollback
            .clone();
        assert_eq!(
            shown.map(|s| s.from),
            Some(bad_rev),
            "the record shown while finishing"
        );
    }
}
