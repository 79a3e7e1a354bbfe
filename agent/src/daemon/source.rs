//! Feeding the reconcilers: the Git loop (poll with jitter, fetch at once on a webhook, back off
//! on errors, a new snapshot only for a new commit) and the local loop (watch a working tree).
//! Each publishes the latest snapshot: a reconciler always takes the newest, never a queue.

use super::status::Status;
use super::Snapshot;
use crate::config::GitAuth;
use crate::metrics::Metrics;
use rand::Rng;
use sextant_source::{GitConfig, GitSource};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// After a failed fetch: 2 s doubling to 64 s, never longer than the poll interval.
const FETCH_BACKOFF: sextant_core::backoff::Backoff =
    sextant_core::backoff::Backoff::new(Duration::from_secs(2), Duration::from_secs(64));

/// Snapshots kept on disk: the current one and those a running sync may still read.
const KEEP_SNAPSHOTS: usize = 3;

/// Why a pass of the Git loop published nothing; `/status` shows it as `lastFetchError`.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Source(#[from] sextant_source::SourceError),
    /// The blocking task that ran git panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

pub fn git_source(url: &str, branch: &str, auth: &GitAuth, cache_dir: &Path) -> GitSource {
    GitSource::new(GitConfig {
        url: url.to_string(),
        branch: branch.to_string(),
        cache_dir: cache_dir.join("git"),
        auth: auth.clone(),
        timeout: Duration::from_secs(30),
        max_file_bytes: GitConfig::DEFAULT_MAX_FILE_BYTES,
    })
}

/// Any revision as a snapshot on disk, for a rollback to a revision no longer checked out.
pub fn history(source: Arc<GitSource>) -> super::reconcile::History {
    Arc::new(move |revision: &str| {
        let rev = sextant_source::Revision::parse(revision)?;
        let snap = source.snapshot(&rev)?;
        Ok(Snapshot {
            revision: revision.to_string(),
            path: snap.path,
        })
    })
}

/// The Git log of a release's paths for a promotion's body: from the newest commit whose values
/// file held the target's digest (on the first-parent line, at most 500 back) to `to`.
pub fn git_log(source: Arc<GitSource>) -> super::promote::GitLog {
    Arc::new(
        move |to: &str, paths: &[String], since: Option<(&str, &str, &str)>| {
            let Ok(to) = sextant_source::Revision::parse(to) else {
                return (Vec::new(), 0);
            };
            let from = since.and_then(|(file, key, digest)| {
                let keys = crate::environment::promoted::key(key).ok()?;
                let holds = |rev: &sextant_source::Revision| {
                    source
                        .file_at(rev, file)
                        .ok()
                        .flatten()
                        .and_then(|b| {
                            sextant_yamledit::get_yaml11(&String::from_utf8_lossy(&b), &keys)
                                .ok()
                                .flatten()
                        })
                        .is_some_and(|v| v.as_str() == Some(digest))
                };
                source
                    .first_parent_history(&to, 500)
                    .ok()?
                    .into_iter()
                    .find(|rev| holds(rev))
            });
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            match source.log(from.as_ref(), &to, &refs, 20) {
                Ok(log) => (
                    log.entries
                        .into_iter()
                        .map(|e| crate::promotion::proposal::LogLine {
                            short: e.id.short().to_string(),
                            summary: e.summary,
                            author: e.author,
                        })
                        .collect(),
                    log.left_out,
                ),
                Err(e) => {
                    tracing::debug!(error = %e, "no Git log for the promotion's body");
                    (Vec::new(), 0)
                }
            }
        },
    )
}

pub struct GitLoop {
    pub source: Arc<GitSource>,
    pub poll_interval: Duration,
    pub trigger: Arc<Notify>,
    pub publish: watch::Sender<Option<Arc<Snapshot>>>,
    pub stop: watch::Receiver<bool>,
    pub metrics: Metrics,
    pub status: Arc<Mutex<Status>>,
    pub environments: Vec<String>,
}

impl GitLoop {
    pub async fn run(mut self) {
        let mut kept: VecDeque<sextant_source::Revision> = VecDeque::new();
        let mut failures: u32 = 0;
        loop {
            match self.fetch_once(&mut kept).await {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, failures, "fetch failed; serving on and retrying with backoff");
                    self.metrics.git_fetch_errors_total.inc();
                    for env in &self.environments {
                        self.metrics
                            .reconcile_errors_total
                            .with_label_values(&[env, "fetch", "fetch_failed"])
                            .inc();
                    }
                    if let Ok(mut s) = self.status.lock() {
                        s.source.last_fetch_error = Some(error.to_string());
                    }
                }
            }
            let wait = if failures > 0 {
                FETCH_BACKOFF.delay(failures).min(self.poll_interval)
            } else {
                jittered(self.poll_interval)
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.trigger.notified() => tracing::info!("webhook: fetching now"),
                _ = self.stop.changed() => return,
            }
        }
    }

    async fn fetch_once(
        &self,
        kept: &mut VecDeque<sextant_source::Revision>,
    ) -> Result<(), FetchError> {
        let started = Instant::now();
        let source = self.source.clone();
        let fetched = tokio::task::spawn_blocking(move || source.fetch()).await;
        self.metrics
            .git_fetch_duration_seconds
            .observe(started.elapsed().as_secs_f64());
        let revision = fetched??;
        if let Ok(mut s) = self.status.lock() {
            s.source.revision = Some(revision.to_string());
            s.source.last_fetch_error = None;
        }
        if kept.back() == Some(&revision) {
            return Ok(()); // no new commit: no other work
        }
        let source = self.source.clone();
        let rev = revision.clone();
        let snapshot = tokio::task::spawn_blocking(move || source.snapshot(&rev)).await??;
        tracing::info!(revision = %revision, "new revision");
        kept.push_back(revision);
        while kept.len() > KEEP_SNAPSHOTS {
            kept.pop_front();
        }
        let keep: Vec<&sextant_source::Revision> = kept.iter().collect();
        if let Err(e) = self.source.prune_snapshots(&keep) {
            tracing::warn!(error = %e, "could not prune old snapshots");
        }
        let _ = self.publish.send(Some(Arc::new(Snapshot {
            revision: snapshot.revision.to_string(),
            path: snapshot.path,
        })));
        Ok(())
    }
}

/// The poll interval ±10 %, so that many agents do not fetch in step.
fn jittered(d: Duration) -> Duration {
    let f: f64 = rand::rng().random_range(0.9..1.1);
    d.mul_f64(f)
}

/// Local mode: publish the working tree at start and after every debounced burst of changes.
pub async fn local_loop(
    root: PathBuf,
    publish: watch::Sender<Option<Arc<Snapshot>>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), sextant_source::SourceError> {
    let (_guard, mut changes) = sextant_source::watch::watch(&root, Duration::from_millis(300))?;
    loop {
        match sextant_source::local_snapshot(&root) {
            Ok((snapshot, dirty)) => {
                let revision = if dirty {
                    format!("{}-dirty", snapshot.revision)
                } else {
                    snapshot.revision.to_string()
                };
                tracing::info!(%revision, "working tree changed");
                let _ = publish.send(Some(Arc::new(Snapshot {
                    revision,
                    path: snapshot.path,
                })));
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the working tree"),
        }
        tokio::select! {
            change = changes.recv() => if change.is_none() { return Ok(()) },
            _ = stop.changed() => return Ok(()),
        }
    }
}
