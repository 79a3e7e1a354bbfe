//! The HTTP edge: one `send` that every operation goes through. It adds the credentials,
//! serializes writes, answers repeated GETs from an ETag cache (a 304 costs no rate limit on
//! GitHub), waits out rate limits and retries 5xx within a bounded budget, reports each
//! answer to the `Observer`, and turns failures into typed `Error`s.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, ETAG, IF_NONE_MATCH, USER_AGENT,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use sextant_core::backoff::Backoff;

use crate::auth::{parse_rfc3339_utc, AppAuth, Auth, FileToken, InstallationToken, Secret};
use crate::error::{Error, ErrorBody, Result};
use crate::limits::{limit_of, rate_limited, retry_after, Limit};

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

/// A successful answer (a 304 comes back with the cached body).
pub(crate) struct Answer {
    pub body: Vec<u8>,
    pub headers: HeaderMap,
}

impl Answer {
    pub(crate) fn json<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
    ) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            operation,
            path: path.to_string(),
            message: e.to_string(),
        })
    }
}

enum Credentials {
    Token(Secret),
    File(std::path::PathBuf, tokio::sync::Mutex<FileToken>),
    App(AppAuth, tokio::sync::Mutex<Option<InstallationToken>>),
}

#[derive(Default)]
struct EtagCache {
    entries: HashMap<String, (HeaderValue, Vec<u8>)>,
    order: VecDeque<String>,
}

