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

#[cfg(test)]
mod tests {
    use super::*;

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
