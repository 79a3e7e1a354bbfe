//! The environment's forge loop ([`Jobs`]): after a rollback, the revert in Git (a pull request
//! or a commit) that restores the previous digest and records the bad one as rejected, kept
//! pending until the forge takes it; the lead time of each promoted digest once applied; and
//! the status on each reconciled commit (`super::commit_status`).

use super::clock::{rfc3339, unix_seconds as unix_now};
use super::status::Status;
use crate::environment::{Environment, PromotedImage, Promotion, PromotionMode};
use crate::forge::{Forge, ForgeError, Query};
use crate::metrics::Metrics;
use crate::promotion::proposal::{self, Marker, What};
use crate::promotion::rejected;
use crate::promotion::rollback::{Changed, Rollback};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// What a target's reconciler asks of the forge's loop.
#[derive(Debug)]
pub enum Job {
    /// Put Git right after a rollback.
    Revert {
        environment: Box<Environment>,
        rollback: Rollback,
    },
    /// A promoted digest was applied: time it from the source's apply.
    Applied {
        environment: String,
        release: String,
        digest: String,
    },
    /// A commit status on a reconciled commit (`super::commit_status`), and the same step as a
    /// status of the commit's deployment to the environment.
    Status {
        environment: String,
        revision: String,
        status: crate::forge::CommitStatus,
    },
}

/// A revert after a rollback that the forge has not taken yet.
struct PendingRevert {
    environment: Box<Environment>,
    rollback: Rollback,
    failures: u32,
    retry_at: tokio::time::Instant,
}

/// Waits until `at`, or forever when there is nothing to wait for.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The environment's forge loop: reverts after rollbacks, the lead time of promoted digests,
/// and the commit statuses of its reconciles.
pub struct Jobs<F> {
    pub forge: Arc<F>,
    pub base: String,
    pub jobs: mpsc::Receiver<Job>,
    /// The schedule a revert the forge did not make is tried again on (`Settings::retry`).
    pub retry: sextant_core::backoff::Backoff,
    pub metrics: Metrics,
    pub status: Arc<Mutex<Status>>,
    pub stop: watch::Receiver<bool>,
}

