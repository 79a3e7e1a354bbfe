//! The HTTP edge: one `send` that every operation goes through. It adds the credentials,
//! serializes writes, answers repeated GETs from an ETag cache (a 304 costs no rate limit on
//! GitHub), waits out rate limits and retries 5xx within a bounded budget, reports each
//! answer to the `Observer`, and turns failures into typed `Error`s. What a caller sets is in
//! `config`, the credential each request carries in `credentials`, a success and the ETag cache
//! in `answer`, and how an error answer reads in `classify`.

mod answer;
mod classify;
mod config;
mod credentials;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, IF_NONE_MATCH, USER_AGENT};
use reqwest::{Method, StatusCode};

use crate::error::{Error, ErrorBody, Result};
use crate::limits::{limit_of, rate_limited, retry_after, Limit};
pub(crate) use answer::Answer;
use answer::{cache_key, EtagCache};
pub use config::{Config, NoObserver, Observer, RetryPolicy};
use credentials::Credentials;

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
        let creds = Credentials::from(config.auth);
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
}
