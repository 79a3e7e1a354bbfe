//! The status on every commit the agent reconciles, `sextant/<environment>` on the tracked
//! branch's commit (docs/agent.md#commit-statuses): `pending` while its sync runs, then
//! `success` (applied, every wave healthy), `failure` (it does not render or plan, the API
//! server refused it, a health gate failed, or it was rolled back) or `error` (a failure a later
//! try may fix; the agent tries again). Handed to the forge's loop ([`super::revert::Jobs`]) and
//! never waited for: a forge that is down or slow delays no sync.
//!
//! A description never carries a value from the repository: a render or plan failure is named by
//! its stage and label only (its text, which may quote values, stays in `/status` and the log);
//! a sync's failure is its message with Secret values already scrubbed.

use super::failure::ReconcileError;
use super::promote::Job;
use crate::apply::result::SyncResult;
use crate::forge::{CommitStatus, StatusState};
use std::sync::Mutex;
use tokio::sync::mpsc;

/// What a reconcile says of its commit.
pub struct CommitStatuses {
    environment: String,
    context: String,
    jobs: Option<mpsc::Sender<Job>>,
    /// The last status handed over: the same one is not sent again (a resync that changed
    /// nothing says nothing).
    last: Mutex<Option<(String, CommitStatus)>>,
}

impl CommitStatuses {
    pub fn new(environment: &str, jobs: Option<mpsc::Sender<Job>>) -> Self {
        CommitStatuses {
            environment: environment.to_string(),
            context: format!("sextant/{environment}"),
            jobs,
            last: Mutex::new(None),
        }
    }

