//! GitHub's rate limits as its answers tell them: the primary limit's reading
//! (`x-ratelimit-remaining`, `x-ratelimit-reset`), `Retry-After`, and whether an error answer is
//! a rate limit and how long to wait before asking again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

use crate::error::{Error, ErrorBody};

/// The last primary-limit reading, so a request made while the limit is spent waits (or fails)
/// before it is sent.
#[derive(Default, Clone, Copy)]
pub(crate) struct Limit {
    pub remaining: Option<i64>,
    pub reset: Option<SystemTime>,
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = header_str(h, RETRY_AFTER.as_str())?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

pub(crate) fn limit_of(h: &HeaderMap) -> Limit {
    Limit {
        remaining: header_str(h, "x-ratelimit-remaining").and_then(|v| v.parse().ok()),
        reset: header_str(h, "x-ratelimit-reset")
            .and_then(|v| v.parse::<u64>().ok())
            .map(|s| UNIX_EPOCH + Duration::from_secs(s)),
    }
}

/// An error answer that is a rate limit.
pub(crate) struct RateLimited {
    /// The answer was a 429.
    pub too_many: bool,
    /// GitHub named its secondary limit.
    pub secondary: bool,
    /// The primary limit is spent (a 403 with none remaining, or GitHub's message says so).
    pub primary: bool,
    /// What `Retry-After` asked for.
    pub asked: Option<Duration>,
    /// How long to wait: `Retry-After`, else until the spent limit resets, else `default_wait`.
    pub wait: Duration,
}

impl RateLimited {
    /// The error once waiting no longer fits: a 429 that does not name the primary limit
    /// counts as the secondary one.
    pub(crate) fn error(&self, operation: &'static str, path: &str, limit: Limit) -> Error {
        Error::RateLimited {
            operation,
            path: path.to_string(),
            secondary: self.secondary || (self.too_many && !self.primary),
            reset: limit.reset,
            retry_after: self.asked,
        }
    }
}

/// Whether an error answer is a rate limit (a 429, a spent primary limit, or a message naming
/// one), and how long to wait.
pub(crate) fn rate_limited(
    status: StatusCode,
    headers: &HeaderMap,
    limit: Limit,
    err: &ErrorBody,
    default_wait: Duration,
) -> Option<RateLimited> {
    let secondary = err.mentions("secondary rate limit");
    let primary = status == StatusCode::FORBIDDEN && limit.remaining == Some(0)
        || err.mentions("api rate limit exceeded");
    if !(status == StatusCode::TOO_MANY_REQUESTS || secondary || primary) {
        return None;
    }
    let asked = retry_after(headers);
    let wait = asked
        .or_else(|| {
            limit.reset.filter(|_| limit.remaining == Some(0)).map(|r| {
                r.duration_since(SystemTime::now()).unwrap_or_default() + Duration::from_secs(1)
            })
        })
        .unwrap_or(default_wait);
    Some(RateLimited {
        too_many: status == StatusCode::TOO_MANY_REQUESTS,
        secondary,
        primary,
        asked,
        wait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    }
}