impl EtagCache {
    fn put(&mut self, key: String, etag: HeaderValue, body: Vec<u8>, cap: usize) {
        if cap == 0 {
            return;
        }
        if self.entries.insert(key.clone(), (etag, body)).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > cap {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}

pub(crate) struct Transport {
    http: reqwest::Client,
    pub(crate) api_url: String,
    /// The API's host and port, as errors name it.
    host: String,
    pub(crate) owner: String,
    pub(crate) repo: String,
    creds: Credentials,
    retry: RetryPolicy,
    observer: Arc<dyn Observer>,
    writes: tokio::sync::Mutex<()>,
    etags: Mutex<EtagCache>,
    etag_cap: usize,
    limit: Mutex<Limit>,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Transport {
    pub(crate) fn new(config: Config, observer: Arc<dyn Observer>) -> Result<Self> {
        let api_url = config.api_url.trim_end_matches('/').to_string();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(Error::Config(format!(
                "the API URL {api_url:?} is not http(s); use https://api.github.com or https://HOST/api/v3"
            )));
        }
        let host = reqwest::Url::parse(&api_url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_string();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
            .ok_or_else(|| Error::Config(format!("the API URL {api_url:?} has no host")))?;
        if config.owner.is_empty()
            || config.repo.is_empty()
            || config.owner.contains('/')
            || config.repo.contains('/')
        {
            return Err(Error::Config(format!(
                "owner {:?} and repo {:?} must be single non-empty path segments",
                config.owner, config.repo
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // GitHub's API answers redirects only for renamed repositories; follow them.
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| {
                Error::Config(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;
        let creds = match config.auth {
            Auth::Token(t) => Credentials::Token(t),
            Auth::TokenFile(p) => {
                Credentials::File(p, tokio::sync::Mutex::new(FileToken::default()))
            }
            Auth::App(a) => Credentials::App(a, tokio::sync::Mutex::new(None)),
        };
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| Error::Config(format!("bad user agent {:?}", config.user_agent)))?;
        Ok(Self {
            http,
            api_url,
            host,
            owner: config.owner,
            repo: config.repo,
            creds,
            retry: config.retry,
            observer,
            writes: tokio::sync::Mutex::new(()),
            etags: Mutex::new(EtagCache::default()),
            etag_cap: config.etag_cache_entries,
            limit: Mutex::new(Limit::default()),
            user_agent,
        })
    }

    pub(crate) fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.repo)
    }

    /// The `Authorization` value. `refresh` forces a new installation token / a re-read.
    async fn authorization(&self, refresh: bool) -> Result<HeaderValue> {
        let token = match &self.creds {
            Credentials::Token(t) => t.clone(),
            Credentials::File(path, cache) => cache.lock().await.current(path, refresh)?,
            Credentials::App(app, cache) => {
                let mut cached = cache.lock().await;
                let now = SystemTime::now();
                match cached.as_ref() {
                    Some(t) if !refresh && t.fresh(now, app.refresh_before) => t.token.clone(),
                    _ => {
                        let minted = self.mint_installation_token(app).await?;
                        let token = minted.token.clone();
                        *cached = Some(minted);
                        token
                    }
                }
            }
        };
        bearer(&token)
    }

    async fn mint_installation_token(&self, app: &AppAuth) -> Result<InstallationToken> {
        #[derive(serde::Deserialize)]
        struct Minted {
            token: String,
            expires_at: String,
        }
        const OP: &str = "create_installation_token";
        let path = format!("/app/installations/{}/access_tokens", app.installation_id);
        let jwt = bearer(&app.jwt(SystemTime::now())?)?;
        // Boxed: `exchange` asks for credentials, which may mint a token through `exchange`.
        let answer = Box::pin(self.exchange(OP, Method::POST, &path, &[], None, Some(jwt))).await?;
        let minted: Minted = answer.json(OP, &path)?;
        let expires_at = parse_rfc3339_utc(&minted.expires_at).ok_or_else(|| Error::Decode {
            operation: OP,
            path: path.clone(),
            message: format!("expires_at {:?} is not an RFC 3339 time", minted.expires_at),
        })?;
        tracing::debug!(
            installation = app.installation_id,
            "minted a GitHub App installation token"
        );
        Ok(InstallationToken {
            token: Secret::new(minted.token),
            expires_at,
        })
    }

    /// One API call: writes hold the write lock for all their attempts.
    pub(crate) async fn send(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer> {
        let _serial = if method == Method::GET {
            None
        } else {
            Some(self.writes.lock().await)
        };
        self.exchange(operation, method, path, query, body, None)
            .await
    }

    async fn exchange(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        fixed_auth: Option<HeaderValue>,
    ) -> Result<Answer> {
        let started = Instant::now();
        let policy = &self.retry;
        let cache_key = (method == Method::GET).then(|| cache_key(path, query));
        // 5xx and transport errors so far: the next such wait is `policy.backoff().delay(n + 1)`.
        let mut backed_off = 0;
        let mut refreshed = false;
        let mut attempt = 0;
        let fits = |wait: Duration| started.elapsed() + wait <= policy.budget;
        loop {
            attempt += 1;
            let backoff = policy.backoff().delay(backed_off + 1);
            self.wait_for_primary_limit(operation, path, &fits).await?;
            let auth = match &fixed_auth {
                Some(h) => h.clone(),
                None => self.authorization(refreshed).await?,
            };
            let cached = cache_key
                .as_ref()
                .and_then(|k| lock(&self.etags).entries.get(k).cloned());
            let etag = cached.as_ref().map(|(etag, _)| etag.clone());
            let req = self.request(&method, path, query, body, auth, etag);
            let response = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let (message, resendable) =
                        self.unanswered(operation, &method, path, attempt, e);
                    if resendable && attempt < policy.max_attempts && fits(backoff) {
                        tokio::time::sleep(backoff).await;
                        backed_off += 1;
                        continue;
                    }
                    return Err(self.transport_error(operation, path, attempt, message));
                }
            };
            let (status, headers, limit, bytes) =
                self.receive(operation, path, attempt, response).await?;
            tracing::debug!(operation, %method, path, status = status.as_u16(), attempt, "forge request");
            if let Some(answer) = self.answer(status, &headers, &bytes, &cached, &cache_key) {
                return Ok(answer);
            }
            let err = ErrorBody::parse(&bytes);
            // Rate limits: wait if GitHub says how long and it fits the budget.
            if let Some(r) =
                rate_limited(status, &headers, limit, &err, policy.secondary_default_wait)
            {
                if attempt < policy.max_attempts && fits(r.wait) {
                    tracing::warn!(
                        operation,
                        path,
                        wait_ms = r.wait.as_millis() as u64,
                        secondary = r.secondary,
                        "GitHub rate limit; waiting"
                    );
                    tokio::time::sleep(r.wait).await;
                    continue;
                }
                return Err(r.error(operation, path, limit));
            }
            if status.is_server_error() {
                let wait = retry_after(&headers).unwrap_or(backoff);
                if attempt < policy.max_attempts && fits(wait) {
                    tracing::warn!(
                        operation,
                        path,
                        status = status.as_u16(),
                        attempt,
                        "GitHub server error; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    backed_off += 1;
                    continue;
                }
                return Err(Error::Server {
                    operation,
                    path: path.to_string(),
                    status: status.as_u16(),
                    attempts: attempt,
                    message: err.message,
                });
            }
            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && fixed_auth.is_none()
                && self.can_refresh()
            {
                // A revoked installation token or a rotated token file: fetch the credential anew once.
                refreshed = true;
                continue;
            }
            return Err(self.classify(operation, path, status, err));
        }
    }

    /// A request that got no answer, observed and logged: the error's whole chain (the
    /// outermost says only "error sending request"; the URL is left out, no header is in it),
    /// and whether it may be sent again: a POST that may have reached GitHub is not (it could
    /// open a second issue or comment), one that never connected is.
    fn unanswered(
        &self,
        operation: &'static str,
        method: &Method,
        path: &str,
        attempt: u32,
        e: reqwest::Error,
    ) -> (String, bool) {
        self.observer.on_request(operation, 0);
        let resendable = method != Method::POST || e.is_connect();
        let message = crate::error::causes(&e.without_url());
        tracing::warn!(operation, %method, path, attempt, error = %message, "forge request failed");
        (message, resendable)
    }

    /// The answer to give for a success (its ETag kept for the next GET of the same path) or
    /// for a 304 to a cached GET; `None` for an error answer.
    fn answer(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        bytes: &[u8],
        cached: &Option<(HeaderValue, Vec<u8>)>,
        cache_key: &Option<String>,
    ) -> Option<Answer> {
        if status == StatusCode::NOT_MODIFIED {
            if let Some((_, cached_body)) = cached {
                return Some(Answer {
                    body: cached_body.clone(),
                    headers: headers.clone(),
                });
            }
        }
        if !status.is_success() {
            return None;
        }
        if let (Some(key), Some(etag)) = (cache_key, headers.get(ETAG)) {
            let mut etags = lock(&self.etags);
            etags.put(key.clone(), etag.clone(), bytes.to_vec(), self.etag_cap);
        }
        Some(Answer {
            body: bytes.to_vec(),
            headers: headers.clone(),
        })
    }

    /// One attempt's request: GitHub's headers, the credential, the query and body, and the
    /// ETag of a cached answer to the same GET.
    fn request(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        auth: HeaderValue,
        etag: Option<HeaderValue>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.api_url))
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(USER_AGENT, self.user_agent.clone())
            .header(AUTHORIZATION, auth);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(etag) = etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        req
    }

    /// An answer, observed (its status, the primary limit's headroom) and read to its end.
    async fn receive(
        &self,
        operation: &'static str,
        path: &str,
        attempt: u32,
        response: reqwest::Response,
    ) -> Result<(StatusCode, HeaderMap, Limit, Vec<u8>)> {
        let status = response.status();
        let headers = response.headers().clone();
        self.observer.on_request(operation, status.as_u16());
        let limit = limit_of(&headers);
        if let Some(r) = limit.remaining {
            self.observer.on_rate_limit(r);
            *lock(&self.limit) = limit;
        }
        let bytes = response.bytes().await.map_err(|e| {
            let message = crate::error::causes(&e.without_url());
            self.transport_error(operation, path, attempt, message)
        })?;
        Ok((status, headers, limit, bytes.to_vec()))
    }

    fn transport_error(
        &self,
        operation: &'static str,
        path: &str,
        attempts: u32,
        message: String,
    ) -> Error {
        Error::Transport {
            operation,
            path: path.to_string(),
            host: self.host.clone(),
            attempts,
            message,
        }
    }

    fn can_refresh(&self) -> bool {
        !matches!(self.creds, Credentials::Token(_))
    }

    async fn wait_for_primary_limit(
        &self,
        operation: &'static str,
        path: &str,
        fits: &impl Fn(Duration) -> bool,
    ) -> Result<()> {
        let limit = *lock(&self.limit);
        let (Some(0), Some(reset)) = (limit.remaining, limit.reset) else {
            return Ok(());
        };
        let Ok(wait) = reset.duration_since(SystemTime::now()) else {
            return Ok(());
        };
        let wait = wait + Duration::from_secs(1);
        if !fits(wait) {
            return Err(Error::RateLimited {
                operation,
                path: path.to_string(),
                secondary: false,
                reset: Some(reset),
                retry_after: None,
            });
        }
        tracing::warn!(
            operation,
            path,
            wait_ms = wait.as_millis() as u64,
            "GitHub primary rate limit spent; waiting for its reset"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn classify(
        &self,
        operation: &'static str,
        path: &str,
        status: StatusCode,
        err: ErrorBody,
    ) -> Error {
        let path = path.to_string();
        // Classic branch protection ("Protected branch update failed", "Cannot delete this protected
        // branch") and rulesets ("Repository rule violations found").
        let protected = err.mentions("protected branch")
            || err.mentions("protected ref")
            || err.mentions("repository rule violation");
        let message = err.message;
        match status.as_u16() {
            401 => Error::Unauthorized {
                operation,
                path,
                message,
            },
            403 | 422 if protected => Error::ProtectedBranch {
                operation,
                path,
                message,
            },
            403 => Error::Forbidden {
                operation,
                path,
                message,
            },
            404 => Error::NotFound {
                operation,
                path,
                repository: format!("{}/{}", self.owner, self.repo),
                message,
            },
            409 => Error::Conflict {
                operation,
                path,
                message,
            },
            422 => Error::Validation {
                operation,
                path,
                message,
                errors: err.errors,
            },
            s => Error::Unexpected {
                operation,
                path,
                status: s,
                message,
            },
        }
    }
}

fn bearer(token: &Secret) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        Error::Credentials("the token holds characters a header cannot carry".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn cache_key(path: &str, query: &[(&str, String)]) -> String {
    let mut key = path.to_string();
    for (i, (k, v)) in query.iter().enumerate() {
        key.push(if i == 0 { '?' } else { '&' });
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_cache_drops_its_oldest_entry() {
        let mut c = EtagCache::default();
        for i in 0..3 {
            c.put(format!("k{i}"), HeaderValue::from_static("e"), vec![], 2);
        }
        assert!(!c.entries.contains_key("k0"));
        assert!(c.entries.contains_key("k2"));
    }
}
