//! How a sync fails: typed, each variant naming the wave and the object, so that the daemon can
//! tell a broken commit from a cluster that is down.

use super::cluster::ClusterError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("wave {wave}: {count} object(s) not healthy after {timeout:?}: {details}")]
    Timeout {
        wave: i32,
        count: usize,
        timeout: Duration,
        details: String,
    },
    #[error("wave {wave}: {object} is degraded: {message}")]
    Degraded {
        wave: i32,
        object: String,
        message: String,
    },
    #[error("wave {wave}: {count} object(s) could not be applied; first: {first}")]
    Apply {
        wave: i32,
        count: usize,
        first: String,
    },
    #[error("wave {wave}: hook {object} failed: {message}")]
    Hook {
        wave: i32,
        object: String,
        message: String,
    },
    #[error(
        "wave {wave}: {object}: the API server does not serve {api_version} {kind}, and {why}"
    )]
    UnservedKind {
        wave: i32,
        object: String,
        api_version: String,
        kind: String,
        why: String,
    },
    #[error("wave {wave}: {count} kind(s) still not served after {timeout:?}: {details}")]
    KindTimeout {
        wave: i32,
        count: usize,
        timeout: Duration,
        details: String,
    },
    #[error("wave {wave}: {count} required kind(s) not served and Established after {timeout:?}: {details}")]
    RequiredKind {
        wave: i32,
        count: usize,
        timeout: Duration,
        details: String,
    },
    #[error("stopped before wave {wave}: asked to stop (SIGTERM or SIGINT, or the agent no longer leads); the next sync carries on")]
    Stopped { wave: i32 },
    #[error("{message}")]
    MassPrune { message: String },
    #[error("the sync did not finish within spec.sync.timeout ({after:?}) and was stopped; the next sync carries on")]
    Deadline { after: Duration },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}