impl<F: Forge + 'static> Jobs<F> {
    pub async fn run(mut self) {
        // The revert waiting for the forge: tried until it is made or Git has moved on (a
        // human reverted, or committed a fixed digest), never given up while the forge is
        // down; a newer rollback replaces it. After a restart the rollback record (in the
        // cluster) sends it again.
        let mut pending: Option<PendingRevert> = None;
        loop {
            let retry_at = pending.as_ref().map(|p| p.retry_at);
            let job = tokio::select! {
                j = self.jobs.recv() => match j { Some(j) => Some(j), None => return },
                _ = until(retry_at) => None,
                _ = self.stop.changed() => return,
            };
            match job {
                Some(Job::Revert {
                    environment,
                    rollback,
                }) => {
                    pending = Some(PendingRevert {
                        environment,
                        rollback,
                        failures: 0,
                        retry_at: tokio::time::Instant::now(),
                    });
                }
                Some(job) => self.other(job).await,
                None => {}
            }
            if let Some(p) = pending
                .as_mut()
                .filter(|p| p.retry_at <= tokio::time::Instant::now())
            {
                let outcome = self.revert(&p.environment, &p.rollback).await;
                let name = p.environment.name.clone();
                match outcome {
                    Ok(done) => {
                        self.show_revert(&name, |r| {
                            r.reverted = done;
                            r.revert_error = None;
                            r.revert_retry_at = None;
                        });
                        pending = None;
                    }
                    Err(e) => {
                        p.failures += 1;
                        let wait = self.retry.delay(p.failures);
                        p.retry_at = tokio::time::Instant::now() + wait;
                        tracing::warn!(environment = %name, failures = p.failures, retry_in = ?wait, error = %e, "the revert after a rollback failed; it stays pending");
                        let at = rfc3339(unix_now() + wait.as_secs());
                        self.show_revert(&name, |r| {
                            r.revert_error = Some(e.message.clone());
                            r.revert_retry_at = Some(at);
                        });
                    }
                }
            }
        }
    }

    /// The rollback in `/status` of `environment`, changed by `change` (when one is shown).
    fn show_revert(&self, environment: &str, change: impl FnOnce(&mut Rollback)) {
        if let Ok(mut s) = self.status.lock() {
            if let Some(r) = s
                .environments
                .entry(environment.to_string())
                .or_default()
                .rollback
                .as_mut()
            {
                change(r);
            }
        }
    }

    /// Every job but a revert.
    async fn other(&self, job: Job) {
        match job {
            Job::Revert { .. } => {}
            Job::Status {
                environment,
                revision,
                status,
            } => {
                // The edge retries what a retry may fix; a status lost after that is logged,
                // and the next reconcile's status is the one that counts.
                if let Err(e) = self.forge.set_status(&revision, &status).await {
                    tracing::warn!(context = %status.context, revision, state = status.state.as_str(), error = %e, "cannot set the commit status");
                }
                let deployed = self
                    .forge
                    .deployment_status(&revision, &environment, &status)
                    .await;
                if let Err(e) = deployed {
                    tracing::warn!(environment, revision, state = status.state.as_str(), error = %e, "cannot set the deployment's status");
                }
            }
            Job::Applied {
                environment,
                release,
                digest,
            } => {
                let query = Query {
                    branches: vec![proposal::branch(&environment, &release)],
                    issue_label: None,
                };
                if let Ok(list) = self.forge.requests(&query).await {
                    let at = list.iter().filter(|r| r.merged).find_map(|r| {
                        let m = Marker::parse(&r.body)?;
                        (m.target == environment && m.release == release && m.digest == digest)
                            .then_some(m.applied_at)
                            .flatten()
                    });
                    if let Some(at) = at {
                        let lead = unix_now().saturating_sub(at);
                        self.metrics
                            .promotion_lead_time_seconds
                            .observe(lead as f64);
                        tracing::info!(
                            environment,
                            release,
                            digest,
                            lead_seconds = lead,
                            "a promoted digest is applied"
                        );
                    }
                }
            }
        }
    }

    /// The revert of each rolled-back release, unless one exists already (in any state) or Git
    /// has moved on from the bad digest. Returns the pull request's URL or the commit.
    async fn revert(&self, env: &Environment, r: &Rollback) -> Result<Option<String>, ForgeError> {
        let Some(p) = &env.promotion else {
            return Ok(None);
        };
        let existing = match p.mode {
            PromotionMode::PullRequest => {
                let query = Query {
                    branches: r
                        .releases
                        .iter()
                        .map(|c| proposal::revert_branch(&env.name, &c.release))
                        .collect(),
                    issue_label: None,
                };
                self.forge.requests(&query).await?
            }
            PromotionMode::Commit => Vec::new(),
        };
        let mut done = None;
        for c in &r.releases {
            let opened = existing.iter().find(|q| {
                Marker::parse(&q.body).is_some_and(|m| {
                    m.what == What::Revert
                        && m.target == env.name
                        && m.release == c.release
                        && m.digest == c.bad
                })
            });
            if let Some(old) = opened {
                done = Some(old.url.clone());
            } else if let Some(url) = self.revert_release(env, p, r, c).await? {
                done = Some(url);
            }
        }
        Ok(done)
    }

    /// One release's revert, as a pull request or a commit: its URL or commit, or `None` when
    /// there is nothing to revert (Git no longer carries the bad digest).
    async fn revert_release(
        &self,
        env: &Environment,
        p: &Promotion,
        r: &Rollback,
        c: &Changed,
    ) -> Result<Option<String>, ForgeError> {
        let Some(image) = p.image(&c.release) else {
            return Ok(None);
        };
        let head = self.forge.head(&self.base).await?;
        let Some(change) = self.revert_change(env, image, r, c, &head).await? else {
            return Ok(None);
        };
        let RevertChange {
            title,
            body,
            marker,
            files,
        } = change;
        match p.mode {
            PromotionMode::PullRequest => {
                let branch = proposal::revert_branch(&env.name, &c.release);
                self.forge
                    .commit(&branch, &head, &files, &format!("{title}\n\n{marker}"))
                    .await?;
                let pr = crate::forge::open_labelled_pull(
                    &*self.forge,
                    &title,
                    &body,
                    &branch,
                    &self.base,
                    proposal::ROLLBACK_LABEL,
                )
                .await?;
                tracing::warn!(environment = %env.name, release = %c.release, number = pr.number, "revert pull request opened after the rollback");
                Ok(Some(pr.url))
            }
            PromotionMode::Commit => {
                let sha = self
                    .forge
                    .advance(&self.base, &head, &files, &format!("{title}\n\n{body}"))
                    .await?;
                tracing::warn!(environment = %env.name, release = %c.release, commit = %sha, "revert committed after the rollback");
                Ok(Some(sha))
            }
        }
    }

    /// The files a release's revert writes at `head` (the values back to the previous digest,
    /// the bad one appended to `rejected.yaml`), its title and body; `None` when Git no longer
    /// carries the bad digest.
    async fn revert_change(
        &self,
        env: &Environment,
        image: &PromotedImage,
        r: &Rollback,
        c: &Changed,
        head: &str,
    ) -> Result<Option<RevertChange>, ForgeError> {
        let Some(release) = env.release(&c.release) else {
            return Ok(None);
        };
        let Some((file, _)) = crate::environment::promoted::holder(release, &image.path)
            .ok()
            .flatten()
        else {
            return Ok(None);
        };
        let rel = file
            .strip_prefix(&env.repo)
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        let text = self
            .forge
            .file(&rel, head)
            .await?
            .map(|b| String::from_utf8_lossy(&b).to_string());
        let key = crate::environment::promoted::key(&image.path)
            .map_err(|e| ForgeError::edit(e.to_string()))?;
        let now_there = text
            .as_deref()
            .and_then(|t| sextant_yamledit::get_yaml11(t, &key).ok().flatten());
        if now_there.as_ref().and_then(|v| v.as_str()) != Some(c.bad.as_str()) {
            tracing::info!(environment = %env.name, release = %c.release, "Git no longer carries the bad digest: no revert");
            return Ok(None);
        }
        let edit = crate::promotion::edit(env, image, &c.previous, None, |p| {
            (p == rel).then(|| text.clone()).flatten()
        })
        .map_err(|e| ForgeError::edit(e.to_string()))?;
        let rejected_path = rejected::path(&env.name);
        let rejected_text = self
            .forge
            .file(&rejected_path, head)
            .await?
            .map(|b| String::from_utf8_lossy(&b).to_string());
        let rejected_after = rejected::append(
            rejected_text.as_deref(),
            &env.name,
            &rejected::Rejection {
                release: c.release.clone(),
                digest: c.bad.clone(),
                revision: r.from.clone(),
                at: r.at.clone(),
                reason: r.reason.clone(),
            },
        );
        let marker = Marker {
            what: What::Revert,
            target: env.name.clone(),
            release: c.release.clone(),
            digest: c.bad.clone(),
            from: env.name.clone(),
            revision: r.from.clone(),
            applied_at: None,
            superseded: false,
        };
        let body = proposal::revert_body(
            &marker,
            &c.previous,
            &edit.path,
            &edit.key,
            &r.reason,
            &rejected_path,
        );
        Ok(Some(RevertChange {
            title: proposal::revert_title(&env.name, &c.release, &c.previous),
            body,
            marker: marker.render(),
            files: vec![
                (edit.path.clone(), edit.after.into_bytes()),
                (rejected_path, rejected_after.into_bytes()),
            ],
        }))
    }
}

