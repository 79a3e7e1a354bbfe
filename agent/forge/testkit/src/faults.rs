//! Fault injection and the request log: tests choose requests to fail or slow down, and read
//! back every request served, in order (method, path, query, JSON body, status, auth kind).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a request authenticated with (the log never holds the credential itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    None,
    /// The configured personal token.
    Token,
    /// A GitHub App JWT.
    Jwt,
    /// An installation token the fake minted.
    Installation,
    /// Something the fake does not accept.
    Invalid,
}

/// One request served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub seq: u64,
    pub method: String,
    /// Without the `/api/v3` prefix of an Enterprise-style base URL.
    pub path: String,
    pub query: String,
    pub auth: AuthKind,
    pub if_none_match: bool,
    pub status: u16,
    pub body: Option<serde_json::Value>,
    /// The JSON the fake answered with (`None` for 204/304).
    pub response: Option<serde_json::Value>,
    /// The raw `Authorization` header and body, kept for leak checks only (`contains_secret`).
    #[serde(skip)]
    pub(crate) raw: String,
}

impl RequestRecord {
    /// Whether `needle` appears anywhere in what the client sent except the Authorization
    /// header: path, query or body.
    pub fn leaks(&self, needle: &str) -> bool {
        self.path.contains(needle) || self.query.contains(needle) || self.raw.contains(needle)
    }
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// `GET`, `POST`, …; `None` matches any.
    pub method: Option<String>,
    /// A substring of the path (`/git/refs`, `/pulls`); empty matches any.
    pub path_contains: String,
}

impl Match {
    pub fn path(p: &str) -> Self {
        Self {
            method: None,
            path_contains: p.into(),
        }
    }

    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_ascii_uppercase());
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && path.contains(&self.path_contains)
    }
}

/// What a fault does instead of serving the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer `code` with GitHub's `{"message", "documentation_url"}` (and `errors` for 422).
    Status { code: u16, message: String },
    /// 403 "You have exceeded a secondary rate limit" with `Retry-After`.
    SecondaryRateLimit { retry_after_seconds: u64 },
    /// 429 with `Retry-After`.
    TooManyRequests { retry_after_seconds: u64 },
    /// Hold the request this long, then serve it.
    Delay(Duration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub matching: Match,
    pub action: Action,
    /// Fire for this many matching requests (`None`: until cleared).
    pub times: Option<u32>,
}

impl Fault {
    pub fn new(matching: Match, action: Action) -> Self {
        Self {
            matching,
            action,
            times: None,
        }
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub fn status(matching: Match, code: u16, message: &str) -> Self {
        Self::new(
            matching,
            Action::Status {
                code,
                message: message.into(),
            },
        )
    }

    /// 500, 502, 503 …
    pub fn server_error(matching: Match, code: u16) -> Self {
        Self::status(matching, code, "Server Error")
    }

    pub fn unauthorized(matching: Match) -> Self {
        Self::status(matching, 401, "Bad credentials")
    }

    pub fn conflict(matching: Match) -> Self {
        Self::status(matching, 409, "Git Repository is empty.")
    }

    pub fn validation(matching: Match, message: &str) -> Self {
        Self::status(matching, 422, message)
    }

    pub fn secondary_rate_limit(matching: Match, retry_after: Duration) -> Self {
        Self::new(
            matching,
            Action::SecondaryRateLimit {
                retry_after_seconds: retry_after.as_secs(),
            },
        )
    }

    pub fn too_many_requests(matching: Match, retry_after: Duration) -> Self {
        Self::new(
            matching,
            Action::TooManyRequests {
                retry_after_seconds: retry_after.as_secs(),
            },
        )
    }

    pub fn delay(matching: Match, by: Duration) -> Self {
        Self::new(matching, Action::Delay(by))
    }
}

impl test_serving::faults::Rule for Fault {
    type Action = Action;
    fn uses(&mut self) -> &mut Option<u32> {
        &mut self.times
    }
    fn action(&self) -> &Action {
        &self.action
    }
}

/// The active faults; for a request, the first matching one answers instead of the fake.
pub(crate) type Faults = test_serving::faults::Rules<Fault>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_fire_that_many_times() {
        let mut faults = Faults::default();
        faults.add(Fault::server_error(Match::path("/pulls").method("post"), 502).times(2));
        let mut fire =
            |method: &str| faults.fire_first(|f| f.matching.matches(method, "/repos/o/r/pulls"));
        assert!(fire("GET").is_none());
        assert!(fire("POST").is_some());
        assert!(fire("POST").is_some());
        assert!(fire("POST").is_none());
    }
}
