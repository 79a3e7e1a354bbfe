//! What to do about drift, as one pure decision over state: `next(state, policy) -> Action`.
//!
//! - `heal`: re-apply the drifted object (Git wins for the fields it sets) — unless it is being
//!   fought over: after [`Fights::MAX_HEALS`] heals of one object within [`Fights::WINDOW`], the
//!   agent stops, reports it as `fighting` with the other manager's name, and leaves it alone for
//!   [`Fights::BACKOFF`] before trying again. Two controllers that each "heal" a field must not
//!   hot-loop against each other.
//! - `report`: leave the cluster as it is.
//! - `pull-request`: report now, never heal; the pull request is the drift-PR issue's work.

use crate::environment::DriftPolicy;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// What the agent does about one drifted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Re-apply it from Git.
    Heal,
    /// Leave it; report it.
    Report,
    /// Leave it: another manager keeps changing it back. Report it as fighting with them.
    Fighting { manager: Option<String> },
}

/// The heals of each object lately, and the objects currently left alone as fought over.
#[derive(Debug, Default)]
pub struct Fights {
    heals: HashMap<String, VecDeque<Instant>>,
    fighting: HashMap<String, (Instant, Option<String>)>,
}

impl Fights {
    /// Heals of one object within [`Fights::WINDOW`] after which it counts as fought over.
    pub const MAX_HEALS: usize = 5;
    pub const WINDOW: Duration = Duration::from_secs(10 * 60);
    /// How long a fought-over object is left alone before the agent heals it again.
    pub const BACKOFF: Duration = Duration::from_secs(10 * 60);

    /// Whether an object is currently left alone, and with whom it is fought over.
    pub fn fighting(&self, object: &str, now: Instant) -> Option<&Option<String>> {
        self.fighting
            .get(object)
            .filter(|(until, _)| now < *until)
            .map(|(_, m)| m)
    }

    /// Forgets an object that is back in sync by itself (or left Git).
    pub fn settle(&mut self, object: &str) {
        self.heals.remove(object);
        self.fighting.remove(object);
    }

    fn heal(&mut self, object: &str, manager: Option<String>, now: Instant) -> Action {
        let h = self.heals.entry(object.to_string()).or_default();
        while h
            .front()
            .is_some_and(|t| now.duration_since(*t) > Self::WINDOW)
        {
            h.pop_front();
        }
        if h.len() >= Self::MAX_HEALS {
            h.clear();
            self.fighting
                .insert(object.to_string(), (now + Self::BACKOFF, manager.clone()));
            return Action::Fighting { manager };
        }
        h.push_back(now);
        Action::Heal
    }
}

/// The next action for one drifted object under `policy`; records heals in `fights`.
pub fn next(
    policy: DriftPolicy,
    object: &str,
    manager: Option<String>,
    fights: &mut Fights,
    now: Instant,
) -> Action {
    match policy {
        DriftPolicy::Report | DriftPolicy::PullRequest => Action::Report,
        DriftPolicy::Heal => match fights.fighting(object, now) {
            Some(m) => Action::Fighting { manager: m.clone() },
            None => fights.heal(object, manager, now),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_and_pull_request_never_heal() {
        let mut f = Fights::default();
        let now = Instant::now();
        for p in [DriftPolicy::Report, DriftPolicy::PullRequest] {
            assert_eq!(next(p, "o", None, &mut f, now), Action::Report);
        }
    }

    #[test]
    fn a_fight_stops_after_the_bounded_heals_and_resumes_after_the_backoff() {
        let mut f = Fights::default();
        let t0 = Instant::now();
        let hpa = Some("kube-controller-manager".to_string());
        for i in 0..Fights::MAX_HEALS {
            let now = t0 + Duration::from_millis(100 * i as u64);
            assert_eq!(
                next(DriftPolicy::Heal, "d", hpa.clone(), &mut f, now),
                Action::Heal
            );
        }
        let now = t0 + Duration::from_secs(1);
        let fighting = Action::Fighting {
            manager: hpa.clone(),
        };
        assert_eq!(
            next(DriftPolicy::Heal, "d", hpa.clone(), &mut f, now),
            fighting
        );
        assert_eq!(
            next(DriftPolicy::Heal, "d", hpa.clone(), &mut f, now),
            fighting
        );
        // Another object is unaffected.
        assert_eq!(
            next(DriftPolicy::Heal, "e", None, &mut f, now),
            Action::Heal
        );
        // After the backoff the agent tries again.
        let later = now + Fights::BACKOFF + Duration::from_secs(1);
        assert_eq!(
            next(DriftPolicy::Heal, "d", hpa, &mut f, later),
            Action::Heal
        );
    }

    #[test]
    fn heals_spread_over_more_than_the_window_are_no_fight() {
        let mut f = Fights::default();
        let t0 = Instant::now();
        for i in 0..(Fights::MAX_HEALS * 3) {
            let now = t0 + Fights::WINDOW / 2 * i as u32;
            assert_eq!(
                next(DriftPolicy::Heal, "d", None, &mut f, now),
                Action::Heal
            );
        }
    }
}
