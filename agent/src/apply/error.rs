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
        /// Every object failed for a reason a later try may fix (the API server was down).
        transient: bool,
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

impl SyncError {
    /// The kind of failure, for `sextant_reconcile_errors_total` and `/status`: a bounded set.
    pub fn metric_label(&self) -> &'static str {
        match self {
            SyncError::Timeout { .. } => "health_timeout",
            SyncError::Degraded { .. } => "degraded",
            SyncError::Apply {
                transient: true, ..
            } => "apply_unavailable",
            SyncError::Apply { .. } => "apply_refused",
            SyncError::Hook { .. } => "hook_failed",
            SyncError::UnservedKind { .. } => "kind_not_served",
            SyncError::KindTimeout { .. } | SyncError::RequiredKind { .. } => "kind_timeout",
            SyncError::Stopped { .. } => "stopped",
            SyncError::MassPrune { .. } => "prune_guard",
            SyncError::Deadline { .. } => "deadline",
            SyncError::Cluster(e) => e.metric_label(),
        }
    }

    /// Whether trying the same revision again later may succeed: the API server was down or
    /// throttling, something the plan waits for was not there yet, or the sync was stopped or
    /// ran out of time. A refused object, a conflict, a degraded object, a failed hook, a kind
    /// nobody serves or the prune guard fail the same way until the commit or the cluster
    /// changes: the daemon waits for that instead of retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Timeout { .. }
            | SyncError::KindTimeout { .. }
            | SyncError::RequiredKind { .. }
            | SyncError::Stopped { .. }
            | SyncError::Deadline { .. } => true,
            SyncError::Apply { transient, .. } => *transient,
            SyncError::Cluster(e) => e.is_transient(),
            SyncError::Degraded { .. }
            | SyncError::Hook { .. }
            | SyncError::UnservedKind { .. }
            | SyncError::MassPrune { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_is_tried_again_only_when_waiting_may_fix_it() {
        let api = |transient| {
            SyncError::Cluster(ClusterError::Api {
                object: "Deployment app/web".into(),
                verb: "apply",
                code: Some(if transient { 503 } else { 422 }),
                message: "...".into(),
                transient,
            })
        };
        let apply = |transient| SyncError::Apply {
            wave: 0,
            count: 1,
            first: "...".into(),
            transient,
        };
        let timeout = SyncError::Timeout {
            wave: 1,
            count: 1,
            timeout: Duration::from_secs(300),
            details: "web: 0/2 ready".into(),
        };
        let degraded = SyncError::Degraded {
            wave: 1,
            object: "Deployment app/web".into(),
            message: "ProgressDeadlineExceeded".into(),
        };
        let hook = SyncError::Hook {
            wave: 0,
            object: "Job app/migrate".into(),
            message: "BackoffLimitExceeded".into(),
        };
        // (error, label, transient)
        let cases = [
            (api(true), "api_unavailable", true),
            (api(false), "api_refused", false),
            (apply(true), "apply_unavailable", true),
            (apply(false), "apply_refused", false),
            (timeout, "health_timeout", true),
            (degraded, "degraded", false),
            (hook, "hook_failed", false),
            (SyncError::Stopped { wave: 2 }, "stopped", true),
        ];
        for (e, label, transient) in cases {
            assert_eq!(
                (e.metric_label(), e.is_transient()),
                (label, transient),
                "{e}"
            );
        }
    }
}
