//! One environment's pull request previews (docs/preview.md): the leader lists the open pull
//! requests into the tracked branch, `preview::pulls` picks those due (the settings are the
//! environment's as last applied from the tracked branch, never a pull request's), and for each
//! whose change touches what the environment reads, the head (`refs/pull/N/head`) is fetched
//! and checked out beside the tracked branch's tip, both are rendered by the sync's renderer,
//! compared, and read against the live cluster (`report::preview`); the report goes in one
//! comment per pull request and environment, edited in place, and the head gets a
//! `sextant/preview/<environment>` status. Nothing is written to the cluster.

use super::applied::Applied;
use super::clock::now;
use super::forge_backoff::Backoff;
use super::shared::{either, settle, PassFailure, Shared};
use super::status::{Failed, PreviewRecord};
use crate::apply::cluster::KubeCluster;
use crate::forge::{ErrorKind, Forge, ForgeError, OpenPull};
use crate::render::Renderer;
use sextant_core::preview::pulls;
use sextant_core::preview::Verdict;
use sextant_source::{GitSource, Revision, SourceError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct Previews<F> {
    pub environment: String,
    pub forge: Arc<F>,
    /// The branch the agent tracks: the pull requests previewed are based on it.
    pub base: String,
    pub git: Arc<GitSource>,
    pub renderer: Arc<Renderer>,
    pub cluster: Arc<KubeCluster>,
    pub agent_namespace: String,
    pub applied: watch::Receiver<Option<Arc<Applied>>>,
    /// Bumped by a signed `pull_request` webhook: look now rather than at the next poll.
    pub wake: watch::Receiver<u64>,
    pub poll: Duration,
    pub shared: Shared,
}

#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("forge: {0}")]
    Forge(#[from] ForgeError),
    #[error("pull request #{number}: {source}")]
    Source { number: u64, source: SourceError },
    #[error("pull request #{number}: a scratch folder: {source}")]
    Scratch { number: u64, source: std::io::Error },
    #[error("pull request #{number}: a task failed: {source}")]
    Task {
        number: u64,
        source: tokio::task::JoinError,
    },
}

impl PassFailure for PassError {
    fn label(&self) -> &'static str {
        match self {
            Self::Forge(e) => e.label,
            Self::Source { .. } => "source",
            Self::Scratch { .. } | Self::Task { .. } => "internal",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::Forge(e) => e.kind,
            Self::Source { source, .. } if source.is_transient() => ErrorKind::Transient,
            _ => ErrorKind::Other,
        }
    }
}

/// What the loop remembers between passes: the head each pull request was last previewed at
/// (a restart previews again, and finds its comment again by the marker).
#[derive(Default)]
struct Memory {
    done: BTreeMap<u64, String>,
}