/// What one release's revert writes.
struct RevertChange {
    title: String,
    body: String,
    /// The marker, rendered, that the commit's message carries.
    marker: String,
    files: Vec<(String, Vec<u8>)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_fakes::FakeForge;
    use std::time::Duration;

    const VALUES: &str = "environments/prod/values/web.yaml";

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// prod, promoting web's `image.digest` from dev in commit mode, its values at `bad`.
    fn prod(repo: &std::path::Path, bad: &str) -> Environment {
        let chart = repo.join("charts/web");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: web\n").unwrap();
        for env in ["dev", "prod"] {
            std::fs::create_dir_all(repo.join(format!("environments/{env}/values"))).unwrap();
        }
        std::fs::write(repo.join("environments/dev/environment.yaml"), "").unwrap();
        std::fs::write(repo.join(VALUES), format!("image:\n  digest: {bad}\n")).unwrap();
        let text = "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {name: web, namespace: web, chart: charts/web, values: [values/web.yaml]}\n  promotion:\n    from: dev\n    mode: commit\n    images:\n      - {release: web, path: image.digest, repository: registry.example/web}\n";
        let dir = repo.join("environments/prod");
        std::fs::write(dir.join("environment.yaml"), text).unwrap();
        crate::environment::load(repo, "prod").unwrap()
    }

