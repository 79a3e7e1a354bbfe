//! The repository the agent reads: where it is, and which revision it is at.

use std::path::Path;

/// The commit checked out in the git repository containing `dir`, or `None` outside git.
pub fn revision(dir: &Path) -> Option<String> {
    let repo = git2::Repository::discover(dir).ok()?;
    let commit = repo.head().ok()?.peel_to_commit().ok()?;
    Some(commit.id().to_string())
}
