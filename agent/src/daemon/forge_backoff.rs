//! How a forge loop waits after a failure: an answer that will not change by repeating it
//! ([`ErrorKind::Permanent`]: 401, 403 without a rate limit, 404, 422, or a write the loop made
//! and then cannot see) is backed off exponentially with the daemon's one retry schedule
//! (`Settings::retry`, 5 s doubling to 5 min by default), and `/status` says until when and why.
//! Transient answers (5xx, rate limits) keep the edge's retries and the loop's pace; a lost
//! race is re-read at once.

use crate::forge::ErrorKind;
use serde::Serialize;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// What `/status` shows while a forge loop waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForgeWait {
    /// RFC 3339: when the loop tries the forge again.
    pub until: String,
    /// The failure waited out, as the forge (or the loop) said it.
    pub reason: String,
    /// Failures in a row that led here.
    pub failures: u32,
}

#[derive(Debug)]
pub struct Backoff {
    schedule: sextant_core::backoff::Backoff,
    failures: u32,
    until: Option<Instant>,
    reason: String,
}

impl Default for Backoff {
    /// On the daemon's default schedule ([`crate::config::RETRY`]).
    fn default() -> Self {
        Backoff::new(crate::config::RETRY)
    }
}

impl Backoff {
    /// Nothing waited for yet; failures will be waited out on `schedule`.
    pub fn new(schedule: sextant_core::backoff::Backoff) -> Self {
        Backoff {
            schedule,
            failures: 0,
            until: None,
            reason: String::new(),
        }
    }

    /// Records how a pass over the forge ended (`None`: it succeeded) and returns the wait it
    /// starts, if any.
    pub fn record(&mut self, now: Instant, failed: Option<(ErrorKind, &str)>) -> Option<Duration> {
        match failed {
            None => {
                *self = Self::new(self.schedule);
                None
            }
            Some((ErrorKind::Permanent, reason)) => {
                self.failures = self.failures.saturating_add(1);
                let wait = self.schedule.delay(self.failures);
                self.until = Some(now + wait);
                self.reason = reason.to_string();
                Some(wait)
            }
            // Transient, a lost race, or not the forge's answer: the loop's own pace.
            Some(_) => {
                self.until = None;
                None
            }
        }
    }

    /// How long the loop must still leave the forge alone.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.until
            .filter(|u| *u > now)
            .map(|u| u.saturating_duration_since(now))
    }

    /// The wait as `/status` shows it, while there is one.
    pub fn status(&self, now: Instant) -> Option<ForgeWait> {
        let left = self.remaining(now)?;
        let until = k8s_openapi::jiff::Timestamp::try_from(SystemTime::now() + left)
            .map(|t| t.to_string())
            .unwrap_or_default();
        Some(ForgeWait {
            until,
            reason: self.reason.clone(),
            failures: self.failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decision takes the time as an argument, so the table walks a clock of its own
    /// (tokio's paused clock needs tokio's `test-util`, which the workspace does not build).
    #[test]
    fn permanent_answers_back_off_to_a_cap_and_transient_ones_keep_the_pace() {
        use ErrorKind::*;
        let mut b = Backoff::default();
        let mut now = Instant::now();
        // How a pass ends, and the wait it starts (seconds).
        let steps: Vec<(Option<ErrorKind>, Option<u64>)> = vec![
            (Some(Permanent), Some(5)), // 401 Bad credentials
            (Some(Permanent), Some(10)),
            (Some(Permanent), Some(20)),
            (Some(Permanent), Some(40)),
            (Some(Transient), None), // a 502 or a rate limit: the loop's own pace
            (Some(Permanent), Some(80)), // the count of permanent failures goes on
            (Some(Permanent), Some(160)),
            (Some(Permanent), Some(300)),
            (Some(Permanent), Some(300)), // capped at 5 min
            (Some(Conflict), None),
            (Some(Other), None),
            (None, None), // success: all forgotten
            (Some(Permanent), Some(5)),
        ];
        for (i, (outcome, wait)) in steps.into_iter().enumerate() {
            assert_eq!(b.remaining(now), None, "step {i}: nothing is waited for");
            let started = b.record(now, outcome.map(|k| (k, "GitHub answered 401")));
            assert_eq!(started, wait.map(Duration::from_secs), "step {i}");
            let Some(w) = wait else {
                assert_eq!(b.status(now), None, "step {i}");
                now += Duration::from_secs(1);
                continue;
            };
            now += Duration::from_secs(w - 1);
            assert_eq!(
                b.remaining(now),
                Some(Duration::from_secs(1)),
                "step {i}: still waiting a second before the end"
            );
            let shown = b.status(now).expect("the wait is shown");
            assert_eq!(shown.reason, "GitHub answered 401");
            now += Duration::from_secs(1);
        }
    }
}
