//! The daemon's one reading of the wall clock, in the forms its records and `/status` use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The wall clock a loop reads its Unix seconds from: the system's, or one a table test sets
/// and moves (tokio's paused clock moves `Instant`s and sleeps, never the wall clock).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicU64>>);

impl Clock {
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock that stands at `unix` until [`Clock::advance`] moves it.
    pub fn manual(unix: u64) -> Self {
        Clock(Some(Arc::new(AtomicU64::new(unix))))
    }

    pub fn advance(&self, seconds: u64) {
        if let Some(at) = &self.0 {
            at.fetch_add(seconds, Ordering::SeqCst);
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> u64 {
        match &self.0 {
            Some(at) => at.load(Ordering::SeqCst),
            None => unix_seconds(),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds since the Unix epoch, with a fraction (metrics' timestamps).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A Unix time as RFC 3339 UTC (empty when out of range).
pub fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| k8s_openapi::jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Now, as RFC 3339 UTC.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_read_as_rfc_3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(u64::MAX), "");
        assert!(unix_seconds() > 1_700_000_000);
        let manual = Clock::manual(100);
        manual.advance(5);
        assert_eq!(manual.unix_seconds(), 105);
        assert!(Clock::system().unix_seconds() > 1_700_000_000);
    }
}
