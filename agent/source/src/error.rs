//! `SourceError`: every way a source can fail, with the URL, branch or path it concerns, and
//! credential redaction for anything that ends up in a message.

use std::io;
use std::path::PathBuf;

/// `Result` with [`SourceError`] as the default error.
pub type Result<T, E = SourceError> = std::result::Result<T, E>;

/// An error from a Git, local or watch source.
///
/// URLs in every variant are redacted (`https://user:token@host` → `https://***@host`); no
/// variant ever carries the content of a token or key file.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A string that is not a full 40-hex commit id.
    #[error("invalid revision {value:?}: expected a full 40-hex commit id")]
    InvalidRevision {
        /// The rejected value (cut to 64 characters).
        value: String,
    },

    /// The remote could not be reached or stopped answering (DNS, refused, reset, timeout, 5xx).
    /// Transient: retry with backoff.
    #[error("cannot reach {url}: {message}; check the URL and the network path to the server (retrying is safe)")]
    Unreachable {
        /// The redacted remote URL.
        url: String,
        /// What libgit2 reported (credentials redacted).
        message: String,
    },

    /// The remote refused the credentials, or none were configured for a server that needs them.
    #[error("authentication to {url} failed: {message}; check the configured credentials (token or SSH key file) and their access to the repository")]
    Auth {
        /// The redacted remote URL.
        url: String,
        /// What went wrong (never the credential itself).
        message: String,
    },

    /// The SSH server's host key is not in the known_hosts file, or differs from the one there.
    #[error("host key of {host} rejected: {reason}; add the server's key to {known_hosts} (e.g. `ssh-keyscan -t ed25519 {host}`) after verifying it out of band")]
    HostKey {
        /// Host name as seen by the transport (with `[host]:port` for a non-default port).
        host: String,
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
        /// Why the key was rejected.
        reason: String,
    },

    /// The server answered, but has no repository at this URL (or hides it from these
    /// credentials, as GitHub does with 404 for private repositories).
    #[error("repository not found at {url}: {message}; check the URL, and that the credentials can see the repository")]
    RepositoryNotFound {
        /// The redacted remote URL.
        url: String,
        /// What the server reported (credentials redacted).
        message: String,
    },

    /// The configured branch is not a valid Git branch name.
    #[error("branch {branch:?} is not a valid Git branch name; give the bare name, e.g. \"main\" (not refs/heads/main)")]
    InvalidBranch {
        /// The configured branch.
        branch: String,
    },

    /// The tracked branch does not exist on the remote.
    #[error("branch {branch:?} not found at {url}; check the branch name (the remote has no refs/heads/{branch})")]
    BranchNotFound {
        /// The redacted remote URL.
        url: String,
        /// The configured branch.
        branch: String,
    },

    /// A revision asked for is not in the local cache.
    #[error("revision {revision} is not in the cache of {url}; fetch it first")]
    RevisionNotFound {
        /// The redacted remote URL.
        url: String,
        /// The missing revision.
        revision: String,
    },

    /// A path given to read the repository's history or files is not a clean relative path.
    #[error("path {path:?} {reason}; give a path relative to the repository root, without `..`")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A path at a revision is there but is not a file that can be read.
    #[error("{path:?} at revision {revision} is {what}, not a file")]
    NotAFile {
        /// The path as given.
        path: String,
        /// The revision read.
        revision: String,
        /// What the path is instead (`a folder`, `a symlink that leaves the repository`, …).
        what: String,
    },

    /// A credential file (token, private key, known_hosts) could not be read or is unusable.
    #[error("credential file {path}: {reason}; check that the file is mounted and readable")]
    CredentialFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never its content).
        reason: String,
    },

    /// Any other libgit2 failure (corrupt cache, unsupported protocol, ...).
    #[error("git {op} for {url} failed: {message}")]
    Git {
        /// The operation (`open cache`, `fetch`, `checkout`, ...).
        op: &'static str,
        /// The redacted remote URL, or the repository path.
        url: String,
        /// What libgit2 reported (credentials redacted).
        message: String,
        /// Whether the failure looks network-related, so that a retry may help.
        transient: bool,
    },

    /// A filesystem operation on the cache or a working tree failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// The operation (`create`, `rename`, `remove`, ...).
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// The disk holding the cache is full: nothing is wrong with the remote.
    #[error("the cache disk is full: {op} under {path} failed ({message}); free space on the volume of SEXTANT_CACHE_DIR or give it more (the agent prunes old snapshots itself)")]
    DiskFull {
        /// What was being written (`fetch`, `checkout`).
        op: &'static str,
        /// The cache directory.
        path: PathBuf,
        /// What the system reported.
        message: String,
    },

    /// The working-tree watcher could not start.
    #[error("cannot watch {path}: {message}; on Linux, check fs.inotify.max_user_watches")]
    Watch {
        /// The watched root (or sub-directory).
        path: PathBuf,
        /// What notify reported.
        message: String,
    },
}

impl SourceError {
    /// Whether retrying the same operation later may succeed (remote down, timeout, network).
    /// Configuration errors (auth, host key, missing branch, bad files) are not transient: they
    /// need a human, though a daemon may still retry them on its normal schedule.
    pub fn is_transient(&self) -> bool {
        match self {
            // Space may be freed (old snapshots are pruned): worth trying again later.
            Self::Unreachable { .. } | Self::DiskFull { .. } => true,
            Self::Git { transient, .. } => *transient,
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Replaces the user-info of a URL with `***`: `https://user:token@host/x` → `https://***@host/x`.
/// Strings without `scheme://user@` are returned unchanged; scp-like `git@host:path` has no
/// secret in it and is kept.
pub fn redact_url(url: &str) -> String {
    redact_urls_in(url)
}

/// Redacts the user-info of every `scheme://user[:pass]@host` inside free text (e.g. a libgit2
/// message that quotes the URL).
pub(crate) fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(idx) = rest.find("://") {
        let (head, tail) = rest.split_at(idx + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_and_token_in_urls() {
        assert_eq!(
            redact_url("https://bot:ghp_secret@github.com/o/r.git"),
            "https://***@github.com/o/r.git"
        );
        assert_eq!(redact_url("https://ghp_secret@h/x"), "https://***@h/x");
        assert_eq!(redact_url("ssh://git@h:2222/x"), "ssh://***@h:2222/x");
    }

    #[test]
    fn leaves_urls_without_credentials_alone() {
        for url in [
            "https://github.com/o/r.git",
            "git://127.0.0.1:9418/r.git",
            "git@github.com:o/r.git",
            "/srv/git/r.git",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn redacts_every_url_inside_text() {
        let msg = "failed to fetch https://a:b@h1/x and http://c:d@h2?q then https://h3/y";
        assert_eq!(
            redact_urls_in(msg),
            "failed to fetch https://***@h1/x and http://***@h2?q then https://h3/y"
        );
    }

    #[test]
    fn transient_only_for_network_failures() {
        let unreachable = SourceError::Unreachable {
            url: "u".into(),
            message: "m".into(),
        };
        let auth = SourceError::Auth {
            url: "u".into(),
            message: "m".into(),
        };
        let branch = SourceError::BranchNotFound {
            url: "u".into(),
            branch: "main".into(),
        };
        assert!(unreachable.is_transient());
        assert!(!auth.is_transient());
        assert!(!branch.is_transient());
    }
}
