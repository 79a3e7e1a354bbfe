//! One environment's reconcile: render and plan a snapshot, apply it, and record the outcome in
//! status and metrics. A snapshot that does not render or plan is never applied: the last good
//! revision stays as it is, and the error (with file and field) is reported.

pub use super::applied::Applied;
use super::clock::unix_now;
use super::commit_status::Outcome as CommitOutcome;
pub use super::failure::ReconcileError;
use super::status::{now, EnvironmentStatus, LastError, LastSync, Status};
use super::Snapshot;
use crate::apply::cluster::{Cluster, KubeCluster};
use crate::apply::result::{Outcome, SyncResult};
use crate::apply::sync::{identity, Identity};
use crate::apply::sync::{sync, SyncOptions};
use crate::environment::DriftPolicy;
use crate::metrics::Metrics;
use crate::render::Renderer;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One environment's reconciler, over a cluster (the kube edge; the in-memory one in tests).
pub struct Reconciler<C = KubeCluster> {
    pub environment: String,
    pub renderer: Arc<Renderer>,
    pub cluster: Arc<C>,
    pub metrics: Metrics,
    pub status: Arc<Mutex<Status>>,
    pub agent_namespace: String,
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// The `sextant_objects` series this environment set last, to clear before the next.
    pub object_series: Mutex<Vec<(String, &'static str)>>,
    /// What the last successful sync applied, for the drift watch (and heals).
    pub applied: tokio::sync::watch::Sender<Option<Arc<Applied>>>,
    /// The environment's live cache (the drift watch keeps it watching what was applied): the
    /// sync reads synced kinds from it and its health gates wake on its events. `None`: every
    /// read goes to the cluster.
    pub live: Option<Arc<dyn crate::apply::view::LiveView>>,
    /// Any revision of the repository as a snapshot (the Git source): a rollback after a
    /// restart or failover renders the last good revision again. `None`: a working tree.
    pub history: Option<History>,
    /// The environment's rollback record, read from the cluster once, then kept here.
    pub rollback: tokio::sync::Mutex<Option<Option<crate::promotion::rollback::Rollback>>>,
    /// The verification under way after a promotion (`promotion.verify`), read from the
    /// cluster once, then kept here.
    pub verifying: tokio::sync::Mutex<Option<Option<super::applied::Watch>>>,
    /// The wall clock a verification's window is counted on.
    pub clock: super::clock::Clock,
    /// Where a rollback asks for its revert in Git (the forge's loop), if there is a forge.
    pub jobs: Option<tokio::sync::mpsc::Sender<super::promote::Job>>,
    /// This replica's name, as the reporting instance of its Kubernetes Events.
    pub identity: String,
    /// The status on each commit reconciled (sent to the forge's loop, when there is one).
    pub statuses: super::commit_status::CommitStatuses,
    /// Verifies promoted digests' signatures before a revision is applied
    /// (`spec.promotion.verifyOnApply`); `None`: no registry to ask (tests without one).
    pub signatures: Option<crate::signature::Checker>,
    /// The (repository, digest, policy) whose signature verified, not asked again.
    pub signed: Mutex<std::collections::HashSet<(String, String, String)>>,
}

/// A snapshot of the repository at any revision.
pub type History = Arc<dyn Fn(&str) -> Result<Snapshot, sextant_source::SourceError> + Send + Sync>;

/// What a snapshot renders and plans to.
pub(super) struct Prepared {
    pub environment: crate::environment::Environment,
    pub releases: Vec<crate::render::ReleaseRender>,
    pub plan: crate::plan::Plan,
}

impl<C: Cluster + 'static> Reconciler<C> {
    pub(super) fn update(&self, f: impl FnOnce(&mut EnvironmentStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(s.environments.entry(self.environment.clone()).or_default());
        }
    }

    /// Records when the next attempt after a failure is due (`None` once one succeeded).
    pub fn set_retry_at(&self, at: Option<String>) {
        self.update(|s| s.retry_at = at);
    }

    /// Each release's render time, and the SOPS files the environment's render decrypted.
    fn rendered(&self, releases: &[crate::render::ReleaseRender]) {
        let env = self.environment.as_str();
        for r in releases {
            self.metrics
                .render_duration_seconds
                .with_label_values(&[env, r.release.as_str()])
                .observe(r.duration.as_secs_f64());
        }
        let decrypted: usize = releases.iter().map(|r| r.decrypted_files).sum();
        self.metrics
            .values_decrypted_files
            .with_label_values(&[env])
            .set(i64::try_from(decrypted).unwrap_or(i64::MAX));
    }