impl<F: Forge + 'static> Previews<F> {
    pub async fn run(mut self) {
        // What a preview interrupted by a crash or a kill left behind: this loop is its only user.
        match std::fs::remove_dir_all(self.scratch()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(environment = %self.environment, error = %e, "cannot clear the previews' scratch folder");
            }
            _ => {}
        }
        let mut memory = Memory::default();
        let mut backoff = Backoff::new(self.shared.retry);
        loop {
            let applied = self.applied.borrow().clone();
            let waiting = backoff.remaining(tokio::time::Instant::now());
            if let (Some(a), true, None) = (applied, self.shared.is_leading(), waiting) {
                if a.environment.preview.enabled {
                    let result = self.pass(&a, &mut memory).await;
                    let failed = settle(&mut backoff, &result);
                    self.record_error(failed, &backoff);
                }
            }
            let tick = backoff
                .remaining(tokio::time::Instant::now())
                .map_or(self.poll, |w| w.max(Duration::from_millis(1)));
            let woken = either(&mut self.wake, &mut self.applied);
            if !self.shared.wait(tick, woken).await {
                return;
            }
        }
    }

    async fn pass(&self, a: &Applied, memory: &mut Memory) -> Result<(), PassError> {
        let open = self.forge.open_pulls(&self.base).await?;
        memory
            .done
            .retain(|n, _| open.iter().any(|p| p.number == *n));
        self.forget_closed(&open);
        let due: Vec<OpenPull> = pulls::due(&a.environment.preview, &open, &memory.done)
            .into_iter()
            .cloned()
            .collect();
        let Some(base) = a.revision.as_deref().and_then(|r| Revision::parse(r).ok()) else {
            return Ok(());
        };
        // The applied revision, checked out once for every pull request of this pass.
        let mut base_dir = None;
        for pull in due {
            if self.shared.is_stopping() || !self.shared.is_leading() {
                break;
            }
            let started = std::time::Instant::now();
            match self.one(a, &base, &pull, &mut base_dir).await {
                Ok(Some(record)) => {
                    let seconds = started.elapsed().as_secs_f64();
                    self.shared
                        .metrics
                        .preview_duration_seconds
                        .with_label_values(&[&self.environment])
                        .observe(seconds);
                    tracing::info!(environment = %self.environment, number = pull.number, head = %record.head, verdict = ?record.verdict, seconds, "pull request previewed");
                    self.record(record);
                }
                Ok(None) => {}
                Err(e) => {
                    self.shared
                        .metrics
                        .previews_total
                        .with_label_values(&[&self.environment, "not-posted"])
                        .inc();
                    return Err(e);
                }
            }
            memory.done.insert(pull.number, pull.head_sha.clone());
        }
        Ok(())
    }

    /// Previews one pull request against `base` (the revision applied from the tracked
    /// branch, checked out into `base_dir` the first time one needs it); `None` when its change
    /// does not touch the environment.
    async fn one(
        &self,
        a: &Applied,
        base: &Revision,
        pull: &OpenPull,
        base_dir: &mut Option<tempfile::TempDir>,
    ) -> Result<Option<PreviewRecord>, PassError> {
        let number = pull.number;
        let (git, base_rev) = (self.git.clone(), base.clone());
        let (head, changed) = self
            .blocking(number, move || {
                let head = git.fetch_pull(number)?;
                let changed = git.changed_paths(&base_rev, &head)?;
                Ok((head, changed))
            })
            .await?;
        if !pulls::touches(&pulls::reads(&a.environment), &changed) {
            tracing::debug!(environment = %self.environment, number, "the pull request does not touch this environment");
            return Ok(None);
        }
        let scratch = self.scratch();
        let folder = || {
            std::fs::create_dir_all(&scratch)?;
            tempfile::tempdir_in(&scratch)
        };
        let base_dir = match base_dir {
            Some(dir) => dir.path().to_path_buf(),
            None => {
                let dir = folder().map_err(|source| PassError::Scratch { number, source })?;
                let (git, b, path) = (self.git.clone(), base.clone(), dir.path().to_path_buf());
                self.blocking(number, move || git.export(&b, &path)).await?;
                base_dir.insert(dir).path().to_path_buf()
            }
        };
        let head_dir = folder().map_err(|source| PassError::Scratch { number, source })?;
        let (git, h, path) = (
            self.git.clone(),
            head.clone(),
            head_dir.path().to_path_buf(),
        );
        self.blocking(number, move || git.export(&h, &path)).await?;
        // Helm runs here: on a blocking thread, as the reconciler renders.
        let (renderer, environment) = (self.renderer.clone(), self.environment.clone());
        let (b, hd, h) = (base.clone(), head_dir.path().to_path_buf(), head.clone());
        let rendered = tokio::task::spawn_blocking(move || {
            let sides = crate::report::preview::Sides {
                base: (&base_dir, b.as_str()),
                head: (&hd, h.as_str()),
            };
            crate::report::preview::render(&renderer, &environment, &sides)
        })
        .await
        .map_err(|source| PassError::Task { number, source })?;
        drop(head_dir);
        let preview = rendered.against(&self.cluster, &self.agent_namespace).await;
        let body = crate::render::scrub(&pulls::comment_body(&preview)).into_owned();
        let comments = self.forge.comments(number).await?;
        let comment = match pulls::existing(&self.environment, &comments) {
            Some(c) => self.forge.edit_comment(c.id, &body).await?,
            None => self.forge.add_comment(number, &body).await?,
        };
        let mut status = pulls::status(&preview);
        status.description = crate::render::scrub(&status.description).into_owned();
        self.forge.set_status(head.as_str(), &status).await?;
        let result = match preview.verdict {
            Verdict::Success => "success",
            Verdict::Failure => "failure",
            Verdict::Error => "error",
        };
        self.shared
            .metrics
            .previews_total
            .with_label_values(&[&self.environment, result])
            .inc();
        Ok(Some(PreviewRecord {
            number,
            url: pull.url.clone(),
            head: head.to_string(),
            verdict: preview.verdict,
            comment: comment.url,
            at: now(),
        }))
    }

    /// Runs a Git step on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        number: u64,
        f: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
    ) -> Result<T, PassError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|source| PassError::Task { number, source })?
            .map_err(|source| PassError::Source { number, source })
    }

    /// The folder under the Git cache where this environment's previews check revisions out.
    fn scratch(&self) -> std::path::PathBuf {
        self.git
            .config()
            .cache_dir
            .join("previews")
            .join(&self.environment)
    }

    /// The environment's previews in `/status`, changed by `f`.
    fn in_status(&self, f: impl FnOnce(&mut super::status::Previews)) {
        if let Ok(mut s) = self.shared.status.lock() {
            f(&mut s
                .environments
                .entry(self.environment.clone())
                .or_default()
                .previews);
        }
    }

    fn record(&self, record: PreviewRecord) {
        self.in_status(|p| {
            p.pulls.retain(|r| r.number != record.number);
            p.pulls.push(record);
            p.pulls.sort_by_key(|r| r.number);
        });
    }

    fn forget_closed(&self, open: &[OpenPull]) {
        self.in_status(|p| {
            p.pulls
                .retain(|r| open.iter().any(|o| o.number == r.number))
        });
    }

    fn record_error(&self, failed: Option<Failed>, backoff: &Backoff) {
        let waiting = backoff.status(tokio::time::Instant::now());
        let (label, error) = failed.map(|f| (f.label, f.message)).unzip();
        if let Some(e) = &error {
            tracing::warn!(environment = %self.environment, error = %e, "pull request previews");
        }
        self.in_status(|p| {
            p.last_error = error;
            p.error = label;
            p.waiting = waiting;
        });
    }
}