    /// `pending`, unless this commit was already reported (a resync of it).
    pub fn applying(&self, revision: &str) {
        let reported = self
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|(r, _)| r == revision);
        if !reported {
            self.say(revision, StatusState::Pending, "applying this commit");
        }
    }

    /// What the reconcile of `revision` ended with.
    pub fn ended(&self, revision: &str, outcome: &Outcome<'_>) {
        let (state, description) = decide(outcome);
        self.say(revision, state, &description);
    }

    fn say(&self, revision: &str, state: StatusState, description: &str) {
        let Some(jobs) = &self.jobs else { return };
        let description = crate::render::scrub(description);
        let status = CommitStatus::new(&self.context, state, &description);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last
            .as_ref()
            .is_some_and(|(r, s)| r == revision && *s == status)
        {
            return;
        }
        let job = Job::Status {
            environment: self.environment.clone(),
            revision: revision.to_string(),
            status: status.clone(),
        };
        match jobs.try_send(job) {
            Ok(()) => *last = Some((revision.to_string(), status)),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(context = %self.context, revision, "the forge's loop is behind: this commit status is not sent");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// How a reconcile of a commit ended.
pub enum Outcome<'a> {
    /// It did not render, load or plan.
    NotPlanned(&'a ReconcileError),
    /// Its sync ran: the result, and the revision it was rolled back to, if it was.
    Synced {
        result: &'a SyncResult,
        rolled_back_to: Option<&'a str>,
    },
}

/// The status a reconcile's outcome sets.
pub fn decide(outcome: &Outcome<'_>) -> (StatusState, String) {
    match outcome {
        Outcome::NotPlanned(e) => {
            let state = if e.is_transient() {
                StatusState::Error
            } else {
                StatusState::Failure
            };
            (
                state,
                format!(
                    "not applied: {} failed ({}); the last good commit stays applied",
                    e.stage(),
                    e.metric_label()
                ),
            )
        }
        Outcome::Synced { result, .. } if result.succeeded => {
            let t = &result.totals;
            (
                StatusState::Success,
                format!(
                    "applied and healthy: {} created, {} configured, {} unchanged, {} pruned",
                    t.created, t.configured, t.unchanged, t.pruned
                ),
            )
        }
        Outcome::Synced {
            result,
            rolled_back_to: Some(to),
        } => (
            StatusState::Failure,
            format!(
                "rolled back to {}: {}",
                &to[..to.len().min(12)],
                result.error.as_deref().unwrap_or("a health gate failed")
            ),
        ),
        Outcome::Synced { result, .. } => {
            let transient = result.error.as_ref().is_some_and(|e| e.transient);
            let state = if transient {
                StatusState::Error
            } else {
                StatusState::Failure
            };
            let why = result.error.as_deref().unwrap_or("the sync did not finish");
            let retry = if transient { "; tried again" } else { "" };
            (state, format!("not applied: {why}{retry}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::result::{SyncFailure, Totals};

    fn result(succeeded: bool, error: Option<(&str, bool)>) -> SyncResult {
        SyncResult {
            environment: "prod".into(),
            revision: Some("a".repeat(40)),
            dry_run: false,
            succeeded,
            error: error.map(|(m, transient)| SyncFailure {
                message: m.into(),
                label: "x",
                transient,
            }),
            duration_seconds: 1.0,
            waves: Vec::new(),
            pruned: Vec::new(),
            totals: Totals {
                created: 2,
                configured: 1,
                unchanged: 7,
                pruned: 0,
                ..Totals::default()
            },
            unhealthy: false,
        }
    }

    #[test]
    fn each_outcome_sets_its_state_and_says_why_without_values() {
        let ok = result(true, None);
        let refused = result(
            false,
            Some(("Deployment app/web: refused: spec.replicas", false)),
        );
        let down = result(false, Some(("the API server did not answer", true)));
        let degraded = result(false, Some(("Deployment app/web: degraded", false)));
        let template = ReconcileError::NoHistory {
            revision: "r".into(),
        };
        // (outcome, state, what the description starts with)
        let table = [
            (
                Outcome::Synced {
                    result: &ok,
                    rolled_back_to: None,
                },
                StatusState::Success,
                "applied and healthy: 2 created, 1 configured, 7 unchanged, 0 pruned",
            ),
            (
                Outcome::Synced {
                    result: &refused,
                    rolled_back_to: None,
                },
                StatusState::Failure,
                "not applied: Deployment app/web: refused",
            ),
            (
                Outcome::Synced {
                    result: &down,
                    rolled_back_to: None,
                },
                StatusState::Error,
                "not applied: the API server did not answer; tried again",
            ),
            (
                Outcome::Synced {
                    result: &degraded,
                    rolled_back_to: Some(&"g".repeat(40)),
                },
                StatusState::Failure,
                "rolled back to gggggggggggg: Deployment app/web: degraded",
            ),
            (
                Outcome::NotPlanned(&template),
                StatusState::Failure,
                "not applied: apply failed (rollback_unavailable)",
            ),
        ];
        for (outcome, state, says) in table {
            let (got, description) = decide(&outcome);
            assert_eq!(got, state, "{description}");
            assert!(
                description.starts_with(says),
                "{description:?} starts with {says:?}"
            );
        }
    }

    #[tokio::test]
    async fn pending_once_per_commit_and_the_same_status_is_not_sent_twice() {
        let (tx, mut rx) = mpsc::channel(8);
        let s = CommitStatuses::new("prod", Some(tx));
        let ok = result(true, None);
        let done = Outcome::Synced {
            result: &ok,
            rolled_back_to: None,
        };
        s.applying("c1");
        s.ended("c1", &done);
        // A resync of the same commit: nothing new to say.
        s.applying("c1");
        s.ended("c1", &done);
        s.applying("c2");
        let mut said = Vec::new();
        while let Ok(Job::Status {
            revision, status, ..
        }) = rx.try_recv()
        {
            assert_eq!(status.context, "sextant/prod");
            said.push((revision, status.state));
        }
        assert_eq!(
            said,
            [
                ("c1".to_string(), StatusState::Pending),
                ("c1".to_string(), StatusState::Success),
                ("c2".to_string(), StatusState::Pending),
            ]
        );
    }

    #[test]
    fn without_a_forge_nothing_is_said() {
        let s = CommitStatuses::new("prod", None);
        s.applying("c1");
        assert!(s.last.lock().unwrap().is_none());
    }
}
