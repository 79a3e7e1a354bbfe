//! The target's verification after a promotion (docs/promotion.md): once a revision that changed
//! a promoted digest is applied in full, the checks of `promotion.verify` run for its window. A
//! failing check rolls back at once through the health gate's path (`rollback.rs`: the last good
//! rendering, a revert in Git, `rejected.yaml`, an Event, `sextant_rollbacks_total` with
//! `reason="metric"`); one that cannot say keeps the verification open and rolls nothing back;
//! the window over with every check passing ends it. The verification is recorded in the cluster
//! (`sextant-verify-<env>`) before its first look, so a restart or a failover keeps its window.

use super::applied::{Applied, Watch};
use super::clock::{now, rfc3339};
use super::reconcile::Reconciler;
use super::status::VerificationStatus;
use crate::apply::cluster::Cluster;
use crate::apply::record;
use crate::promotion::rollback::{Cause, Changed, Rollback};
use crate::promotion::verify::{decide, Verdict, Verification};
use std::sync::Arc;
use std::time::Duration;

impl<C: Cluster + 'static> Reconciler<C> {
    /// After `applied` is applied in full over `previous`: starts a verification when the
    /// environment declares `promotion.verify` and a promoted digest changed.
    pub(super) async fn start_verification(
        &self,
        applied: &Applied,
        previous: Option<Arc<Applied>>,
    ) {
        let (Some(p), Some(before), Some(revision)) = (
            applied.environment.promotion.as_ref(),
            previous.as_ref(),
            applied.revision.as_deref(),
        ) else {
            return;
        };
        let (Some(verify), Some(previous_revision)) = (&p.verify, before.revision.clone()) else {
            return;
        };
        let releases: Vec<Changed> = applied
            .digests
            .iter()
            .filter_map(|(release, digest)| {
                let was = before.digests.get(release)?;
                (was != digest).then(|| Changed {
                    release: release.clone(),
                    bad: digest.clone(),
                    previous: was.clone(),
                })
            })
            .collect();
        if releases.is_empty() {
            return;
        }
        let record = Verification {
            revision: revision.to_string(),
            previous: previous_revision,
            releases,
            started: self.clock.unix_seconds(),
            window: verify.window.get().as_secs(),
        };
        tracing::info!(environment = %self.environment, revision, window = %verify.window, "a promoted digest is applied: verifying it");
        self.keep_verification(Some(Watch { record, previous }))
            .await;
    }

    /// The verification under way (read from the cluster on first use).
    async fn verification(&self) -> Option<Watch> {
        let name = record::verify_name(&self.environment);
        let wrap = |record: Verification| Watch {
            record,
            previous: None,
        };
        self.remembered(&self.verifying, &name, wrap).await
    }

    async fn keep_verification(&self, w: Option<Watch>) {
        let written = record::keep(
            &self.cluster,
            &self.agent_namespace,
            &record::verify_name(&self.environment),
            &self.environment,
            w.as_ref().map(|w| &w.record),
        )
        .await;
        if let Err(e) = written {
            tracing::warn!(environment = %self.environment, error = %e, "cannot write the verification record");
        }
        if w.is_none() {
            self.update(|s| s.verification = None);
        }
        *self.verifying.lock().await = Some(w);
    }

    /// One look at the verification under way: when to look again, `None` when none is.
    pub async fn verify(&self) -> Option<Duration> {
        let w = self.verification().await?;
        let applied = self.applied.borrow().clone();
        let still = applied.as_ref().is_some_and(|a| {
            w.record
                .releases
                .iter()
                .all(|c| a.digests.get(&c.release) == Some(&c.bad))
        });
        let checks = applied
            .as_ref()
            .and_then(|a| a.environment.promotion.as_ref())
            .and_then(|p| p.verify.as_ref());
        let (true, Some(v), Some(applied)) = (still, checks, applied.clone()) else {
            tracing::info!(environment = %self.environment, revision = %w.record.revision, "the verified digests are no longer applied: the verification ends");
            self.keep_verification(None).await;
            return None;
        };
        let mut outcomes = Vec::new();
        for c in &v.checks {
            outcomes.push(super::promote::check::run(c).await);
        }
        let at = self.clock.unix_seconds();
        let verdict = decide(&w.record, &outcomes, at);
        let every = crate::promotion::look_every(v.window.get());
        let shown = |state: &'static str, message: String| VerificationStatus {
            revision: w.record.revision.clone(),
            started: rfc3339(w.record.started),
            window_seconds: w.record.window,
            window_ends: rfc3339(w.record.started.saturating_add(w.record.window)),
            looked: rfc3339(at),
            state,
            message,
            checks: outcomes.clone(),
        };
        match verdict {
            Verdict::Watching { left } => {
                let s = shown(
                    "watching",
                    format!("every check holds; {left}s of the window left"),
                );
                self.update(|e| e.verification = Some(s));
                Some(every)
            }
            Verdict::Held(why) => {
                tracing::warn!(environment = %self.environment, revision = %w.record.revision, why = %why, "verification held");
                self.update(|e| e.verification = Some(shown("held", why)));
                Some(every)
            }
            Verdict::Passed => {
                self.keep_verification(None).await;
                // Logged once it is over, `/status` included.
                tracing::info!(environment = %self.environment, revision = %w.record.revision, "every check held for the verification's window");
                None
            }
            Verdict::Breached(reason) => {
                self.breached(w, &applied, reason).await;
                None
            }
        }
    }

    /// A check failed: the rendering before the promotion is applied again, as after a failed
    /// health gate, and Git is put right by a revert.
    async fn breached(&self, w: Watch, applied: &Applied, reason: String) {
        let good = match w.previous.filter(|p| p.is_revision(&w.record.previous)) {
            Some(p) => Ok(p),
            None => self.good_rendering(&w.record.previous).await,
        };
        let r = Rollback {
            from: applied
                .revision
                .clone()
                .unwrap_or(w.record.revision.clone()),
            to: w.record.previous.clone(),
            releases: w.record.releases.clone(),
            reason,
            cause: Cause::Metric,
            at: now(),
            rolled_back: false,
            reverted: None,
            revert_error: None,
            revert_retry_at: None,
        };
        tracing::warn!(environment = %self.environment, from = %r.from, to = %r.to, reason = %r.reason, "a promoted digest breached a metric check: rolling back now");
        self.keep_verification(None).await;
        self.start_rollback(good.ok(), r).await;
    }
}

