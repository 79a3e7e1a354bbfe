//! Local mode's source: the working tree itself as a snapshot, labelled with its Git HEAD (or
//! the all-zero revision outside Git) and whether it differs from that HEAD.

use std::path::Path;

use git2::{ErrorCode, Repository, StatusOptions};

use crate::error::{Result, SourceError};
use crate::revision::Revision;
use crate::Snapshot;

/// The working tree at `root` as a snapshot, plus a `dirty` flag.
///
/// The revision is the HEAD commit when `root` is inside a Git work tree, else (no repository,
/// or no commit yet) [`Revision::zero`]. `dirty` is true when tracked files differ from HEAD or
/// untracked, non-ignored files exist (both change what a render sees); outside Git it is
/// always true, since nothing pins the content. Unlike Git snapshots, this one changes under
/// the reader: re-render on every signal from [`crate::watch::watch`].
pub fn local_snapshot(root: &Path) -> Result<(Snapshot, bool)> {
    let path = root
        .canonicalize()
        .map_err(|e| SourceError::io("resolve", root, e))?;
    if !path.is_dir() {
        return Err(SourceError::io(
            "use as a working tree",
            &path,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    let git_err = |op: &'static str, e: git2::Error| SourceError::Git {
        op,
        url: path.display().to_string(),
        message: e.message().to_owned(),
        transient: false,
    };
    let repo = match Repository::discover(&path) {
        Ok(repo) if !repo.is_bare() => repo,
        Ok(_) => return Ok((Snapshot::new(Revision::zero(), path), true)),
        Err(e) if e.code() == ErrorCode::NotFound => {
            return Ok((Snapshot::new(Revision::zero(), path), true))
        }
        Err(e) => return Err(git_err("open repository", e)),
    };
    let head = match repo.head() {
        Ok(head) => head
            .peel_to_commit()
            .map_err(|e| git_err("read HEAD", e))?
            .id(),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {
            return Ok((Snapshot::new(Revision::zero(), path), true))
        }
        Err(e) => return Err(git_err("read HEAD", e)),
    };
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .include_ignored(false)
        .recurse_untracked_dirs(false)
        .exclude_submodules(true);
    let dirty = !repo
        .statuses(Some(&mut opts))
        .map_err(|e| git_err("read status", e))?
        .is_empty();
    Ok((Snapshot::new(Revision::from_oid(head), path), dirty))
}

/// Commit `rev` (anything `git rev-parse` takes: a branch, a tag, a sha, `HEAD~1`) of the
/// repository at `root`, checked out into `dest` as a snapshot (files past the default size
/// limit left out, as a sync's snapshot leaves them): what `sextant preview` renders.
pub fn export_revision(root: &Path, rev: &str, dest: &Path) -> Result<Snapshot> {
    let url = root.display().to_string();
    let git_err = |op: &'static str, e: git2::Error| SourceError::Git {
        op,
        url: url.clone(),
        message: e.message().to_owned(),
        transient: false,
    };
    let repo = Repository::discover(root).map_err(|e| git_err("open repository", e))?;
    let commit = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| SourceError::RevisionNotFound {
            url: url.clone(),
            revision: rev.to_string(),
        })?;
    crate::git::checkout(
        &repo,
        &commit,
        dest,
        crate::GitConfig::DEFAULT_MAX_FILE_BYTES,
    )
    .map_err(|e| match e {
        crate::git::Checkout::Git(e) => git_err("checkout", e),
        crate::git::Checkout::Io(e) => SourceError::io("write", dest, e),
    })?;
    Ok(Snapshot::new(
        Revision::from_oid(commit.id()),
        dest.to_path_buf(),
    ))
}
