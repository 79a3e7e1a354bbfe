//! `GitSource`: the git2 edge. Fetches one branch into a bare cache repository and checks
//! revisions out as immutable snapshot directories; everything downstream reads snapshots,
//! never the network.
//!
//! Cache layout under `cache_dir`:
//! - `repo.git/` — bare repository; the branch head is kept in `refs/remotes/origin/<branch>`;
//! - `snapshots/<revision>/` — one checkout per revision, written to `snapshots/.tmp-*` and
//!   renamed into place, so a snapshot directory that exists is complete.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use git2::{AutotagOption, Direction, ErrorClass, ErrorCode, FetchOptions, Repository};

use crate::auth::{self, Auth, CallbackState};
use crate::error::{redact_url, redact_urls_in, Result, SourceError};
use crate::revision::Revision;
use crate::Snapshot;

/// Where and how to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitConfig {
    /// Remote URL: `https://`, `ssh://`, scp-like `git@host:path`, `git://` or a local path.
    /// Credentials must not be embedded in it (use [`Auth`]); if they are, they are redacted
    /// from every message.
    pub url: String,
    /// The tracked branch, without `refs/heads/`.
    pub branch: String,
    /// A directory this source owns (the bare repository and the snapshots live there).
    pub cache_dir: PathBuf,
    /// Credentials.
    pub auth: Auth,
    /// Connect and read timeout of each network operation.
    pub timeout: Duration,
    /// The largest file a snapshot holds; larger ones are left out and listed ([`omitted`]).
    pub max_file_bytes: u64,
}

impl GitConfig {
    /// Default network timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default largest file checked out: 16 MiB, far above a values file or a chart template
    /// and far below the 512 MiB memory limit of the agent's shipped Deployment.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = sextant_core::snapshot::MAX_FILE_BYTES;

