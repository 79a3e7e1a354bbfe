//! The client of auxiliary-service: GET with a connect timeout, a per-attempt timeout, retries
//! with doubling backoff on what a retry may fix (no connection, a timeout, 503 while aux is not
//! ready), and one deadline over all of it. Answers are aux's JSON objects, bounded in size.

use std::time::Duration;

use axum::http::StatusCode;
use reqwest::Url;
use serde_json::{Map, Value};

use crate::config::AuxSettings;

/// The largest answer read from aux; a parameter list of 1000 entries is far below it.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum AuxError {
    #[error("auxiliary-service could not be reached at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("auxiliary-service did not answer {url} within {after_ms} ms")]
    TimedOut { url: String, after_ms: u128 },
    #[error("auxiliary-service answered {url} with {status} that is not its JSON: {detail}")]
    BadAnswer {
        url: String,
        status: u16,
        detail: String,
    },
}

/// The HTTP client of auxiliary-service could not be built (its TLS backend did not start).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client of auxiliary-service: {0}")]
pub struct ClientBuildError(#[from] reqwest::Error);

impl AuxError {
    /// May another attempt succeed?
    fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::TimedOut { .. })
    }
}

/// What aux answered: its status and its JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxReply {
    pub status: StatusCode,
    pub body: Map<String, Value>,
}

pub struct AuxClient {
    http: reqwest::Client,
    settings: AuxSettings,
}

impl AuxClient {
    pub fn new(settings: AuxSettings) -> Result<Self, ClientBuildError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.attempt_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, settings })
    }

    /// GET `path` (starting with `/`) from aux within the deadline.
    pub async fn get(&self, path: &str) -> Result<AuxReply, AuxError> {
        let url = self.url(path);
        let deadline = self.settings.deadline;
        match tokio::time::timeout(deadline, self.attempts(&url)).await {
            Ok(result) => result,
            Err(_) => Err(AuxError::TimedOut {
                url: url.to_string(),
                after_ms: deadline.as_millis(),
            }),
        }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.settings.base_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }

    async fn attempts(&self, url: &Url) -> Result<AuxReply, AuxError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let result = self.once(url).await;
            let retry = match &result {
                Ok(reply) => reply.status == StatusCode::SERVICE_UNAVAILABLE,
                Err(err) => err.is_transient(),
            };
            if !retry || attempt >= self.settings.max_attempts {
                return result;
            }
            tracing::debug!(%url, attempt, "retrying auxiliary-service");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }

    async fn once(&self, url: &Url) -> Result<AuxReply, AuxError> {
        let transport = |err: reqwest::Error| {
            if err.is_timeout() {
                AuxError::TimedOut {
                    url: url.to_string(),
                    after_ms: self.settings.attempt_timeout.as_millis(),
                }
            } else {
                AuxError::Unreachable {
                    url: url.to_string(),
                    detail: error_chain(&err),
                }
            }
        };
        let mut response = self.http.get(url.clone()).send().await.map_err(transport)?;
        let status = response.status();
        let bad = |detail: String| AuxError::BadAnswer {
            url: url.to_string(),
            status: status.as_u16(),
            detail,
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(bad(format!("longer than {MAX_ANSWER_BYTES} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(body)) => Ok(AuxReply { status, body }),
            Ok(_) => Err(bad("not a JSON object".into())),
            Err(err) => Err(bad(err.to_string())),
        }
    }
}

/// reqwest's error and its causes (the cause says "connection refused", the error does not).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> AuxClient {
        AuxClient::new(AuxSettings {
            base_url: Url::parse(base).expect("a URL"),
            connect_timeout: Duration::from_millis(100),
            attempt_timeout: Duration::from_millis(100),
            max_attempts: 2,
            deadline: Duration::from_secs(1),
        })
        .expect("a client")
    }

    #[test]
    fn paths_are_appended_to_the_base_url() {
        assert_eq!(
            client("http://aux.ns.svc").url("/parameters/a/b").as_str(),
            "http://aux.ns.svc/parameters/a/b"
        );
        assert_eq!(
            client("http://gw/aux/").url("/s3-buckets").as_str(),
            "http://gw/aux/s3-buckets"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_after_every_attempt() {
        // A port bound then released: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let err = client(&format!("http://127.0.0.1:{port}"))
            .get("/s3-buckets")
            .await
            .expect_err("nothing listens");
        assert!(matches!(err, AuxError::Unreachable { .. }), "{err}");
    }
}
