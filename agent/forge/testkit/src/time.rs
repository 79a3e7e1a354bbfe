//! Wall-clock helpers: GitHub's `2016-07-11T22:14:10Z` timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A Unix time formatted as GitHub formats times (`2016-07-11T22:14:10Z`).
pub fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_as_github_does() {
        assert_eq!(super::rfc3339(1_468_275_250), "2016-07-11T22:14:10Z");
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
