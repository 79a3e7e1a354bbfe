//! The reconcile loop of one environment: a pass on each new snapshot, on each change of
//! leadership, on the periodic resync, and on a retry after a failure a later try may fix; heal
//! requests and the looks of a verification after a promotion in between (neither moves the
//! resync). The loop holds no decision of its own beyond the error policy
//! ([`next_wait`]): a broken commit waits for the next commit or the resync, a transient failure
//! is retried with backoff. It drives any [`Reconcile`], so its table tests run it against a
//! scripted fake under tokio's paused clock.

use super::failure::ReconcileError;
use super::Snapshot;
use crate::apply::sync::Identity;
use sextant_core::backoff::Backoff;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the loop asks of an environment's reconciler.
pub trait Reconcile: Send + Sync + 'static {
    fn environment(&self) -> &str;
    /// Renders, plans and applies `snapshot`; `resync`: the periodic pass over what is applied.
    fn reconcile(
        &self,
        snapshot: &Snapshot,
        resync: bool,
    ) -> impl Future<Output = Result<(), ReconcileError>> + Send;
    /// Re-applies the drifted objects the drift watch names.
    fn heal(&self, objects: &[Identity]) -> impl Future<Output = usize> + Send;
    /// Shows when the next try after a failure is due (`None`: none is).
    fn set_retry_at(&self, at: Option<String>);
    /// One look at the verification under way after a promotion; when to look again (`None`:
    /// none is under way).
    fn verify(&self) -> impl Future<Output = Option<Duration>> + Send;
}

impl<C: crate::apply::cluster::Cluster + 'static> Reconcile for super::reconcile::Reconciler<C> {
    fn environment(&self) -> &str {
        &self.environment
    }

    fn reconcile(
        &self,
        snapshot: &Snapshot,
        resync: bool,
    ) -> impl Future<Output = Result<(), ReconcileError>> + Send {
        super::reconcile::Reconciler::reconcile(self, snapshot, resync)
    }

    fn heal(&self, objects: &[Identity]) -> impl Future<Output = usize> + Send {
        super::reconcile::Reconciler::heal(self, objects)
    }

    fn set_retry_at(&self, at: Option<String>) {
        super::reconcile::Reconciler::set_retry_at(self, at);
    }

    fn verify(&self) -> impl Future<Output = Option<Duration>> + Send {
        super::reconcile::Reconciler::verify(self)
    }
}

/// The error policy: after a pass, the failures in a row that count toward the backoff and the
/// wait before the next pass when nothing else happens. A success or a permanent failure waits
/// for the resync (a new snapshot comes sooner); a transient one backs off from 5 s, never past
/// the resync.
pub fn next_wait(
    outcome: &Result<(), ReconcileError>,
    failures: u32,
    resync: Duration,
    retry: &Backoff,
) -> (u32, Duration) {
    match outcome {
        Err(e) if e.is_transient() => {
            let failures = failures + 1;
            (failures, retry.delay(failures).min(resync))
        }
        _ => (0, resync),
    }
}

/// The inputs of the loop: the source's snapshots, leadership, heal requests, shutdown.
pub struct Inputs {
    pub snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    pub leading: watch::Receiver<bool>,
    /// Held through each pass that may write (reconcile, heal, a verification's look): a
    /// handover of the environment to another replica waits for it.
    pub guard: Arc<tokio::sync::Mutex<()>>,
    pub heals: mpsc::Receiver<Vec<Identity>>,
    pub resync: Duration,
    /// The schedule a transient failure backs off on (`Settings::retry`).
    pub retry: Backoff,
    pub stop: watch::Receiver<bool>,
}

/// A look at the verification under way; when the next one is due.
async fn verify<R: Reconcile>(reconciler: &R) -> Option<tokio::time::Instant> {
    let next = reconciler.verify().await?;
    Some(tokio::time::Instant::now() + next)
}

