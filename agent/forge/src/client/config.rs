//! What a caller sets: where the repository is and how to reach it ([`Config`]), how hard to
//! retry ([`RetryPolicy`]), and who hears each answer ([`Observer`]).

use std::time::Duration;

use sextant_core::backoff::Backoff;

use crate::auth::Auth;

/// What the agent's metrics hear: every answer GitHub gives, and the primary limit's headroom.
/// The crate knows nothing of Prometheus; the agent feeds
/// `sextant_forge_requests_total{operation,code}` and `sextant_forge_rate_limit_remaining`.
pub trait Observer: Send + Sync {
    /// One HTTP exchange (each retry counts). `code` is the status, 304 for a cache hit,
    /// 0 when no answer came (connection refused, timeout).
    fn on_request(&self, operation: &str, code: u16) {
        let _ = (operation, code);
    }

    /// `x-ratelimit-remaining` from an answer that carried it.
    fn on_rate_limit(&self, remaining: i64) {
        let _ = remaining;
    }
}

/// An observer that drops everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// How hard to try. The defaults suit GitHub; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Total time a request may spend waiting between attempts (backoff, Retry-After, reset).
    pub budget: Duration,
    /// First backoff after a 5xx or transport error; doubles each time.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A secondary limit without `Retry-After`: GitHub asks to wait at least a minute.
    pub secondary_default_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            budget: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(16),
            secondary_default_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The waits after a 5xx or transport error: `initial_backoff` doubling to `max_backoff`.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.initial_backoff, self.max_backoff)
    }
}

/// Where and how to reach the repository.
#[derive(Debug, Clone)]
pub struct Config {
    /// `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise Server.
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    pub auth: Auth,
    pub retry: RetryPolicy,
    /// Per-request timeout (connect and answer).
    pub timeout: Duration,
    pub user_agent: String,
    /// ETag cache entries kept (oldest dropped first).
    pub etag_cache_entries: usize,
}

impl Config {
    pub fn new(
        api_url: impl Into<String>,
        owner: impl Into<String>,
        repo: impl Into<String>,
        auth: Auth,
    ) -> Self {
        Self {
            api_url: api_url.into(),
            owner: owner.into(),
            repo: repo.into(),
            auth,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            user_agent: concat!("sextant-forge/", env!("CARGO_PKG_VERSION")).into(),
            etag_cache_entries: 512,
        }
    }
}
