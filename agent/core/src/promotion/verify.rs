//! The target's verification after a promotion, decided — pure. Once a revision that changed a
//! promoted digest is applied and healthy, the checks of `promotion.verify` run for its
//! `window`: a failing one rolls back at once, through the same path as a failed health gate
//! (`rollback`); one that cannot say holds the verification open (it never passes, and never
//! rolls back); the window over with every check passing ends it.

use super::gate::{CheckOutcome, CheckState};
use super::rollback::Changed;
use serde::{Deserialize, Serialize};

/// A verification under way, persisted in the target's cluster so a restart or a failover
/// keeps its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The revision that brought the promoted digests.
    pub revision: String,
    /// The revision applied before it: where a breach rolls back to.
    pub previous: String,
    pub releases: Vec<Changed>,
    /// Unix seconds: when the revision was applied in full.
    pub started: u64,
    /// Seconds the checks must hold.
    pub window: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check holds; the window is not over.
    Watching { left: u64 },
    /// Every check held for the whole window: the verification ends.
    Passed,
    /// A check that cannot say: the verification stays open (and says why).
    Held(String),
    /// A check fails: roll back, with this reason.
    Breached(String),
}

/// The verification's verdict, from the checks' outcomes now.
pub fn decide(v: &Verification, checks: &[CheckOutcome], now: u64) -> Verdict {
    if let Some(c) = checks.iter().find(|c| c.state == CheckState::Failing) {
        return Verdict::Breached(format!("metric check {} failed: {}", c.name, c.message));
    }
    if let Some(c) = checks.iter().find(|c| c.state == CheckState::Unknown) {
        return Verdict::Held(format!(
            "check {} cannot say ({}): the verification stays open, nothing is rolled back",
            c.name, c.message
        ));
    }
    let end = v.started.saturating_add(v.window);
    if now >= end {
        Verdict::Passed
    } else {
        Verdict::Watching { left: end - now }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(state: CheckState, message: &str) -> CheckOutcome {
        CheckOutcome {
            name: "errors".into(),
            state,
            message: message.into(),
        }
    }

    #[test]
    fn a_breach_rolls_back_one_that_cannot_say_holds_and_the_window_ends_it() {
        let v = Verification {
            revision: "bad".into(),
            previous: "good".into(),
            releases: Vec::new(),
            started: 1000,
            window: 300,
        };
        let passing = check(CheckState::Passing, "0.001, < 0.01");
        let failing = check(CheckState::Failing, "0.05 {instance=\"a\"}, not < 0.01");
        let unknown = check(CheckState::Unknown, "Prometheus did not answer");
        let table = [
            (vec![passing.clone()], 1000, Verdict::Watching { left: 300 }),
            (vec![passing.clone()], 1299, Verdict::Watching { left: 1 }),
            (vec![passing.clone()], 1300, Verdict::Passed),
            (vec![], 1300, Verdict::Passed),
            (
                vec![passing.clone(), failing.clone()],
                1100,
                Verdict::Breached(
                    "metric check errors failed: 0.05 {instance=\"a\"}, not < 0.01".into(),
                ),
            ),
            (
                vec![unknown.clone(), failing.clone()],
                1100,
                Verdict::Breached(
                    "metric check errors failed: 0.05 {instance=\"a\"}, not < 0.01".into(),
                ),
            ),
            (
                vec![unknown.clone()],
                5000,
                Verdict::Held("check errors cannot say (Prometheus did not answer): the verification stays open, nothing is rolled back".into()),
            ),
        ];
        for (checks, now, want) in table {
            assert_eq!(decide(&v, &checks, now), want, "{checks:?} at {now}");
        }
    }
}