    fn failed_before_apply(&self, snapshot: &Snapshot, e: &ReconcileError) {
        let env = self.environment.as_str();
        let stage = e.stage();
        tracing::error!(environment = env, revision = %snapshot.revision, stage, error = %e, transient = e.is_transient(), "reconcile failed; the last good revision stays applied");
        // Status first, then metrics: whoever sees a counter rise also sees the error.
        self.update(|s| {
            s.synced_once = true;
            s.last_error = Some(LastError::of(e, Some(snapshot.revision.clone())));
        });
        let m = &self.metrics;
        m.reconcile_errors_total
            .with_label_values(&[env, stage, e.metric_label()])
            .inc();
        if let Some(reason) = e.decrypt_reason() {
            m.values_decrypt_failures_total
                .with_label_values(&[env, reason])
                .inc();
        }
        m.sync_total.with_label_values(&[env, "failed"]).inc();
        m.last_sync_timestamp_seconds
            .with_label_values(&[env, "failed"])
            .set(unix_now());
    }

    /// Renders, plans and applies `snapshot`. A `resync` of the revision already applied leaves
    /// the drift of releases whose drift policy is not `heal` as it is: only `heal` heals.
    pub async fn reconcile(&self, snapshot: &Snapshot, resync: bool) -> Result<(), ReconcileError> {
        use tracing::Instrument as _;
        let started = Instant::now();
        let span = tracing::info_span!("reconcile", environment = %self.environment, revision = %snapshot.revision);
        self.update(|s| {
            s.reconcile_started = Some(started);
            s.reconciling_since = Some(now());
        });
        let outcome = self
            .reconcile_snapshot(snapshot, started, resync)
            .instrument(span)
            .await;
        self.update(|s| {
            s.reconcile_started = None;
            s.reconciling_since = None;
        });
        outcome
    }

