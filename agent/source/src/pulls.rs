//! What a pull request preview reads from Git: the head GitHub keeps for every pull request
//! (`refs/pull/<number>/head`, forks' included), fetched into the cache, the paths a change
//! touches, and a checkout of a fetched revision into a folder the caller owns.

use std::path::Path;

use git2::{AutotagOption, FetchOptions};

use crate::auth::{self, CallbackState};
use crate::error::{Result, SourceError};
use crate::git::{apply_timeouts, checkout, Checkout, GitSource};
use crate::revision::Revision;
use crate::Snapshot;

impl GitSource {
    /// Fetches pull request `number`'s head into `refs/sextant/pull/<number>` and returns it.
    /// Blocking (libgit2): call it from `spawn_blocking`.
    pub fn fetch_pull(&self, number: u64) -> Result<Revision> {
        let _serialized = self.fetch_lock();
        apply_timeouts(self.config().timeout);
        let repo = self.open_or_init()?;
        let mut remote = repo
            .remote_anonymous(&self.config().url)
            .map_err(|e| self.git_error("configure remote", e, true))?;
        let state = CallbackState::default();
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(auth::callbacks(
            &self.config().auth,
            &self.config().url,
            &state,
        )?)
        .download_tags(AutotagOption::None);
        let local = format!("refs/sextant/pull/{number}");
        let refspec = format!("+refs/pull/{number}/head:{local}");
        remote
            .fetch(&[refspec.as_str()], Some(&mut opts), None)
            .map_err(|e| self.network_error(e, &state))?;
        let head = repo
            .refname_to_id(&local)
            .map_err(|_| SourceError::RevisionNotFound {
                url: self.redacted_url().to_string(),
                revision: format!("refs/pull/{number}/head"),
            })?;
        Ok(Revision::from_oid(head))
    }

    /// The paths a change from `base` to `head` touches (added, changed or removed; both sides
    /// of a rename), sorted: what `head` changed since it left `base` (their merge base), so a
    /// base that moved on since does not count as the pull request's change.
    pub fn changed_paths(&self, base: &Revision, head: &Revision) -> Result<Vec<String>> {
        let repo = self.open_existing()?;
        let (base_commit, head_commit) = (self.commit(&repo, base)?, self.commit(&repo, head)?);
        let fork_point = repo
            .merge_base(base_commit.id(), head_commit.id())
            .map_or(base_commit.id(), |id| id);
        let read_tree = |e| self.git_error("read tree", e, false);
        let old = repo
            .find_commit(fork_point)
            .and_then(|c| c.tree())
            .map_err(read_tree)?;
        let new = head_commit.tree().map_err(read_tree)?;
        let diff = repo
            .diff_tree_to_tree(Some(&old), Some(&new), None)
            .map_err(|e| self.git_error("diff", e, false))?;
        let mut paths: Vec<String> = diff
            .deltas()
            .flat_map(|d| [d.old_file().path(), d.new_file().path()])
            .flatten()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// Checks `rev` out of the cache into `dest`, a folder the caller owns (a preview's
    /// scratch folder, not the snapshots a sync reads, which pruning may remove).
    pub fn export(&self, rev: &Revision, dest: &Path) -> Result<Snapshot> {
        let repo = self.open_existing()?;
        let commit = self.commit(&repo, rev)?;
        checkout(&repo, &commit, dest, self.config().max_file_bytes).map_err(|e| match e {
            Checkout::Git(e) => self.git_error("checkout", e, false),
            Checkout::Io(e) => SourceError::io("write", dest, e),
        })?;
        Ok(Snapshot::new(rev.clone(), dest.to_path_buf()))
    }
}
