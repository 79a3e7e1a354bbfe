//! The one exponential backoff schedule: the wait after each failure in a row doubles from a base
//! up to a cap. Every retry in the agent (reconcile, forge, cluster, registry) reads its waits here;
//! each keeps its own numbers.

use std::time::Duration;

/// Waits that double from `base` after each failure in a row, never above `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// A schedule starting at `base` and doubling up to `cap`.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap }
    }

    /// A schedule with no cap of its own: for a caller whose attempt count already bounds it.
    pub const fn uncapped(base: Duration) -> Self {
        Backoff::new(base, Duration::MAX)
    }

    /// The wait after the `attempt`-th failure in a row (1 for the first; 0 counts as 1):
    /// `base × 2^(attempt − 1)`, at most `cap`, never overflowing.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << doublings).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_base_to_the_cap_and_never_overflow() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        // (schedule, attempt, wait)
        let table = [
            (Backoff::new(s(5), s(300)), 0, s(5)),
            (Backoff::new(s(5), s(300)), 1, s(5)),
            (Backoff::new(s(5), s(300)), 2, s(10)),
            (Backoff::new(s(5), s(300)), 6, s(160)),
            (Backoff::new(s(5), s(300)), 7, s(300)),
            (Backoff::new(s(5), s(300)), u32::MAX, s(300)),
            (Backoff::new(ms(200), s(5)), 5, ms(3200)),
            (Backoff::new(ms(200), s(5)), 6, s(5)),
            (Backoff::new(ms(500), s(16)), 4, s(4)),
            (Backoff::uncapped(ms(200)), 2, ms(400)),
            (Backoff::uncapped(ms(200)), 3, ms(800)),
            (Backoff::uncapped(s(u64::MAX / 4)), 40, Duration::MAX),
        ];
        for (backoff, attempt, wait) in table {
            assert_eq!(
                backoff.delay(attempt),
                wait,
                "{backoff:?} attempt {attempt}"
            );
        }
    }
}