#[cfg(test)]
mod tests {
    //! The verification's steps over the in-memory cluster, with a real helm rendering and a
    //! manual wall clock that moves the window; its checks answered by a server of the test's
    //! own on 127.0.0.1 (the Prometheus check itself is tested against a real Prometheus in
    //! `agent/tests/metric_checks.rs`). Nothing sleeps, so tokio's clock is not paused: a paused
    //! clock would move past the checks' HTTP timeout while the server's thread answers.
    use super::super::testing::{self, checkout, live_image};
    use super::super::Snapshot;
    use super::*;
    use crate::promotion::rollback::Cause;
    use sextant_fakes::FakeCluster;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicU16, Ordering};

    const NS: &str = "default";
    const GOOD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const BAD: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    /// An HTTP server on 127.0.0.1 answering every request with the status `answer` holds.
    fn answering(answer: Arc<AtomicU16>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ready", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let code = answer.load(Ordering::SeqCst);
                let reply =
                    format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        url
    }

    struct World {
        _dir: tempfile::TempDir,
        cluster: Arc<FakeCluster>,
        good: Snapshot,
        bad: Snapshot,
    }

    /// prod applied at the good revision, then at the bad one (its promoted digest changed),
    /// `verify` declared in the bad one: the verification has begun.
    async fn world(
        verify: &str,
    ) -> (
        World,
        Reconciler<FakeCluster>,
        tokio::sync::mpsc::Receiver<super::super::promote::Job>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (good_repo, bad_repo) = (dir.path().join("good"), dir.path().join("bad"));
        checkout(&good_repo, GOOD, verify);
        checkout(&bad_repo, BAD, verify);
        let cluster = Arc::new(FakeCluster::new());
        let (r, jobs) = testing::reconciler(dir.path(), NS, cluster.clone());
        let good = Snapshot {
            revision: "g".repeat(40),
            path: good_repo,
        };
        let bad = Snapshot {
            revision: "b".repeat(40),
            path: bad_repo,
        };
        r.reconcile(&good, false).await.unwrap();
        r.reconcile(&bad, false).await.unwrap();
        assert_eq!(live_image(&*cluster, NS).await.as_deref(), Some(BAD));
        let w = World {
            _dir: dir,
            cluster,
            good,
            bad,
        };
        (w, r, jobs)
    }

    fn verify_block(url: &str, kind: &str) -> String {
        format!("    verify:\n      window: 5m\n      checks:\n        - {kind}: {url}\n")
    }

    async fn recorded<T: serde::de::DeserializeOwned>(w: &World, name: &str) -> Option<T> {
        record::load(&w.cluster, NS, name).await.unwrap()
    }

    fn reverts(
        jobs: &mut tokio::sync::mpsc::Receiver<super::super::promote::Job>,
    ) -> Vec<Rollback> {
        let mut out = Vec::new();
        while let Ok(j) = jobs.try_recv() {
            if let super::super::promote::Job::Revert { rollback, .. } = j {
                out.push(rollback);
            }
        }
        out
    }

    /// A failing check rolls back at once: the rendering before the promotion applied, the
    /// rollback recorded with its cause and the check's answer, a revert asked, the rollback
    /// counted as `metric`; every check holding for the window ends the verification and rolls
    /// nothing back.
    #[tokio::test]
    async fn a_breach_rolls_back_at_once_and_a_window_that_holds_ends_it() {
        for breach in [true, false] {
            let answer = Arc::new(AtomicU16::new(200));
            let url = answering(answer.clone());
            let block = verify_block(&format!("{{url: \"{url}\"}}"), "http");
            let (w, r, mut jobs) = world(&block).await;
            let row = format!("breach {breach}");
            let started: Verification = recorded(&w, &record::verify_name("prod"))
                .await
                .expect("recorded before its first look");
            assert_eq!(started.previous, w.good.revision, "{row}");
            assert_eq!(started.releases[0].bad, BAD, "{row}");
            assert_eq!(started.window, 300, "{row}");

            assert_eq!(
                r.verify().await,
                Some(Duration::from_secs(30)),
                "{row}: watching"
            );
            let shown = r.status.lock().unwrap().environments["prod"]
                .verification
                .clone();
            assert_eq!(shown.map(|s| s.state), Some("watching"), "{row}");
            r.clock.advance(120);
            if breach {
                answer.store(500, Ordering::SeqCst);
            }
            let next = r.verify().await;
            if !breach {
                assert_eq!(next, Some(Duration::from_secs(30)), "{row}: 180 s left");
                r.clock.advance(180);
                assert_eq!(r.verify().await, None, "{row}: the window held");
                assert_eq!(
                    live_image(&*w.cluster, NS).await.as_deref(),
                    Some(BAD),
                    "{row}"
                );
                assert!(reverts(&mut jobs).is_empty(), "{row}");
                assert!(recorded::<Rollback>(&w, &record::rollback_name("prod"))
                    .await
                    .is_none());
            } else {
                assert_eq!(next, None, "{row}: over");
                assert_eq!(
                    live_image(&*w.cluster, NS).await.as_deref(),
                    Some(GOOD),
                    "{row}: rolled back"
                );
                let rollback: Rollback =
                    recorded(&w, &record::rollback_name("prod")).await.unwrap();
                assert!(rollback.rolled_back, "{rollback:?}");
                assert_eq!(rollback.cause, Cause::Metric);
                assert_eq!(
                    (rollback.from.as_str(), rollback.to.as_str()),
                    (w.bad.revision.as_str(), w.good.revision.as_str())
                );
                assert!(rollback.reason.contains("HTTP 500"), "{}", rollback.reason);
                assert!(
                    rollback.reason.contains(&url),
                    "the check named: {}",
                    rollback.reason
                );
                assert_eq!(reverts(&mut jobs).len(), 1, "a revert asked");
                let counted = |cause: &str| {
                    r.metrics
                        .rollbacks_total
                        .with_label_values(&["prod", "app", cause])
                        .get()
                };
                assert_eq!((counted("metric"), counted("health")), (1, 0));
                // Git still on the bad revision: held, not applied again.
                r.reconcile(&w.bad, false).await.unwrap();
                assert_eq!(
                    live_image(&*w.cluster, NS).await.as_deref(),
                    Some(GOOD),
                    "held"
                );
            }
            assert!(
                recorded::<Verification>(&w, &record::verify_name("prod"))
                    .await
                    .is_none(),
                "{row}: the verification ends"
            );
            let shown = r.status.lock().unwrap().environments["prod"]
                .verification
                .clone();
            assert_eq!(shown, None, "{row}");
        }
    }

    /// A check that cannot say holds the verification open past its window and rolls nothing
    /// back; a restart reads the verification from the cluster and keeps its start.
    #[tokio::test]
    async fn a_check_that_cannot_say_holds_it_open_and_a_restart_keeps_its_window() {
        let url = format!("http://{}", service_kit::testing::closed_port());
        let block = verify_block(
            &format!("{{url: \"{url}\", query: \"errors\", condition: \"< 0.01\"}}"),
            "prometheus",
        );
        let (w, r, mut jobs) = world(&block).await;
        r.clock.advance(3600);
        assert_eq!(r.verify().await, Some(Duration::from_secs(30)), "held open");
        let shown = r.status.lock().unwrap().environments["prod"]
            .verification
            .clone()
            .unwrap();
        assert_eq!(shown.state, "held");
        assert!(
            shown.message.contains("Prometheus did not answer"),
            "{}",
            shown.message
        );
        assert_eq!(
            live_image(&*w.cluster, NS).await.as_deref(),
            Some(BAD),
            "nothing rolled back"
        );
        assert!(reverts(&mut jobs).is_empty());

        // A restart: nothing in memory; the record read from the cluster.
        let started = recorded::<Verification>(&w, &record::verify_name("prod"))
            .await
            .unwrap()
            .started;
        let (restarted, _jobs) = testing::reconciler(w._dir.path(), NS, w.cluster.clone());
        restarted.applied.send_replace(Some(testing::rendered(
            &restarted,
            &w.bad.path,
            &w.bad.revision,
        )));
        assert_eq!(restarted.verify().await, Some(Duration::from_secs(30)));
        let again: Verification = recorded(&w, &record::verify_name("prod")).await.unwrap();
        assert_eq!(again.started, started, "the window's start kept");
    }

    /// No verification without `verify`, or when the applied revision changed no promoted digest.
    #[tokio::test]
    async fn only_a_changed_promoted_digest_with_verify_declared_starts_one() {
        let (w, r, _jobs) = world("").await;
        assert!(recorded::<Verification>(&w, &record::verify_name("prod"))
            .await
            .is_none());
        assert_eq!(r.verify().await, None);

        let answer = Arc::new(AtomicU16::new(200));
        let block = verify_block(&format!("{{url: \"{}\"}}", answering(answer)), "http");
        let (w, r, _jobs) = world(&block).await;
        r.clock.advance(300);
        assert_eq!(r.verify().await, None, "passed");
        // The same digest again (a resync, another values change): nothing to verify.
        r.reconcile(&w.bad, true).await.unwrap();
        assert!(recorded::<Verification>(&w, &record::verify_name("prod"))
            .await
            .is_none());
    }
}
