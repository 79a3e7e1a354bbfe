//! Why a reconcile did not apply a revision in full, typed to the error policy: a broken commit
//! (it does not load, render or plan; an object the API server refuses; a hook that fails) waits
//! for the next commit or the periodic resync; a failure a later try may fix (the API server or a
//! chart repository down, something the plan waits for not there yet) is retried with backoff.
//! Its stage and label reach `/status` and `sextant_reconcile_errors_total`.

use crate::apply::result::SyncFailure;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The snapshot does not load, render or plan.
    #[error(transparent)]
    Prepare(#[from] crate::Error),
    /// The render task ended without an answer (it panicked): reported, never read as "nothing
    /// to apply".
    #[error("the render task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The sync ran and stopped.
    #[error("{0}")]
    Sync(SyncFailure),
    /// A rollback's last good revision cannot be checked out again.
    #[error("cannot check out the last good revision {revision} to roll back to: {source}")]
    History {
        revision: String,
        source: sextant_source::SourceError,
    },
    /// A rollback's last good revision is not in memory, and a working tree has no history.
    #[error("the last good revision {revision} is not in memory and a working tree has no history to render it from")]
    NoHistory { revision: String },
    /// A promoted digest whose signature does not verify (`spec.promotion.verifyOnApply`), or
    /// whose signatures the registry could not give (`transient`).
    #[error("release {release}: the promoted digest {digest} is not applied: {reason}")]
    Unverified {
        release: String,
        digest: String,
        reason: String,
        transient: bool,
    },
}

impl ReconcileError {
    /// Where it failed: `render`, `plan` or `apply`.
    pub fn stage(&self) -> &'static str {
        match self {
            ReconcileError::Prepare(crate::Error::Environment(_) | crate::Error::Render(_))
            | ReconcileError::Task(_) => "render",
            ReconcileError::Prepare(crate::Error::Plan(_) | crate::Error::Requires(_))
            | ReconcileError::Unverified { .. } => "plan",
            ReconcileError::Sync(_)
            | ReconcileError::History { .. }
            | ReconcileError::NoHistory { .. } => "apply",
        }
    }

    /// What failed, a bounded set: the `error` label of `sextant_reconcile_errors_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReconcileError::Prepare(crate::Error::Environment(_)) => "environment_invalid",
            ReconcileError::Prepare(crate::Error::Render(e)) => e.metric_label(),
            ReconcileError::Prepare(crate::Error::Plan(_)) => "plan_invalid",
            ReconcileError::Prepare(crate::Error::Requires(_)) => "requirement_unmet",
            ReconcileError::Task(_) => "render_task_failed",
            ReconcileError::Sync(f) => f.label,
            ReconcileError::History { .. } | ReconcileError::NoHistory { .. } => {
                "rollback_unavailable"
            }
            ReconcileError::Unverified {
                transient: true, ..
            } => "signature_unavailable",
            ReconcileError::Unverified { .. } => "signature_unverified",
        }
    }

    /// Why a SOPS values file did not decrypt, if that is the failure.
    pub fn decrypt_reason(&self) -> Option<&'static str> {
        match self {
            ReconcileError::Prepare(crate::Error::Render(e)) => e.decrypt_reason(),
            _ => None,
        }
    }

    /// Whether the same revision is tried again with backoff (else: at the next commit or
    /// resync).
    pub fn is_transient(&self) -> bool {
        match self {
            ReconcileError::Prepare(crate::Error::Render(e)) => e.is_transient(),
            ReconcileError::Sync(f) => f.transient,
            ReconcileError::Unverified { transient, .. } => *transient,
            ReconcileError::Prepare(_)
            | ReconcileError::Task(_)
            | ReconcileError::History { .. }
            | ReconcileError::NoHistory { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Error as RenderError;

    #[test]
    fn a_commits_own_error_waits_and_a_failing_service_backs_off() {
        let template = RenderError::Template {
            environment: "dev".into(),
            release: "web".into(),
            chart: "helm/app".into(),
            source: crate::render::helm::HelmError::Failed(
                "nil pointer evaluating .Values.image".into(),
            ),
        };
        let slow = RenderError::Template {
            environment: "dev".into(),
            release: "web".into(),
            chart: "helm/app".into(),
            source: crate::render::helm::HelmError::Timeout {
                after: std::time::Duration::from_secs(60),
            },
        };
        let fetch = RenderError::Fetch {
            environment: "dev".into(),
            release: "ingress".into(),
            name: "ingress-nginx".into(),
            version: "4.11.3".into(),
            from: "https://kubernetes.github.io/ingress-nginx".into(),
            message: "503 Service Unavailable".into(),
        };
        let sync = |label, transient| {
            ReconcileError::Sync(SyncFailure {
                message: "wave 0: ...".into(),
                label,
                transient,
            })
        };
        // (error, stage, label, transient)
        let cases = [
            (
                crate::Error::Render(template).into(),
                "render",
                "template_failed",
                false,
            ),
            (
                crate::Error::Render(slow).into(),
                "render",
                "render_timeout",
                true,
            ),
            (
                crate::Error::Render(fetch).into(),
                "render",
                "chart_fetch_failed",
                true,
            ),
            (
                sync("apply_refused", false),
                "apply",
                "apply_refused",
                false,
            ),
            (
                sync("apply_unavailable", true),
                "apply",
                "apply_unavailable",
                true,
            ),
            (
                ReconcileError::NoHistory {
                    revision: "abc".into(),
                },
                "apply",
                "rollback_unavailable",
                false,
            ),
        ];
        for (e, stage, label, transient) in cases {
            assert_eq!(
                (e.stage(), e.metric_label(), e.is_transient()),
                (stage, label, transient),
                "{e}"
            );
        }
    }
}