pub async fn run<R: Reconcile>(reconciler: R, inputs: Inputs) {
    let Inputs {
        mut snapshots,
        mut leading,
        guard,
        mut heals,
        resync,
        retry,
        mut stop,
    } = inputs;
    let mut failures = 0u32;
    let mut due = tokio::time::Instant::now() + resync;
    // When to look at a verification under way, if one is.
    let mut look: Option<tokio::time::Instant> = None;
    loop {
        let mut timer = false;
        tokio::select! {
            _ = tokio::time::sleep_until(look.unwrap_or(due)), if look.is_some() => {
                let _pass = guard.lock().await;
                look = if *leading.borrow() { verify(&reconciler).await } else { None };
                continue;
            }
            changed = snapshots.changed() => if changed.is_err() { return },
            changed = leading.changed() => if changed.is_err() { return },
            heal = heals.recv() => {
                let Some(mut objects) = heal else { return };
                while let Ok(more) = heals.try_recv() {
                    objects.extend(more);
                }
                let _pass = guard.lock().await;
                if *leading.borrow() {
                    reconciler.heal(&objects).await;
                }
                continue;
            }
            _ = tokio::time::sleep_until(due) => timer = true,
            _ = stop.changed() => return,
        }
        if timer {
            // Whatever comes of it (a follower does nothing), the next resync is one away.
            due = tokio::time::Instant::now() + resync;
        }
        // Leadership is read under the guard: a handover that has taken the guard after
        // stopping this environment's passes sees none start.
        let _pass = guard.lock().await;
        if !*leading.borrow_and_update() {
            continue;
        }
        let fresh = snapshots.has_changed().unwrap_or(false);
        let Some(snapshot) = snapshots.borrow_and_update().clone() else {
            continue;
        };
        // The periodic resync of what is already applied honours each release's drift policy;
        // a retry after a failure is not a resync.
        let resync_only = timer && !fresh && failures == 0;
        let outcome = reconciler.reconcile(&snapshot, resync_only).await;
        if *stop.borrow() {
            return;
        }
        let wait;
        (failures, wait) = next_wait(&outcome, failures, resync, &retry);
        due = tokio::time::Instant::now() + wait;
        look = verify(&reconciler).await;
        let retry_at = (failures > 0).then(|| {
            let at = std::time::SystemTime::now() + wait;
            k8s_openapi::jiff::Timestamp::try_from(at)
                .map(|t| t.to_string())
                .unwrap_or_default()
        });
        match (&outcome, &retry_at) {
            (Err(e), Some(at)) => {
                tracing::info!(environment = %reconciler.environment(), failures, retry_at = %at, error = %e, "reconcile failed; retrying with backoff")
            }
            (Err(e), None) => {
                tracing::info!(environment = %reconciler.environment(), error = %e, "reconcile failed; waiting for the next commit or the resync")
            }
            (Ok(()), _) => {}
        }
        reconciler.set_retry_at(retry_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::result::SyncFailure;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use tokio::time::Instant;

    const RESYNC: Duration = Duration::from_secs(600);

    /// A reconciler that answers from a script and records each call: when (seconds since the
    /// loop started), which revision, and whether it was a resync.
    struct Scripted {
        started: Instant,
        answers: Mutex<VecDeque<Result<(), ReconcileError>>>,
        calls: Arc<Mutex<Vec<(u64, String, bool)>>>,
        heals: Arc<Mutex<Vec<Vec<Identity>>>>,
        retry_at: Arc<Mutex<Vec<bool>>>,
        /// What each look at a verification answers (seconds to the next); then none.
        looks: Mutex<VecDeque<u64>>,
        looked: Arc<Mutex<Vec<u64>>>,
    }

    impl Reconcile for Scripted {
        fn environment(&self) -> &str {
            "e"
        }

        async fn reconcile(&self, s: &Snapshot, resync: bool) -> Result<(), ReconcileError> {
            let at = self.started.elapsed().as_secs();
            self.calls
                .lock()
                .unwrap()
                .push((at, s.revision.clone(), resync));
            self.answers.lock().unwrap().pop_front().unwrap_or(Ok(()))
        }

        async fn heal(&self, objects: &[Identity]) -> usize {
            self.heals.lock().unwrap().push(objects.to_vec());
            objects.len()
        }

        fn set_retry_at(&self, at: Option<String>) {
            self.retry_at.lock().unwrap().push(at.is_some());
        }

        async fn verify(&self) -> Option<Duration> {
            let next = self.looks.lock().unwrap().pop_front()?;
            let at = self.started.elapsed().as_secs();
            self.looked.lock().unwrap().push(at);
            Some(Duration::from_secs(next))
        }
    }

    fn failed(transient: bool) -> Result<(), ReconcileError> {
        Err(ReconcileError::Sync(SyncFailure {
            message: "wave 0: failed".into(),
            label: if transient {
                "apply_unavailable"
            } else {
                "apply_refused"
            },
            transient,
        }))
    }

    fn snapshot(revision: &str) -> Option<Arc<Snapshot>> {
        Some(Arc::new(Snapshot {
            revision: revision.into(),
            path: "/nowhere".into(),
        }))
    }

    /// An event the test drives at a time (seconds since start).
    enum At {
        Commit(u64, &'static str),
        Lead(u64, bool),
        Heal(u64, &'static str),
    }

    struct Run {
        calls: Vec<(u64, String, bool)>,
        heals: Vec<Vec<Identity>>,
        retry_at: Vec<bool>,
        looked: Vec<u64>,
    }

    /// Runs the loop for `seconds` of paused time: the first commit `a` is published at 0.
    async fn run_for(
        seconds: u64,
        leading: bool,
        answers: Vec<Result<(), ReconcileError>>,
        events: Vec<At>,
    ) -> Run {
        run_looking(seconds, leading, answers, events, Vec::new()).await
    }

    /// As [`run_for`], with a verification whose looks answer `looks` in turn.
    async fn run_looking(
        seconds: u64,
        leading: bool,
        answers: Vec<Result<(), ReconcileError>>,
        events: Vec<At>,
        looks: Vec<u64>,
    ) -> Run {
        let looked = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let heals = Arc::new(Mutex::new(Vec::new()));
        let retry_at = Arc::new(Mutex::new(Vec::new()));
        let fake = Scripted {
            started,
            answers: Mutex::new(answers.into()),
            calls: calls.clone(),
            heals: heals.clone(),
            retry_at: retry_at.clone(),
            looks: Mutex::new(looks.into()),
            looked: looked.clone(),
        };
        let (snap_tx, snapshots) = watch::channel(None);
        let (lead_tx, lead_rx) = watch::channel(leading);
        let (heal_tx, heal_rx) = mpsc::channel(8);
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(
            fake,
            Inputs {
                snapshots,
                leading: lead_rx,
                guard: Arc::default(),
                heals: heal_rx,
                resync: RESYNC,
                retry: crate::config::RETRY,
                stop,
            },
        ));
        snap_tx.send_replace(snapshot("a"));
        for event in events {
            let at = match event {
                At::Commit(at, _) | At::Lead(at, _) | At::Heal(at, _) => at,
            };
            tokio::time::sleep_until(started + Duration::from_secs(at)).await;
            match event {
                At::Commit(_, rev) => drop(snap_tx.send_replace(snapshot(rev))),
                At::Lead(_, lead) => drop(lead_tx.send_replace(lead)),
                At::Heal(_, name) => {
                    let key = crate::object::ObjectKey {
                        group: "apps".into(),
                        kind: "Deployment".into(),
                        namespace: Some("app".into()),
                        name: name.into(),
                    };
                    heal_tx.try_send(vec![key]).unwrap();
                }
            }
        }
        tokio::time::sleep_until(started + Duration::from_secs(seconds)).await;
        stop_tx.send_replace(true);
        task.await.unwrap();
        let calls = calls.lock().unwrap().clone();
        let heals = heals.lock().unwrap().clone();
        let retry_at = retry_at.lock().unwrap().clone();
        let looked = looked.lock().unwrap().clone();
        Run {
            calls,
            heals,
            retry_at,
            looked,
        }
    }

    /// One row: the reconciler's answers, what the test does when, the passes the loop makes
    /// (second, revision, resync) and whether each pass showed a retry time.
    struct Case {
        case: &'static str,
        answers: Vec<Result<(), ReconcileError>>,
        events: Vec<At>,
        passes: Vec<(u64, &'static str, bool)>,
        retry_at: Vec<bool>,
    }

    fn calls(expected: &[(u64, &str, bool)]) -> Vec<(u64, String, bool)> {
        expected
            .iter()
            .map(|(at, rev, resync)| (*at, rev.to_string(), *resync))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_commit_waits_for_the_next_commit_or_the_resync_and_a_503_backs_off() {
        let case = |case, answers, events, passes, retry_at| Case {
            case,
            answers,
            events,
            passes,
            retry_at,
        };
        let cases = [
            case(
                "a success waits for the resync, which is a resync",
                vec![Ok(())],
                vec![],
                vec![(0, "a", false), (600, "a", true)],
                vec![false, false],
            ),
            case(
                "a broken commit is not retried before the resync",
                vec![failed(false)],
                vec![],
                vec![(0, "a", false), (600, "a", true)],
                vec![false, false],
            ),
            case(
                "a broken commit: the next commit is applied at once",
                vec![failed(false)],
                vec![At::Commit(30, "b")],
                vec![(0, "a", false), (30, "b", false), (630, "b", true)],
                vec![false, false, false],
            ),
            case(
                "a 503 is retried at 5, 10, 20 s, then the resync",
                vec![failed(true), failed(true), failed(true), Ok(())],
                vec![],
                vec![
                    (0, "a", false),
                    (5, "a", false),
                    (15, "a", false),
                    (35, "a", false),
                    (635, "a", true),
                ],
                vec![true, true, true, false, false],
            ),
            case(
                "a new commit during the backoff goes first, and resets it once it applies",
                vec![failed(true), Ok(())],
                vec![At::Commit(2, "b")],
                vec![(0, "a", false), (2, "b", false), (602, "b", true)],
                vec![true, false, false],
            ),
            case(
                "a permanent failure after a transient one ends the backoff",
                vec![failed(true), failed(false)],
                vec![],
                vec![(0, "a", false), (5, "a", false), (605, "a", true)],
                vec![true, false, false],
            ),
        ];
        for c in cases {
            let run = run_for(700, true, c.answers, c.events).await;
            assert_eq!(run.calls, calls(&c.passes), "{}", c.case);
            assert_eq!(run.retry_at, c.retry_at, "{}", c.case);
        }
    }

    /// A verification started by a pass is looked at right after it, then at the pace each look
    /// asks for, until none is under way; neither the looks nor a heal move the resync, and a
    /// follower does not look.
    #[tokio::test(start_paused = true)]
    async fn a_verification_is_looked_at_its_own_pace_and_the_resync_keeps_its_time() {
        let run = run_looking(700, true, vec![], vec![At::Heal(7, "web")], vec![5, 5, 20]).await;
        assert_eq!(
            run.looked,
            vec![0, 5, 10],
            "after the pass, then every 5 s as asked"
        );
        assert_eq!(run.calls, calls(&[(0, "a", false), (600, "a", true)]));
        assert_eq!(run.heals.len(), 1);

        let run = run_looking(
            700,
            true,
            vec![],
            vec![At::Lead(3, false)],
            vec![2, 2, 2, 2],
        )
        .await;
        assert_eq!(run.looked, vec![0, 2], "no look once it no longer leads");
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_leader_reconciles_and_heals_and_queued_heals_are_carried_out_together() {
        // Not leading: the commit waits; taking the lead at 100 s applies it at once.
        let run = run_for(
            200,
            false,
            vec![],
            vec![At::Heal(50, "web"), At::Lead(100, true)],
        )
        .await;
        assert_eq!(run.calls, calls(&[(100, "a", false)]));
        assert!(
            run.heals.is_empty(),
            "a follower heals nothing: {:?}",
            run.heals
        );

        // Leading: two requests queued while a third is carried out are one heal.
        let run = run_for(
            10,
            true,
            vec![],
            vec![At::Heal(1, "web"), At::Heal(3, "api"), At::Heal(3, "db")],
        )
        .await;
        let healed: Vec<Vec<String>> = run
            .heals
            .iter()
            .map(|h| h.iter().map(|k| k.name.clone()).collect())
            .collect();
        assert_eq!(healed, [vec!["web"], vec!["api", "db"]]);
        assert_eq!(run.calls, calls(&[(0, "a", false)]), "a heal is not a pass");
    }

    #[test]
    fn the_error_policy_backs_off_only_what_a_later_try_may_fix() {
        let resync = Duration::from_secs(60);
        assert_eq!(
            next_wait(&Ok(()), 3, resync, &crate::config::RETRY),
            (0, resync)
        );
        assert_eq!(
            next_wait(&failed(false), 3, resync, &crate::config::RETRY),
            (0, resync)
        );
        assert_eq!(
            next_wait(&failed(true), 0, resync, &crate::config::RETRY),
            (1, Duration::from_secs(5))
        );
        assert_eq!(
            next_wait(&failed(true), 4, resync, &crate::config::RETRY),
            (5, resync),
            "never past the resync"
        );
    }
}