    /// Anonymous access with the default timeout.
    pub fn new(
        url: impl Into<String>,
        branch: impl Into<String>,
        cache_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            url: url.into(),
            branch: branch.into(),
            cache_dir: cache_dir.into(),
            auth: Auth::None,
            timeout: Self::DEFAULT_TIMEOUT,
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// A Git branch followed through a local cache. `Send + Sync`: share it in an `Arc` and call
/// the blocking methods from `tokio::task::spawn_blocking`. Fetches are serialized internally.
#[derive(Debug)]
pub struct GitSource {
    cfg: GitConfig,
    url: String,
    fetch_lock: Mutex<()>,
}

impl GitSource {
    /// A source for `cfg`; touches neither the network nor the disk.
    pub fn new(cfg: GitConfig) -> Self {
        let url = redact_url(&cfg.url);
        Self {
            cfg,
            url,
            fetch_lock: Mutex::new(()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GitConfig {
        &self.cfg
    }

    /// Serializes the fetches into the cache.
    pub(crate) fn fetch_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.fetch_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The remote URL with credentials redacted, for logs and status.
    pub fn redacted_url(&self) -> &str {
        &self.url
    }

    /// Where the snapshot of `rev` lives (whether or not it exists yet).
    pub fn snapshot_path(&self, rev: &Revision) -> PathBuf {
        self.snapshots_dir().join(rev.as_str())
    }

    fn repo_dir(&self) -> PathBuf {
        self.cfg.cache_dir.join("repo.git")
    }

    fn snapshots_dir(&self) -> PathBuf {
        self.cfg.cache_dir.join("snapshots")
    }

    fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.cfg.branch)
    }

    /// Clones (first call) or fetches the tracked branch and returns its head.
    ///
    /// It first lists the remote's refs (one round trip); when the branch head is already in
    /// the cache nothing is downloaded and the same revision is returned. Blocking (libgit2):
    /// call it from `spawn_blocking`.
    pub fn fetch(&self) -> Result<Revision> {
        let wanted = format!("refs/heads/{}", self.cfg.branch);
        if self.cfg.branch.starts_with("refs/") || !git2::Reference::is_valid_name(&wanted) {
            return Err(SourceError::InvalidBranch {
                branch: self.cfg.branch.clone(),
            });
        }
        let _serialized = self.fetch_lock();
        apply_timeouts(self.cfg.timeout);
        let repo = self.open_or_init()?;
        let mut remote = repo
            .remote_anonymous(&self.cfg.url)
            .map_err(|e| self.git_error("configure remote", e, true))?;

        let state = CallbackState::default();
        let head = {
            let cbs = auth::callbacks(&self.cfg.auth, &self.cfg.url, &state)?;
            let conn = remote
                .connect_auth(Direction::Fetch, Some(cbs), None)
                .map_err(|e| self.network_error(e, &state))?;
            let heads = conn.list().map_err(|e| self.network_error(e, &state))?;
            heads.iter().find(|h| h.name() == wanted).map(|h| h.oid())
        };
        let Some(head) = head else {
            return Err(SourceError::BranchNotFound {
                url: self.url.clone(),
                branch: self.cfg.branch.clone(),
            });
        };

        let tracking = self.tracking_ref();
        if repo.refname_to_id(&tracking).ok() == Some(head) && repo.find_commit(head).is_ok() {
            tracing::debug!(url = %self.url, branch = %self.cfg.branch, revision = %head, "no new commit");
            return Ok(Revision::from_oid(head));
        }

        let state = CallbackState::default();
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(auth::callbacks(&self.cfg.auth, &self.cfg.url, &state)?)
            .download_tags(AutotagOption::None);
        let refspec = format!("+{wanted}:{tracking}");
        remote
            .fetch(&[refspec.as_str()], Some(&mut opts), None)
            .map_err(|e| self.network_error(e, &state))?;
        // The branch may have moved since the listing: the fetched head is the newest.
        let fetched = repo
            .refname_to_id(&tracking)
            .map_err(|e| self.git_error("read fetched head", e, false))?;
        tracing::info!(url = %self.url, branch = %self.cfg.branch, revision = %fetched, "fetched");
        Ok(Revision::from_oid(fetched))
    }

    /// Checks `rev` out into `<cache_dir>/snapshots/<rev>/`, or returns the existing snapshot.
    ///
    /// The checkout is written to a temporary directory and renamed into place, so a snapshot
    /// is either complete or absent; it is never modified afterwards (do not write into it).
    pub fn snapshot(&self, rev: &Revision) -> Result<Snapshot> {
        let path = self.snapshot_path(rev);
        if path.is_dir() {
            return Ok(Snapshot::new(rev.clone(), path));
        }
        let repo = self.open_existing()?;
        let commit = repo
            .find_commit(rev.to_oid())
            .map_err(|_| SourceError::RevisionNotFound {
                url: self.url.clone(),
                revision: rev.to_string(),
            })?;

        let dir = self.snapshots_dir();
        std::fs::create_dir_all(&dir).map_err(|e| SourceError::io("create", &dir, e))?;
        let tmp = dir.join(format!(".tmp-{}-{}", rev.as_str(), unique_suffix()));
        let written = checkout(&repo, &commit, &tmp, self.cfg.max_file_bytes)
            .map_err(|e| match e {
                Checkout::Git(e) if e.message().to_ascii_lowercase().contains("no space left") => {
                    SourceError::DiskFull {
                        op: "checkout",
                        path: self.cfg.cache_dir.clone(),
                        message: e.message().to_string(),
                    }
                }
                Checkout::Git(e) => self.git_error("checkout", e, false),
                Checkout::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                    SourceError::DiskFull {
                        op: "checkout",
                        path: self.cfg.cache_dir.clone(),
                        message: e.to_string(),
                    }
                }
                Checkout::Io(e) => SourceError::io("write", &tmp, e),
            })
            .and_then(|()| match std::fs::rename(&tmp, &path) {
                Ok(()) => Ok(()),
                // Another caller finished the same snapshot first: theirs is as good as ours.
                Err(_) if path.is_dir() => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    Ok(())
                }
                Err(e) => Err(SourceError::io("rename", &tmp, e)),
            });
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        written?;
        tracing::debug!(revision = %rev, path = %path.display(), "snapshot written");
        Ok(Snapshot::new(rev.clone(), path))
    }

    /// Deletes every snapshot (and leftover temporary checkout) except those of `keep`;
    /// returns how many directories were removed. Do not run it concurrently with
    /// [`GitSource::snapshot`].
    pub fn prune_snapshots(&self, keep: &[&Revision]) -> Result<usize> {
        let dir = self.snapshots_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(SourceError::io("list", &dir, e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| SourceError::io("list", &dir, e))?;
            let name = entry.file_name();
            if keep.iter().any(|rev| name == rev.as_str()) {
                continue;
            }
            let path = entry.path();
            let result = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            result.map_err(|e| SourceError::io("remove", &path, e))?;
            removed += 1;
        }
        Ok(removed)
    }

    pub(crate) fn open_existing(&self) -> Result<Repository> {
        let dir = self.repo_dir();
        Repository::open_bare(&dir).map_err(|e| self.git_error("open cache", e, false))
    }

    pub(crate) fn open_or_init(&self) -> Result<Repository> {
        let dir = self.repo_dir();
        if dir.join("HEAD").is_file() {
            return self.open_existing();
        }
        std::fs::create_dir_all(&self.cfg.cache_dir)
            .map_err(|e| SourceError::io("create", &self.cfg.cache_dir, e))?;
        Repository::init_bare(&dir).map_err(|e| self.git_error("create cache", e, false))
    }

    pub(crate) fn git_error(
        &self,
        op: &'static str,
        e: git2::Error,
        transient: bool,
    ) -> SourceError {
        SourceError::Git {
            op,
            url: self.url.clone(),
            message: redact_urls_in(e.message()),
            transient,
        }
    }

    /// Maps a failed remote operation to an error that tells unreachable from refused.
    pub(crate) fn network_error(&self, e: git2::Error, state: &CallbackState) -> SourceError {
        if let Some(precise) = state.take_failure() {
            return precise;
        }
        let message = redact_urls_in(e.message());
        let lower = message.to_ascii_lowercase();
        if lower.contains("no space left on device") {
            return SourceError::DiskFull {
                op: "fetch",
                path: self.cfg.cache_dir.clone(),
                message,
            };
        }
        let url = self.url.clone();
        let missing_repo = lower.contains("no such repository")
            || lower.contains("repository not found")
            || lower.contains("not a git repository")
            || lower.contains("does not appear to be a git repository")
            || lower.contains("status code: 404");
        let auth_like = lower.contains("authentication")
            || lower.contains("status code: 401")
            || lower.contains("status code: 403")
            || lower.contains("permission denied");
        match (e.code(), e.class()) {
            (ErrorCode::Auth, _) => SourceError::Auth { url, message },
            _ if missing_repo => SourceError::RepositoryNotFound { url, message },
            (ErrorCode::Certificate, _) => SourceError::Git {
                op: "verify server certificate",
                url,
                message,
                transient: false,
            },
            (ErrorCode::Timeout | ErrorCode::Eof, _) => SourceError::Unreachable { url, message },
            (_, ErrorClass::Http | ErrorClass::Ssh) if auth_like => {
                SourceError::Auth { url, message }
            }
            (
                _,
                ErrorClass::Net
                | ErrorClass::Os
                | ErrorClass::Ssl
                | ErrorClass::Http
                | ErrorClass::Ssh,
            ) => SourceError::Unreachable { url, message },
            _ => SourceError::Git {
                op: "fetch",
                url,
                message,
                transient: false,
            },
        }
    }
}

pub use sextant_core::snapshot::{omitted, OMITTED_FILE};

pub(crate) enum Checkout {
    Git(git2::Error),
    Io(std::io::Error),
}

/// Checks a commit out into `target`, leaving out every file larger than `max_file_bytes` (a
/// hostile or careless commit of a huge file must not fill the disk or the agent's memory),
/// listed with its size in [`OMITTED_FILE`]; whoever reads one of them learns why it is missing.
/// Sizes come from the object database's headers: an omitted blob is never read.
pub(crate) fn checkout(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    target: &Path,
    max_file_bytes: u64,
) -> std::result::Result<(), Checkout> {
    let tree = commit.tree().map_err(Checkout::Git)?;
    let odb = repo.odb().map_err(Checkout::Git)?;
    let mut kept: Vec<String> = Vec::new();
    let mut omitted: Vec<(String, u64)> = Vec::new();
    let mut failed: Option<git2::Error> = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return git2::TreeWalkResult::Ok;
        }
        let path = format!("{dir}{}", entry.name().unwrap_or_default());
        match odb.read_header(entry.id()) {
            Ok((size, _)) if size as u64 > max_file_bytes => omitted.push((path, size as u64)),
            Ok(_) => kept.push(path),
            Err(e) => {
                failed = Some(e);
                return git2::TreeWalkResult::Abort;
            }
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(Checkout::Git)?;
    if let Some(e) = failed {
        return Err(Checkout::Git(e));
    }
    let mut builder = git2::build::CheckoutBuilder::new();
    builder
        .target_dir(target)
        .force()
        .update_index(false)
        .recreate_missing(true);
    if !omitted.is_empty() {
        builder.disable_pathspec_match(true);
        for p in &kept {
            builder.path(p);
        }
    }
    repo.checkout_tree(commit.as_object(), Some(&mut builder))
        .map_err(Checkout::Git)?;
    if !omitted.is_empty() {
        tracing::warn!(
            files = omitted.len(),
            limit = max_file_bytes,
            "files over the size limit left out of the snapshot"
        );
        std::fs::create_dir_all(target).map_err(Checkout::Io)?;
        let list: String = omitted
            .iter()
            .map(|(p, size)| format!("{size} {p}\n"))
            .collect();
        std::fs::write(target.join(OMITTED_FILE), list).map_err(Checkout::Io)?;
    }
    Ok(())
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// libgit2 keeps its network timeouts in process-global options. Writes are serialized here
/// and skipped when the value is unchanged, which is the common case (one source per process).
pub(crate) fn apply_timeouts(timeout: Duration) {
    static LAST_MS: Mutex<Option<i32>> = Mutex::new(None);
    let ms = i32::try_from(timeout.as_millis())
        .unwrap_or(i32::MAX)
        .max(1);
    let mut last = LAST_MS.lock().unwrap_or_else(|p| p.into_inner());
    if *last == Some(ms) {
        return;
    }
    // SAFETY: these setters write a C global without synchronization; all writes from this
    // crate go through the `LAST_MS` lock, and libgit2 only reads the integers when it opens
    // a connection. The setters cannot fail for these options.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms);
        let _ = git2::opts::set_server_timeout_in_milliseconds(ms);
    }
    *last = Some(ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_named_as_such_not_as_an_unreachable_remote() {
        let src = GitSource::new(GitConfig::new(
            "git://127.0.0.1:9418/deploy.git",
            "main",
            "/var/cache/sextant/git",
        ));
        let e = git2::Error::new(
            ErrorCode::GenericError,
            ErrorClass::Os,
            "failed to write pack: No space left on device",
        );
        let err = src.network_error(e, &CallbackState::default());
        assert!(matches!(err, SourceError::DiskFull { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("cache disk is full"), "{message}");
        assert!(message.contains("/var/cache/sextant/git"), "{message}");
        assert!(!message.contains("check the URL"), "{message}");
        let other = git2::Error::new(
            ErrorCode::GenericError,
            ErrorClass::Net,
            "connection refused",
        );
        assert!(matches!(
            src.network_error(other, &CallbackState::default()),
            SourceError::Unreachable { .. }
        ));
    }
}
