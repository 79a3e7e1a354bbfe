//! Sextant's sources: a Git branch fetched (git2) into immutable, revision-named snapshots;
//! signed GitHub push webhooks; and, for local mode, a working tree with a debounced watch.
//! The cache's history (which commits touched a release's paths, a file at a revision) is read
//! locally, for promotions.
//! Everything downstream (render → plan → apply) consumes a [`Snapshot`], never the network.

#![warn(missing_docs)]

mod auth;
mod error;
mod git;
mod history;
mod known_hosts;
mod local;
mod pulls;
mod revision;
pub mod watch;
pub mod webhook;

use std::path::PathBuf;

pub use auth::Auth;
pub use error::{redact_url, Result, SourceError};
pub use git::{omitted, GitConfig, GitSource, OMITTED_FILE};
pub use history::{Log, LogEntry};
pub use local::{export_revision, local_snapshot};
pub use revision::Revision;

/// A directory holding the files of one revision.
///
/// From [`GitSource::snapshot`] it is an immutable checkout that nothing writes to after it
/// appears; from [`local_snapshot`] it is the working tree itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The commit the files come from ([`Revision::zero`] for a tree outside Git).
    pub revision: Revision,
    /// The root directory of the files.
    pub path: PathBuf,
}

impl Snapshot {
    pub(crate) fn new(revision: Revision, path: PathBuf) -> Self {
        Self { revision, path }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn git_source_can_be_shared_across_blocking_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::GitSource>();
        assert_send_sync::<crate::watch::Watcher>();
        assert_send_sync::<crate::SourceError>();
    }
}