    /// The forge down for longer than the six tries the loop used to make (about two minutes),
    /// waited out on the daemon's one retry schedule (5 s doubling to 5 minutes):
    /// the revert stays pending, `/status` says why and when it is tried again, and it is made
    /// once the forge answers — one commit, the good digest back and the bad one rejected.
    #[tokio::test(start_paused = true)]
    async fn a_revert_stays_pending_through_a_long_forge_outage_and_is_made_once_it_ends() {
        let (bad, good) = (digest('b'), digest('a'));
        let repo = tempfile::tempdir().unwrap();
        let env = prod(repo.path(), &bad);
        let values = format!("image:\n  digest: {bad}\n");
        let forge = Arc::new(FakeForge::new());
        let before = forge.seed("main", &[(VALUES, values.as_bytes())]);
        // Each attempt makes one call before failing: 12 failures outlast the old 6 tries.
        forge.fail("*", FakeForge::unavailable(), 12);
        let status = Arc::new(Mutex::new(Status::default()));
        let rollback = Rollback {
            from: "f".repeat(40),
            to: "e".repeat(40),
            releases: vec![Changed {
                release: "web".into(),
                bad: bad.clone(),
                previous: good.clone(),
            }],
            reason: "wave 0: Deployment web/web is degraded".into(),
            cause: Default::default(),
            at: "2026-12-06T00:00:00Z".into(),
            rolled_back: true,
            reverted: None,
            revert_error: None,
            revert_retry_at: None,
        };
        status
            .lock()
            .unwrap()
            .environments
            .entry("prod".into())
            .or_default()
            .rollback = Some(rollback.clone());
        let (send, jobs) = mpsc::channel(4);
        let (_stop_tx, stop) = watch::channel(false);
        let loop_ = Jobs {
            forge: forge.clone(),
            base: "main".into(),
            jobs,
            metrics: Metrics::new().unwrap(),
            status: status.clone(),
            stop,
            retry: crate::config::RETRY,
        };
        let task = tokio::spawn(loop_.run());
        send.send(Job::Revert {
            environment: Box::new(env),
            rollback,
        })
        .await
        .unwrap();
        let shown = || {
            status.lock().unwrap().environments["prod"]
                .rollback
                .clone()
                .unwrap()
        };
        // Five minutes in: still failing, still pending, and said so.
        tokio::time::sleep(Duration::from_secs(300)).await;
        let r = shown();
        assert!(r.reverted.is_none());
        assert!(
            r.revert_error.as_deref().is_some_and(|e| e.contains("503")),
            "{r:?}"
        );
        assert!(r.revert_retry_at.is_some(), "{r:?}");
        assert_eq!(
            forge.branch_head("main"),
            Some(before.clone()),
            "nothing committed yet"
        );
        // Long after the outage (the 12th failure comes at 1,815 s): made, once.
        tokio::time::sleep(Duration::from_secs(2400)).await;
        let r = shown();
        let head = forge.branch_head("main").unwrap();
        assert_eq!(r.reverted.as_deref(), Some(head.as_str()), "{r:?}");
        assert_eq!((r.revert_error, r.revert_retry_at), (None, None));
        assert_eq!(forge.count("advance"), 1, "one revert commit");
        assert_eq!(
            forge.count("head"),
            13,
            "12 attempts refused at their first call, then one"
        );
        assert!(forge.message(&head).unwrap().starts_with("revert(prod)"));
        let now = |path: &str| String::from_utf8(forge.file_on("main", path).unwrap()).unwrap();
        assert!(now(VALUES).contains(&good));
        let rejected = now(&rejected::path("prod"));
        assert!(rejected.contains(&bad), "{rejected}");
        task.abort();
    }
}