    async fn reconcile_snapshot(
        &self,
        snapshot: &Snapshot,
        started: Instant,
        resync: bool,
    ) -> Result<(), ReconcileError> {
        let env = self.environment.clone();
        // Git still says the revision this environment rolled back from: the good rendering
        // stays, or, after a restart or failover, is applied again.
        if let Some(held) = self.rolled_back_from(snapshot).await {
            return held;
        }
        let Prepared {
            environment,
            releases,
            plan,
        } = match self.plan(snapshot).await {
            Ok(p) => p,
            Err(e) => {
                self.failed_before_apply(snapshot, &e);
                self.statuses
                    .ended(&snapshot.revision, &CommitOutcome::NotPlanned(&e));
                return Err(e);
            }
        };
        if let Err(e) = self.signatures_hold(&environment).await {
            self.failed_before_apply(snapshot, &e);
            self.statuses
                .ended(&snapshot.revision, &CommitOutcome::NotPlanned(&e));
            return Err(e);
        }
        self.rendered(&releases);

        let mut opts = SyncOptions::for_environment(&environment);
        opts.leave_drift = true;
        opts.agent_namespace = self.agent_namespace.clone();
        opts.stop = Some(self.stop.clone());
        opts.live = self.live.clone();
        let same_revision = self
            .applied
            .borrow()
            .as_ref()
            .is_some_and(|a| a.is_revision(&snapshot.revision));
        // A replica that starts or takes over reads what was applied in full before it: the same
        // revision again is a resync, not a reason to overwrite reported drift.
        let restarted_on_same = self.applied.borrow().is_none()
            && crate::apply::state::applied_revision(&self.cluster, &self.agent_namespace, &env)
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r == snapshot.revision);
        tracing::debug!(resync, same_revision, restarted_on_same, "sync decision");
        if (resync && same_revision) || restarted_on_same {
            opts.resync = true;
            opts.hold = environment
                .releases
                .iter()
                .filter(|r| environment.drift_policy(&r.name) != DriftPolicy::Heal)
                .map(|r| r.name.clone())
                .collect();
        }
        self.statuses.applying(&snapshot.revision);
        let result = sync(&self.cluster, &environment, &plan, &opts).await;
        self.record(&result, started.elapsed().as_secs_f64());
        if result.succeeded {
            let objects = plan
                .objects()
                .filter(|o| o.hook.is_none())
                .cloned()
                .collect();
            let applied = Applied::new(environment, Some(snapshot.revision.clone()), objects);
            let previous = self.applied.borrow().clone();
            let before = previous.as_ref().map(|a| a.digests.clone());
            self.applied_in_full(&applied, before.as_ref()).await;
            self.start_verification(&applied, previous).await;
            self.applied.send_replace(Some(Arc::new(applied)));
        } else if result.unhealthy && environment.promotion.is_some() {
            self.roll_back_if_promoted(&environment, &snapshot.revision, &result)
                .await;
        }
        let rolled_back_to = self
            .rollback
            .lock()
            .await
            .clone()
            .flatten()
            .filter(|r| r.from == snapshot.revision && r.rolled_back)
            .map(|r| r.to);
        self.statuses.ended(
            &snapshot.revision,
            &CommitOutcome::Synced {
                result: &result,
                rolled_back_to: rolled_back_to.as_deref(),
            },
        );
        match result.error {
            Some(failure) if !result.succeeded => Err(ReconcileError::Sync(failure)),
            _ => Ok(()),
        }
    }

    /// Every promoted digest of the revision whose image asks for a signature has one that
    /// verifies, unless the environment opts out (`verifyOnApply: false`): a digest committed
    /// by hand, past the promotion's pull request, is not applied unsigned.
    async fn signatures_hold(
        &self,
        environment: &crate::environment::Environment,
    ) -> Result<(), ReconcileError> {
        let (Some(check), Some(p)) = (&self.signatures, &environment.promotion) else {
            return Ok(());
        };
        if !p.verify_on_apply {
            return Ok(());
        }
        let digests = crate::promotion::digests(environment, &p.images);
        for image in &p.images {
            let (Some(v), Some(digest)) = (&image.verify, digests.get(&image.release)) else {
                continue;
            };
            let memo = (
                image.repository.clone(),
                digest.clone(),
                format!("{:?}", v.signature),
            );
            if self.signed.lock().is_ok_and(|s| s.contains(&memo)) {
                continue;
            }
            let unverified = |reason: String, transient: bool| ReconcileError::Unverified {
                release: image.release.clone(),
                digest: digest.clone(),
                reason,
                transient,
            };
            match check(
                image.repository.clone(),
                digest.clone(),
                v.signature.clone(),
            )
            .await
            {
                Ok(_) => {
                    if let Ok(mut s) = self.signed.lock() {
                        s.insert(memo);
                    }
                }
                Err(crate::signature::Failure::Refused(r)) => {
                    return Err(unverified(
                        format!("its signature does not verify: {r}"),
                        false,
                    ))
                }
                Err(crate::signature::Failure::Registry(e)) => {
                    return Err(unverified(
                        format!("its signatures cannot be read: {e}"),
                        e.transient,
                    ))
                }
            }
        }
        Ok(())
    }

    /// Renders and plans a snapshot (blocking work, off the runtime).
    pub(super) async fn plan(&self, snapshot: &Snapshot) -> Result<Prepared, ReconcileError> {
        let renderer = self.renderer.clone();
        let path = snapshot.path.clone();
        let revision = snapshot.revision.clone();
        let env_name = self.environment.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            let environment = crate::environment::load(&path, &env_name)?;
            let rendered = renderer.render(&environment, None)?;
            let plan = crate::plan::build(&environment.name, Some(revision), rendered.objects)?;
            crate::requires::check(&environment, &plan)?;
            Ok::<_, crate::Error>(Prepared {
                environment,
                releases: rendered.releases,
                plan,
            })
        })
        .await??;
        Ok(prepared)
    }

    /// Re-applies drifted objects of what was last applied (Git wins for the fields it sets:
    /// forced), the drift watch's request. Returns how many were healed.
    pub async fn heal(&self, objects: &[Identity]) -> usize {
        let Some(applied) = self.applied.borrow().clone() else {
            return 0;
        };
        let env = self.environment.as_str();
        let mut healed = 0;
        let mut namespaces_checked = std::collections::HashSet::new();
        for o in applied
            .objects
            .iter()
            .filter(|o| objects.contains(&identity(&o.reference)))
        {
            // Git wins for the fields it sets, except those drift ignores: read live once to
            // keep them; what to write is the core's decision (`drift::heal::step`).
            let live = self.cluster.get(&o.reference).await;
            if let Err(e) = &live {
                tracing::warn!(environment = env, object = %o.reference, error = %e, "drift heal skipped: the live object cannot be read; the next change asks again");
            }
            let step = sextant_core::drift::heal::step(
                &applied.environment,
                o,
                live.as_ref().map(Option::as_ref),
            );
            let manifest = match step {
                sextant_core::drift::heal::Step::Skip => {
                    self.metrics
                        .drift_heals_total
                        .with_label_values(&[env, "failed"])
                        .inc();
                    continue;
                }
                sextant_core::drift::heal::Step::Apply { manifest, recreate } => {
                    if recreate {
                        self.ensure_release_namespace(&applied, o, &mut namespaces_checked)
                            .await;
                    }
                    manifest
                }
            };
            match self
                .cluster
                .apply(&o.reference, &manifest, true, false)
                .await
            {
                Ok(_) => {
                    healed += 1;
                    tracing::info!(environment = env, object = %o.reference, "drift healed");
                    self.metrics
                        .drift_heals_total
                        .with_label_values(&[env, "succeeded"])
                        .inc();
                }
                Err(e) => {
                    let e = crate::secrets::scrub(&e.to_string(), &o.manifest);
                    tracing::warn!(environment = env, object = %o.reference, error = %e, "drift heal failed");
                    self.metrics
                        .drift_heals_total
                        .with_label_values(&[env, "failed"])
                        .inc();
                }
            }
        }
        healed
    }

    /// A deleted object is re-created in its release's namespace, which the sync creates when
    /// missing (an API server restarted empty lost it too); a heal does the same, once a pass.
    async fn ensure_release_namespace(
        &self,
        applied: &Applied,
        o: &crate::object::Object,
        checked: &mut std::collections::HashSet<String>,
    ) {
        let env = &applied.environment;
        let Some(ns) = o.reference.namespace.as_deref() else {
            return;
        };
        let declared = applied.objects.iter().any(|d| {
            d.reference.kind == "Namespace"
                && d.reference.group.is_empty()
                && d.reference.name == ns
        });
        let ours = env.sync.create_namespace && env.releases.iter().any(|r| r.namespace == ns);
        if declared || !ours || !checked.insert(ns.to_string()) {
            return;
        }
        match crate::apply::sync::ensure_namespace(&self.cluster, &env.name, ns, false).await {
            Ok(true) => {
                tracing::info!(environment = %env.name, namespace = ns, "release namespace re-created for a heal")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(environment = %env.name, namespace = ns, error = %e, "cannot re-create the release namespace for a heal")
            }
        }
    }

    pub(super) fn record(&self, result: &SyncResult, seconds: f64) {
        let env = self.environment.as_str();
        let outcome = if result.succeeded {
            "succeeded"
        } else {
            "failed"
        };
        tracing::info!(
            environment = env,
            revision = result.revision.as_deref().unwrap_or(""),
            result = outcome,
            created = result.totals.created,
            configured = result.totals.configured,
            unchanged = result.totals.unchanged,
            pruned = result.totals.pruned,
            failed = result.totals.failed,
            seconds,
            error = result.error.as_deref().unwrap_or_default(),
            "sync finished"
        );
        let last_sync = LastSync::of(result, now());
        self.update(|s| {
            s.synced_once = true;
            if result.succeeded {
                s.revision = result.revision.clone();
                s.last_error = None;
            } else if let Some(failure) = &result.error {
                let e = ReconcileError::Sync(failure.clone());
                s.last_error = Some(LastError::of(&e, result.revision.clone()));
            }
            s.last_sync = Some(last_sync);
        });
        // Metrics after status: whoever sees a counter rise also sees the status.
        let m = &self.metrics;
        m.sync_total.with_label_values(&[env, outcome]).inc();
        m.sync_duration_seconds
            .with_label_values(&[env])
            .observe(seconds);
        m.last_sync_timestamp_seconds
            .with_label_values(&[env, outcome])
            .set(unix_now());
        for w in &result.waves {
            m.wave_duration_seconds
                .with_label_values(&[env, &w.wave.to_string()])
                .observe(w.duration_seconds);
        }
        if let Some(failure) = result.error.as_ref().filter(|_| !result.succeeded) {
            m.reconcile_errors_total
                .with_label_values(&[env, "apply", failure.label])
                .inc();
        }
        // Health per release: waves that passed their gate are healthy; in the wave that
        // stopped the sync, failures are degraded and the rest still progressing.
        let mut counts: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
        let last = result.waves.len().saturating_sub(1);
        for (i, w) in result.waves.iter().enumerate() {
            for o in &w.objects {
                let health = match (o.outcome, result.succeeded || i < last) {
                    (Outcome::Failed, _) => "Degraded",
                    (_, true) => "Healthy",
                    (_, false) => "Progressing",
                };
                *counts.entry((o.release.clone(), health)).or_default() += 1;
            }
        }
        if let Ok(mut series) = self.object_series.lock() {
            for (release, health) in series.drain(..) {
                let _ = m.objects.remove_label_values(&[env, &release, health]);
            }
            for ((release, health), n) in counts {
                m.objects.with_label_values(&[env, &release, health]).set(n);
                series.push((release, health));
            }
        }
        if result.succeeded {
            if let Some(rev) = &result.revision {
                m.set_revision(env, rev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The reconciler's steps called directly, over the in-memory cluster (held to the kube
    //! edge by `tests/cluster_contract.rs`) under a paused clock, with a real helm rendering.
    use super::*;
    use sextant_core::ports::cluster::ClusterError;
    use sextant_fakes::FakeCluster;
    use std::path::Path;

    /// prod: a Deployment `web` (2 replicas, image `example.com/web:1`) under `heal`, its
    /// replicas ignored by drift (an autoscaler owns them).
    fn checkout(dir: &Path) {
        let files = [
            ("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n"),
            (
                "charts/web/templates/deployment.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - {name: web, image: example.com/web:1}\n",
            ),
            (
                "environments/prod/environment.yaml",
                "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {name: web, namespace: default, chart: charts/web}\n  drift:\n    policy: heal\n    ignore:\n      - {kind: Deployment, name: web, paths: [/spec/replicas]}\n",
            ),
        ];
        for (path, text) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
    }

    /// `(replicas, image)` of the live Deployment.
    fn live(cluster: &FakeCluster, reference: &crate::object::ObjectRef) -> (i64, String) {
        let o = cluster.object(reference).unwrap();
        (
            o.pointer("/spec/replicas")
                .and_then(|v| v.as_i64())
                .unwrap(),
            o.pointer("/spec/template/spec/containers/0/image")
                .and_then(|v| v.as_str())
                .unwrap()
                .to_string(),
        )
    }

    /// A heal that cannot read the live object would force Git over the fields drift ignores:
    /// it is skipped and counted as failed, nothing written; once the object can be read, Git
    /// is restored and the ignored field keeps its live value.
    #[tokio::test(start_paused = true)]
    async fn a_heal_skips_what_it_cannot_read_and_otherwise_restores_git_keeping_the_ignored_fields(
    ) {
        let cluster = Arc::new(FakeCluster::new().with_ready_deployments());
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        checkout(&repo);
        let (r, _jobs) = super::super::testing::reconciler(dir.path(), "default", cluster.clone());
        let snapshot = Snapshot {
            revision: "a".repeat(40),
            path: repo,
        };
        r.reconcile(&snapshot, false).await.unwrap();
        let applied = r.applied.borrow().clone().unwrap();
        let web = applied.objects[0].reference.clone();
        assert_eq!(live(&cluster, &web), (2, "example.com/web:1".to_string()));

        // Someone else scales it and changes its image.
        cluster.set_by("kubectl-edit", &web, "/spec/replicas", serde_json::json!(5));
        cluster.set_by(
            "kubectl-edit",
            &web,
            "/spec/template/spec/containers",
            serde_json::json!([{"name": "web", "image": "example.com/web:evil"}]),
        );
        let failed = || {
            r.metrics
                .drift_heals_total
                .with_label_values(&["prod", "failed"])
                .get()
        };
        let id = identity(&web);
        // (the Deployment's GET fails, heals done, failed heals so far, live after)
        let table = [
            (true, 0, 1, (5, "example.com/web:evil")),
            (false, 1, 1, (5, "example.com/web:1")),
        ];
        for (unreadable, healed, failures, after) in table {
            if unreadable {
                cluster.fail(
                    "get",
                    "web",
                    ClusterError::Api {
                        object: web.to_string(),
                        verb: "get",
                        code: Some(503),
                        message: "HTTP 503: the server is unavailable".into(),
                        transient: true,
                    },
                );
            }
            assert_eq!(
                r.heal(std::slice::from_ref(&id)).await,
                healed,
                "unreadable: {unreadable}"
            );
            assert_eq!(failed(), failures, "unreadable: {unreadable}");
            let (replicas, image) = live(&cluster, &web);
            assert_eq!(
                (replicas, image.as_str()),
                after,
                "unreadable: {unreadable}"
            );
        }
    }
}
