//! What `/status` reports and `/readyz` decides on: per environment, the revision, the last sync
//! and the last error. Plain data, updated by the reconcilers.

use crate::apply::result::{SyncResult, Totals};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct WaveSummary {
    pub wave: i32,
    pub duration_seconds: f64,
    pub objects: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastSync {
    pub result: &'static str,
    pub revision: Option<String>,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub totals: Totals,
    pub waves: Vec<WaveSummary>,
    pub error: Option<String>,
}

impl LastSync {
    pub fn of(result: &SyncResult, finished_at: String) -> Self {
        LastSync {
            result: if result.succeeded {
                "succeeded"
            } else {
                "failed"
            },
            revision: result.revision.clone(),
            finished_at,
            duration_seconds: result.duration_seconds,
            totals: result.totals.clone(),
            waves: result
                .waves
                .iter()
                .map(|w| WaveSummary {
                    wave: w.wave,
                    duration_seconds: w.duration_seconds,
                    objects: w.objects.len(),
                    failed: w
                        .objects
                        .iter()
                        .filter(|o| o.outcome == crate::apply::result::Outcome::Failed)
                        .count(),
                })
                .collect(),
            error: result.error.as_deref().map(str::to_string),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    pub stage: &'static str,
    /// What failed (`ReconcileError::metric_label`), as `sextant_reconcile_errors_total` counts it.
    pub error: &'static str,
    /// Tried again with backoff (`retry_at` says when); otherwise at the next commit or resync.
    pub transient: bool,
    pub revision: Option<String>,
    pub message: String,
    pub at: String,
}

impl LastError {
    pub fn of(e: &super::failure::ReconcileError, revision: Option<String>) -> LastError {
        LastError {
            stage: e.stage(),
            error: e.metric_label(),
            transient: e.is_transient(),
            revision,
            message: e.to_string(),
            at: now(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvironmentStatus {
    /// The revision last applied successfully.
    pub revision: Option<String>,
    pub last_sync: Option<LastSync>,
    pub last_error: Option<LastError>,
    /// A first sync (of any result) has finished since the agent started.
    pub synced_once: bool,
    /// When the reconcile under way started, if one is.
    pub reconciling_since: Option<String>,
    #[serde(skip)]
    pub reconcile_started: Option<std::time::Instant>,
    /// When the next attempt after a failure is due, if the last one failed.
    pub retry_at: Option<String>,
    /// How the live cluster compares with what was applied.
    pub drift: DriftStatus,
    /// The drift pull requests (and issues) open in the forge, and the last forge error.
    pub drift_requests: DriftRequests,
    /// As a source: the gate of each (target, release) promotion from this environment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promotions: Vec<PromotionStatus>,
    /// As a target: the last automatic rollback, until Git moves on from the failed revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<crate::promotion::rollback::Rollback>,
    /// As a target: the verification under way after a promotion (`promotion.verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationStatus>,
    /// The pull requests previewed (`spec.preview`), and the last forge error.
    #[serde(skip_serializing_if = "Previews::is_empty")]
    pub previews: Previews,
    /// With sharding: which replica holds the environment's Lease, and which owns it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardStatus>,
}

/// An environment's shard as `/status` shows it. The owner is the replica rendezvous hashing
/// picks among the live members; the holder is the one whose Lease it is (they differ during
/// a handover).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShardStatus {
    pub holder: Option<String>,
    pub owner: Option<String>,
}

/// The verification as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationStatus {
    pub revision: String,
    /// RFC 3339: when the revision was applied in full, and the window started.
    pub started: String,
    pub window_seconds: u64,
    /// RFC 3339: when the window ends (a held verification stays open past it).
    pub window_ends: String,
    /// RFC 3339: the last look at the checks.
    pub looked: String,
    /// `watching`, `held` (a check cannot say).
    pub state: &'static str,
    pub message: String,
    pub checks: Vec<crate::promotion::gate::CheckOutcome>,
}

/// The previews of open pull requests, as `/status` shows them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Previews {
    /// One per open pull request previewed, by number.
    pub pulls: Vec<PreviewRecord>,
    pub last_error: Option<String>,
    /// `last_error`'s bounded label (the forge's, or `source` for a fetch that failed).
    pub error: Option<&'static str>,
    pub waiting: Option<super::forge_backoff::ForgeWait>,
}

impl Previews {
    fn is_empty(&self) -> bool {
        self.pulls.is_empty() && self.last_error.is_none()
    }
}

/// One pull request's last preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewRecord {
    pub number: u64,
    pub url: String,
    /// The head previewed.
    pub head: String,
    /// `success`, `failure` or `error`.
    pub verdict: sextant_core::preview::Verdict,
    /// The comment that carries the report.
    pub comment: String,
    pub at: String,
}

/// One promotion's gate, as `/status` shows it: what it waits for, and since when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromotionStatus {
    pub target: String,
    pub release: String,
    pub state: &'static str,
    /// RFC 3339: since when the gate is in `state`.
    pub since: String,
    pub message: String,
    pub digest: Option<String>,
    /// RFC 3339: since when everything held, when it does.
    pub healthy_since: Option<String>,
    /// The registry's verification, or why it refused.
    pub registry: Option<String>,
    /// The digest's signature (images with `verify.signature`): who signed it, or why it is
    /// refused.
    pub signature: Option<String>,
    /// The open promotion request, or the commit made.
    pub request: Option<String>,
    pub last_error: Option<String>,
    /// `last_error`'s bounded label, as the registry or forge edge labels it in metrics.
    pub error: Option<&'static str>,
    /// While the promotion leaves the forge alone after an answer that repeating will not
    /// change: until when, and why.
    pub waiting: Option<super::forge_backoff::ForgeWait>,
}

/// A loop's last failure as `/status` shows it: what a person reads (`last_error`) and its
/// bounded label (`error`), as the edge labels it in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub label: &'static str,
    pub message: String,
}

impl Failed {
    /// A forge's answer, as its edge typed it.
    pub fn of(e: &crate::forge::ForgeError) -> Self {
        Failed {
            label: e.label,
            message: e.message.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DriftRequests {
    pub open: Vec<DriftRequest>,
    pub last_error: Option<String>,
    /// `last_error`'s bounded label: the forge's (`unauthorized`, `rate_limited`, …),
    /// `proposal_failed` or `unseen`.
    pub error: Option<&'static str>,
    /// While the loop leaves the forge alone after an answer that repeating will not change
    /// (401, 403, 404, 422, or a write it cannot see): until when, and why.
    pub waiting: Option<super::forge_backoff::ForgeWait>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftRequest {
    pub release: String,
    pub kind: crate::drift::pr::Kind,
    pub number: u64,
    pub url: String,
}

/// `in-sync`, `drifted`, or `unknown` (before the watches have listed, or while one is down:
/// never `in-sync` then).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftState {
    InSync,
    Drifted,
    #[default]
    Unknown,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DriftStatus {
    pub state: DriftState,
    /// Why the state is unknown, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub objects: Vec<DriftedObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftedObject {
    pub object: String,
    pub release: String,
    /// JSON pointers of the drifted fields; empty when the object was deleted.
    pub paths: Vec<String>,
    pub deleted: bool,
    pub managers: Vec<String>,
    pub since: Option<String>,
    /// What the agent does about it: `healing`, `reported`, or `fighting`.
    pub action: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    pub revision: Option<String>,
    pub last_fetch_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub identity: String,
    /// This replica leads: the one Lease, or with sharding at least one environment's.
    pub leader: bool,
    /// With sharding: the replicas whose member Lease is live.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    pub source: SourceStatus,
    pub environments: BTreeMap<String, EnvironmentStatus>,
    /// An environment whose reconcile runs longer than this makes the agent unready.
    #[serde(skip)]
    pub stuck_after: Option<std::time::Duration>,
}

/// Why `/readyz` answers 503; the text is its body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// Reconciles running past `stuckAfter`: each environment and its seconds so far.
    #[error("reconcile stuck longer than {bound:?} (stuckAfter): {}", stuck_list(.stuck))]
    Stuck {
        bound: std::time::Duration,
        stuck: Vec<(String, u64)>,
    },
    #[error("waiting for the first sync of {}", .environments.join(", "))]
    FirstSync { environments: Vec<String> },
    /// The status lock was poisoned: a thread panicked while holding it.
    #[error("status unavailable")]
    Unavailable,
}

fn stuck_list(stuck: &[(String, u64)]) -> String {
    let each: Vec<String> = stuck
        .iter()
        .map(|(n, secs)| format!("{n} (for {secs}s)"))
        .collect();
    each.join(", ")
}

impl Status {
    /// Ready once every environment it leads has finished a first sync, or at once on a
    /// standby; not ready while a reconcile has run longer than `stuck_after`.
    pub fn ready(&self) -> Result<(), NotReady> {
        if !self.leader {
            return Ok(());
        }
        if let Some(bound) = self.stuck_after {
            let stuck: Vec<(String, u64)> = self
                .environments
                .iter()
                .filter_map(|(n, e)| {
                    let running = e.reconcile_started?.elapsed();
                    (running > bound).then(|| (n.clone(), running.as_secs()))
                })
                .collect();
            if !stuck.is_empty() {
                return Err(NotReady::Stuck { bound, stuck });
            }
        }
        let waiting: Vec<String> = self
            .environments
            .iter()
            .filter(|(_, e)| !e.synced_once && self.leads(e))
            .map(|(n, _)| n.clone())
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(NotReady::FirstSync {
                environments: waiting,
            })
        }
    }
}

impl Status {
    /// Whether this replica leads `e`: it holds the environment's shard, or, without sharding,
    /// it leads at all.
    fn leads(&self, e: &EnvironmentStatus) -> bool {
        e.shard
            .as_ref()
            .is_none_or(|s| s.holder.as_deref() == Some(self.identity.as_str()))
    }
}

pub use super::clock::now;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_is_ready_after_every_first_sync_and_a_standby_at_once() {
        let mut s = Status {
            leader: true,
            ..Status::default()
        };
        s.environments
            .insert("dev".into(), EnvironmentStatus::default());
        s.environments.insert(
            "prod".into(),
            EnvironmentStatus {
                synced_once: true,
                ..Default::default()
            },
        );
        let why = s.ready().unwrap_err();
        assert_eq!(why.to_string(), "waiting for the first sync of dev");
        s.leader = false;
        assert!(s.ready().is_ok());
        s.leader = true;
        s.environments.get_mut("dev").unwrap().synced_once = true;
        assert!(s.ready().is_ok());
    }

    #[test]
    fn with_sharding_only_the_environments_this_replica_holds_wait_for_a_first_sync() {
        let shard = |holder: &str| ShardStatus {
            holder: Some(holder.into()),
            owner: Some(holder.into()),
        };
        let mut s = Status {
            identity: "r0".into(),
            leader: true,
            ..Status::default()
        };
        for (env, holder) in [("dev", "r1"), ("prod", "r0")] {
            s.environments.insert(
                env.into(),
                EnvironmentStatus {
                    shard: Some(shard(holder)),
                    ..Default::default()
                },
            );
        }
        let why = s.ready().unwrap_err();
        assert_eq!(why.to_string(), "waiting for the first sync of prod");
        s.environments.get_mut("prod").unwrap().synced_once = true;
        assert!(s.ready().is_ok());
    }

    #[test]
    fn a_reconcile_running_past_the_bound_makes_the_leader_unready() {
        let mut s = Status {
            leader: true,
            stuck_after: Some(std::time::Duration::from_secs(60)),
            ..Status::default()
        };
        let started = std::time::Instant::now()
            .checked_sub(std::time::Duration::from_secs(120))
            .unwrap();
        s.environments.insert(
            "dev".into(),
            EnvironmentStatus {
                synced_once: true,
                reconcile_started: Some(started),
                ..Default::default()
            },
        );
        let why = s.ready().unwrap_err().to_string();
        assert!(
            why.starts_with("reconcile stuck longer than 60s (stuckAfter): dev (for 1"),
            "{why}"
        );
        s.environments.get_mut("dev").unwrap().reconcile_started = Some(std::time::Instant::now());
        assert!(s.ready().is_ok());
    }
}
