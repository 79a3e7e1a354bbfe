//! Automatic rollback in the target, decided — pure. When a revision that changed a promoted
//! digest fails its health gate, the last good revision's rendering is applied again at once,
//! without waiting for Git or for any gate or soak; then Git is put right by a revert.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One release whose promoted digest the bad revision changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub release: String,
    pub bad: String,
    /// The digest of the last good revision.
    pub previous: String,
}

/// A rollback, persisted in the target's cluster so a restart or a failover finishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollback {
    /// The revision that failed; it is not applied again while Git stays on it.
    pub from: String,
    /// The last good revision, whose rendering is applied.
    pub to: String,
    pub releases: Vec<Changed>,
    pub reason: String,
    /// What failed: the health gate, or a check of `promotion.verify`.
    #[serde(default)]
    pub cause: Cause,
    /// RFC 3339.
    pub at: String,
    /// The good rendering was applied in full.
    #[serde(default)]
    pub rolled_back: bool,
    /// The revert pull request's URL, or the revert commit, once made.
    #[serde(default)]
    pub reverted: Option<String>,
    /// Why the last attempt at the revert failed, while it is pending (the forge down, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_error: Option<String>,
    /// When the pending revert is tried again (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_retry_at: Option<String>,
}

/// Why a rollback happened; the `reason` label of `sextant_rollbacks_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A degraded object, or readiness not reached in time.
    #[default]
    Health,
    /// A check of `promotion.verify` failed during its window.
    Metric,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Health => "health",
            Cause::Metric => "metric",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    RollBack(Vec<Changed>),
    /// No rollback, and why (for the log).
    Stay(&'static str),
}

/// Whether a failed sync of `revision` rolls back to `good`: only a health-gate failure (a
/// degraded object, or readiness not reached in time) of a revision that changed a promoted
/// digest, with a different good revision to go back to.
pub fn decide(
    unhealthy: bool,
    revision: &str,
    digests: &BTreeMap<String, String>,
    good: Option<(&str, &BTreeMap<String, String>)>,
) -> Decision {
    if !unhealthy {
        return Decision::Stay("the sync failed, but not at a health gate");
    }
    let Some((good_revision, good_digests)) = good else {
        return Decision::Stay("no good revision to go back to");
    };
    if good_revision == revision {
        return Decision::Stay("the failing revision is the last good one");
    }
    let changed: Vec<Changed> = digests
        .iter()
        .filter_map(|(release, bad)| {
            let previous = good_digests.get(release)?;
            (previous != bad).then(|| Changed {
                release: release.clone(),
                bad: bad.clone(),
                previous: previous.clone(),
            })
        })
        .collect();
    if changed.is_empty() {
        Decision::Stay("the revision changed no promoted digest")
    } else {
        Decision::RollBack(changed)
    }
}

/// What a reconcile of `revision` does about the environment's rollback record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// No rollback from this revision: it is reconciled as any other.
    Reconcile,
    /// Rolled back from it, and the good rendering is what this agent applied: the failed
    /// revision is not applied again while Git stays on it.
    Hold,
    /// Rolled back from it, but the good rendering is not (or not known to be) applied here:
    /// a restart or a failover since the rollback began. It is applied again, to finish.
    Finish,
}

/// The decision for a reconcile of `revision`, given the record and the revision this agent
/// has applied (in memory) since it started.
pub fn resume(record: Option<&Rollback>, revision: &str, applied: Option<&str>) -> Resume {
    match record {
        Some(r) if r.from == revision => {
            if r.rolled_back && applied == Some(r.to.as_str()) {
                Resume::Hold
            } else {
                Resume::Finish
            }
        }
        _ => Resume::Reconcile,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconcile_holds_a_finished_rollback_finishes_a_begun_one_and_passes_any_other() {
        let record = |rolled_back: bool| Rollback {
            from: "bad".into(),
            to: "good".into(),
            releases: Vec::new(),
            reason: "hash-service: degraded".into(),
            cause: Cause::Health,
            at: "2026-12-07T00:00:00Z".into(),
            rolled_back,
            reverted: None,
            revert_error: None,
            revert_retry_at: None,
        };
        let (done, begun) = (record(true), record(false));
        // (record, revision Git says, revision applied here, decision)
        let table = [
            (None, "bad", Some("good"), Resume::Reconcile),
            (Some(&done), "next", Some("good"), Resume::Reconcile),
            (Some(&done), "bad", Some("good"), Resume::Hold),
            // After a restart: nothing applied in memory yet.
            (Some(&done), "bad", None, Resume::Finish),
            (Some(&done), "bad", Some("bad"), Resume::Finish),
            // Recorded before the good rendering was applied: finish it.
            (Some(&begun), "bad", Some("good"), Resume::Finish),
            (Some(&begun), "bad", None, Resume::Finish),
        ];
        for (r, revision, applied, want) in table {
            assert_eq!(
                resume(r, revision, applied),
                want,
                "{:?} at {revision}, {applied:?} applied",
                r.map(|r| r.rolled_back)
            );
        }
    }

    fn d(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn only_an_unhealthy_revision_that_changed_a_promoted_digest_rolls_back() {
        let good = d(&[("hash-service", "sha256:good"), ("other", "sha256:o")]);
        let bad = d(&[("hash-service", "sha256:bad"), ("other", "sha256:o")]);
        assert_eq!(
            decide(true, "r2", &bad, Some(("r1", &good))),
            Decision::RollBack(vec![Changed {
                release: "hash-service".into(),
                bad: "sha256:bad".into(),
                previous: "sha256:good".into(),
            }])
        );
        assert!(matches!(
            decide(false, "r2", &bad, Some(("r1", &good))),
            Decision::Stay(_)
        ));
        assert!(matches!(
            decide(true, "r2", &good, Some(("r1", &good))),
            Decision::Stay(_)
        ));
        assert!(matches!(decide(true, "r2", &bad, None), Decision::Stay(_)));
        assert!(matches!(
            decide(true, "r1", &bad, Some(("r1", &good))),
            Decision::Stay(_)
        ));
        // A release new in the bad revision has nothing to go back to.
        let added = d(&[("new", "sha256:n")]);
        assert!(matches!(
            decide(true, "r2", &added, Some(("r1", &good))),
            Decision::Stay(_)
        ));
    }
}
