//! Misbehaviour on demand, off by default, for the agent's metric checks to catch in tests
//! (docs/promotion.md): a digest deployed with these set serves errors, or serves slowly, while
//! its readiness probe stays green.
//!
//! - `FAULT_ERROR_PERCENT` (0–100, default 0): that share of `GET /hash/{input}` answers are
//!   500 `injected_fault`, spread evenly (at 5, every twentieth request).
//! - `FAULT_LATENCY_MS` (0–60000, default 0): each `GET /hash/{input}` answer waits that long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use service_kit::config::{millis, number, ConfigError};

#[derive(Debug, Default)]
pub struct Faults {
    percent: u64,
    latency: Duration,
    served: AtomicU64,
}

impl Faults {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Faults {
            percent: number(get, "FAULT_ERROR_PERCENT", 0, (0, 100), "percent")?,
            latency: millis(get, "FAULT_LATENCY_MS", 0, (0, 60_000))?,
            served: AtomicU64::new(0),
        })
    }

    /// How long the next answer waits.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Whether the next answer is an injected error: the n-th request fails when the count of
    /// failures due by it (`n × percent / 100`, rounded down) grows.
    pub fn fails_next(&self) -> bool {
        if self.percent == 0 {
            return false;
        }
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        (n + 1) * self.percent / 100 > n * self.percent / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::config::lookup;

    #[test]
    fn the_error_share_is_exact_and_spread_and_off_by_default() {
        for (percent, failed_of_100) in [("0", 0), ("5", 5), ("50", 50), ("100", 100)] {
            let vars = [("FAULT_ERROR_PERCENT", percent)];
            let f = Faults::from_lookup(&lookup(&vars)).unwrap();
            let fails: Vec<bool> = (0..100).map(|_| f.fails_next()).collect();
            assert_eq!(
                fails.iter().filter(|x| **x).count(),
                failed_of_100,
                "{percent}"
            );
            if percent == "5" {
                assert!(
                    fails[..19].iter().all(|x| !x) && fails[19],
                    "every twentieth"
                );
            }
        }
        let none = Faults::from_lookup(&lookup(&[])).unwrap();
        assert!(!none.fails_next());
        assert_eq!(none.latency(), Duration::ZERO);
    }

    #[test]
    fn out_of_range_settings_name_their_variable() {
        for (name, value) in [
            ("FAULT_ERROR_PERCENT", "101"),
            ("FAULT_LATENCY_MS", "60001"),
            ("FAULT_ERROR_PERCENT", "5%"),
        ] {
            let vars = [(name, value)];
            let e = Faults::from_lookup(&lookup(&vars)).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
