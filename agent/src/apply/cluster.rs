//! The edge to the Kubernetes API (kube-rs): resolve kinds, get, server-side apply, delete, list.
//! Decisions are made elsewhere.
//!
//! **One retry policy, this one.** kube-client's own retry layer is turned off (it retries
//! 429/503/504 up to 15 times with backoff up to 1000 s, hidden under any retry of ours). Each
//! request gets [`RetryPolicy::attempts`] attempts, each bounded by
//! [`RetryPolicy::attempt_timeout`], with backoff doubling from `base` to `cap`, all inside an
//! overall [`RetryPolicy::budget`]; a `Retry-After` is honoured when it fits in what is left of
//! the budget. A failure names the object, the server, the status and the attempts.

use crate::object::{ObjectRef, MANAGER};
use http_body_util::BodyExt as _;
use kube::api::{DeleteParams, DynamicObject, GetParams, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use kube::Client;
use serde_json::Value;
use sextant_core::backoff::Backoff;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use sextant_core::ports::cluster::{Cluster, ClusterError, Event, Served};

/// How calls are retried: `attempts` in all, each cut at `attempt_timeout`, backoff doubling
/// from `base` up to `cap`, and never past `budget` from the first try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    pub attempt_timeout: Duration,
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, 200 ms doubling to 5 s (waits of 0.2 + 0.4 + 0.8 + 1.6 + 3.2 s), each attempt
    /// at most 20 s, and 60 s in all.
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(20),
            budget: Duration::from_secs(60),
        }
    }
}

/// The last failed attempt of a call the retry policy gave up on, and what happened in words.
#[derive(Debug)]
struct GaveUp {
    failure: Failure,
    text: String,
}

impl GaveUp {
    fn error(self, object: String, verb: &'static str) -> ClusterError {
        ClusterError::Api {
            object,
            verb,
            code: self.failure.code(),
            transient: self.failure.transient().is_some(),
            message: self.text,
        }
    }
}

/// One failed attempt, described for a human and classified for the retry decision.
#[derive(Debug, Clone)]
enum Failure {
    /// The server answered with an error status.
    Status {
        code: u16,
        reason: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// No answer: the connection failed or was cut (the text says how).
    Transport(String),
    /// No answer within the attempt's time.
    TimedOut(Duration),
    /// Anything else (a body that does not decode, a request that cannot be built).
    Other(String),
}

impl Failure {
    fn code(&self) -> Option<u16> {
        match self {
            Failure::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether another attempt may help, and the least wait before it.
    fn transient(&self) -> Option<Duration> {
        match self {
            Failure::Status {
                code, retry_after, ..
            } if *code == 429 => Some(retry_after.unwrap_or(Duration::from_secs(1))),
            // Server-side apply's type check answers 500 for a bad object (kubernetes#122480):
            // the same object fails the same way every time.
            Failure::Status { message, .. }
                if message.starts_with("failed to create typed patch object") =>
            {
                None
            }
            Failure::Status {
                code, retry_after, ..
            } if *code >= 500 => Some(retry_after.unwrap_or(Duration::ZERO)),
            Failure::Status { .. } | Failure::Other(_) => None,
            Failure::Transport(_) | Failure::TimedOut(_) => Some(Duration::ZERO),
        }
    }

    fn describe(&self, server: &str) -> String {
        match self {
            Failure::Status {
                code,
                reason,
                message,
                ..
            } => {
                let reason = if reason.is_empty() {
                    String::new()
                } else {
                    format!(" {reason}")
                };
                format!("HTTP {code}{reason}: {message}")
            }
            Failure::Transport(how) => format!("cannot reach the API server at {server}: {how}"),
            Failure::TimedOut(after) => {
                format!("the API server at {server} did not answer within {after:?}")
            }
            Failure::Other(m) => m.clone(),
        }
    }
}

/// What a kube error says, with the cause of a connection failure spelled out (kube's own text
/// is "client error (Connect)").
fn from_kube(e: &kube::Error) -> Failure {
    match e {
        kube::Error::Api(s) => Failure::Status {
            code: s.code,
            reason: s.reason.clone(),
            message: s.message.clone(),
            retry_after: s
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s))),
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            Failure::Transport(cause(e))
        }
        e => Failure::Other(e.to_string()),
    }
}

/// The innermost useful cause of an error chain: "Connection refused (os error 111)".
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() {
            deepest = text;
        }
        source = s.source();
    }
    deepest
}

pub struct KubeCluster {
    client: Client,
    server: String,
    retry: RetryPolicy,
    kinds: Mutex<HashMap<GroupVersionKind, (ApiResource, bool)>>,
}

/// A client for `config` with kube-client's own retries off (this module's policy is the only
/// one) and a bounded connect; reads are bounded per attempt by [`RetryPolicy`], so that
/// long-lived watches are not cut.
/// Sends `User-Agent: sextant/<version> (<identity>)`, so that the API server's audit log (and
/// the test server's request log) tells replicas apart.
pub fn identify(config: &mut kube::Config, identity: &str) {
    let agent = format!("sextant/{} ({identity})", env!("CARGO_PKG_VERSION"));
    if let Ok(value) = ::http::HeaderValue::from_str(&agent) {
        config.headers.push((::http::header::USER_AGENT, value));
    }
}

pub fn client(mut config: kube::Config) -> Result<Client, kube::Error> {
    config.default_retry = false;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = None;
    config.write_timeout = Some(Duration::from_secs(30));
    Client::try_from(config)
}

impl KubeCluster {
    pub fn new(client: Client) -> Self {
        KubeCluster {
            client,
            server: "the configured address".into(),
            retry: RetryPolicy::default(),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// Connects to the cluster of `config`, remembering its address for error messages.
    pub fn connect(config: kube::Config) -> Result<Self, kube::Error> {
        let server = config.cluster_url.to_string();
        Ok(KubeCluster::new(client(config)?).with_server(server.trim_end_matches('/')))
    }

    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = server.into();
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `call` under the retry policy; on failure, says what happened and how often.
    async fn retrying<T, F, Fut>(&self, mut call: F) -> Result<T, GaveUp>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let started = Instant::now();
        let deadline = started + self.retry.budget;
        let backoff = Backoff::new(self.retry.base, self.retry.cap);
        let mut attempt = 1;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let limit = self
                .retry
                .attempt_timeout
                .min(left.max(Duration::from_millis(1)));
            let failure = match tokio::time::timeout(limit, call()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(f)) => f,
                Err(_) => Failure::TimedOut(limit),
            };
            let gave_up = |f: Failure, why: String| {
                let text = format!(
                    "{} ({why}; {attempt} attempt{} in {:.1}s)",
                    f.describe(&self.server),
                    if attempt == 1 { "" } else { "s" },
                    started.elapsed().as_secs_f64()
                );
                Err(GaveUp { failure: f, text })
            };
            let Some(least) = failure.transient() else {
                return gave_up(failure, "not retried".into());
            };
            if attempt >= self.retry.attempts {
                return gave_up(failure, "gave up".into());
            }
            let delay = backoff.delay(attempt);
            let wait = delay.max(least);
            let left = deadline.saturating_duration_since(Instant::now());
            if wait >= left {
                let why = if least > delay {
                    format!(
                        "Retry-After {least:?} exceeds the {:?} left of the request's {:?} budget",
                        left, self.retry.budget
                    )
                } else {
                    format!("the request's {:?} budget is spent", self.retry.budget)
                };
                return gave_up(failure, why);
            }
            tracing::debug!(error = %failure.describe(&self.server), attempt, ?wait, "transient API error, retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Sends one request and reads its answer as JSON, with the status and `Retry-After` of an
    /// error kept.
    async fn send(&self, req: http::Request<Vec<u8>>) -> Result<Value, Failure> {
        let response = self
            .client
            .send(req.map(kube::client::Body::from))
            .await
            .map_err(|e| from_kube(&e))?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| Failure::Transport(format!("the answer was cut short: {}", cause(&e))))?
            .to_bytes();
        if parts.status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| Failure::Other(format!("the API server's answer is not JSON: {e}")));
        }
        let retry_after = parts
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let status: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = |k: &str| {
            status
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut message = text("message");
        if message.is_empty() {
            message = String::from_utf8_lossy(&bytes).trim().to_string();
        }
        let retry_after = retry_after.or_else(|| {
            status
                .pointer("/details/retryAfterSeconds")
                .and_then(Value::as_u64)
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
        });
        Err(Failure::Status {
            code: parts.status.as_u16(),
            reason: text("reason"),
            message,
            retry_after,
        })
    }

    /// The API resource serving a kind, and whether it is namespaced; asked once per kind.
    /// `None` when the server does not serve it (yet).
    pub async fn resource(
        &self,
        r: &ObjectRef,
    ) -> Result<Option<(ApiResource, bool)>, ClusterError> {
        let gvk = GroupVersionKind::gvk(&r.group, &r.version, &r.kind);
        if let Some(found) = self.kinds.lock().ok().and_then(|k| k.get(&gvk).cloned()) {
            return Ok(Some(found));
        }
        let answer = self
            .retrying(|| async {
                match kube::discovery::pinned_kind(&self.client, &gvk).await {
                    Ok(found) => Ok(Some(found)),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                    Err(kube::Error::Discovery(_)) => Ok(None),
                    Err(e) => Err(from_kube(&e)),
                }
            })
            .await
            .map_err(|f| api_error(r, "discovery", f))?;
        Ok(answer.map(|(ar, caps)| {
            let found = (ar, caps.scope == Scope::Namespaced);
            if let Ok(mut k) = self.kinds.lock() {
                k.insert(gvk, found.clone());
            }
            found
        }))
    }

    /// The collection URL of an object's kind (in its namespace when the kind is namespaced),
    /// or `None` when the server does not serve the kind (yet).
    async fn collection(&self, r: &ObjectRef) -> Result<Option<String>, ClusterError> {
        Ok(self.resource(r).await?.map(|(ar, namespaced)| {
            let ns = r.namespace.as_deref().filter(|_| namespaced);
            <DynamicObject as kube::Resource>::url_path(&ar, ns)
        }))
    }

    async fn known_collection(&self, r: &ObjectRef) -> Result<String, ClusterError> {
        self.collection(r)
            .await?
            .ok_or_else(|| ClusterError::UnknownKind {
                object: r.to_string(),
                api_version: r.api_version(),
                kind: r.kind.clone(),
            })
    }

    /// Lists the objects of a served resource, in `namespace` or everywhere.
    pub async fn list_resource(
        &self,
        ar: &ApiResource,
        namespace: Option<&str>,
        labels: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let url = <DynamicObject as kube::Resource>::url_path(ar, namespace);
        let request = kube::core::Request::new(&url);
        let params = ListParams::default().labels(labels);
        let what = match namespace {
            Some(ns) => format!("{} in namespace {ns}", ar.plural),
            None => ar.plural.clone(),
        };
        let mut list = self
            .retrying(|| async {
                let req = request
                    .list(&params)
                    .map_err(|e| Failure::Other(e.to_string()))?;
                self.send(req).await
            })
            .await
            .map_err(|gave_up| gave_up.error(what.clone(), "list"))?;
        let mut items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        // The API server leaves kind and apiVersion out of list items; put them back so that an
        // item reads as the object a GET returns.
        for item in &mut items {
            if let Some(o) = item.as_object_mut() {
                o.entry("apiVersion")
                    .or_insert_with(|| ar.api_version.clone().into());
                o.entry("kind").or_insert_with(|| ar.kind.clone().into());
            }
        }
        Ok(items)
    }

    /// Every resource the server serves that can be listed, with whether it is namespaced:
    /// discovery, under the same retry policy.
    pub async fn listable_resources(&self) -> Result<Vec<(ApiResource, bool)>, ClusterError> {
        let discovery = self
            .retrying(|| async {
                kube::discovery::Discovery::new(self.client.clone())
                    .run()
                    .await
                    .map_err(|e| from_kube(&e))
            })
            .await
            .map_err(|gave_up| gave_up.error("the API server's resources".into(), "discovery"))?;
        let found: Vec<(ApiResource, bool)> = discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .filter(|(_, caps)| caps.supports_operation(kube::discovery::verbs::LIST))
            .map(|(ar, caps)| (ar, caps.scope == Scope::Namespaced))
            .collect();
        // What discovery found answers `resource` too, without asking again per kind.
        if let Ok(mut kinds) = self.kinds.lock() {
            for (ar, namespaced) in &found {
                let gvk = GroupVersionKind::gvk(&ar.group, &ar.version, &ar.kind);
                kinds.insert(gvk, (ar.clone(), *namespaced));
            }
        }
        Ok(found)
    }
}

/// The port, under the one retry policy, its failures named and classified.
impl Cluster for KubeCluster {
    async fn served(&self, r: &ObjectRef) -> Result<Option<Served>, ClusterError> {
        Ok(self.resource(r).await?.map(|(ar, namespaced)| Served {
            plural: ar.plural,
            namespaced,
        }))
    }

    /// The live object, or `None` when it (or its kind, or its namespace) does not exist.
    async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        let Some(url) = self.collection(r).await? else {
            return Ok(None);
        };
        let request = kube::core::Request::new(url);
        let answer = self
            .retrying(|| async {
                let req = request
                    .get(&r.name, &GetParams::default())
                    .map_err(|e| Failure::Other(e.to_string()))?;
                match self.send(req).await {
                    Ok(v) => Ok(Some(v)),
                    Err(f) if f.code() == Some(404) => Ok(None),
                    Err(f) => Err(f),
                }
            })
            .await
            .map_err(|f| api_error(r, "get", f))?;
        Ok(answer)
    }

    /// Server-side apply with the agent's field manager; returns the object the server answers.
    async fn apply(
        &self,
        r: &ObjectRef,
        manifest: &Value,
        force: bool,
        dry_run: bool,
    ) -> Result<Value, ClusterError> {
        let request = kube::core::Request::new(self.known_collection(r).await?);
        let mut params = PatchParams::apply(MANAGER);
        params.force = force;
        params.dry_run = dry_run;
        let patch = Patch::Apply(manifest);
        self.retrying(|| async {
            let req = request
                .patch(&r.name, &params, &patch)
                .map_err(|e| Failure::Other(e.to_string()))?;
            self.send(req).await
        })
        .await
        .map_err(|gave_up| match gave_up.failure {
            Failure::Status {
                code: 409, message, ..
            } => ClusterError::Conflict {
                object: r.to_string(),
                message,
            },
            _ => gave_up.error(r.to_string(), "apply"),
        })
    }

    /// Deletes an object (foreground: its dependents go first). Gone already is success.
    async fn delete(&self, r: &ObjectRef) -> Result<(), ClusterError> {
        let request = kube::core::Request::new(self.known_collection(r).await?);
        let params = DeleteParams::foreground();
        self.retrying(|| async {
            let req = request
                .delete(&r.name, &params)
                .map_err(|e| Failure::Other(e.to_string()))?;
            match self.send(req).await {
                Ok(_) => Ok(()),
                Err(f) if f.code() == Some(404) => Ok(()),
                Err(f) => Err(f),
            }
        })
        .await
        .map_err(|f| api_error(r, "delete", f))
    }

    /// Lists objects of a kind (in a namespace, or everywhere) matching a label selector. Read as
    /// plain JSON: a sync lists whole namespaces, and skipping kube's typed objects halves the
    /// cost. A kind the server does not serve has no objects.
    async fn list(&self, r: &ObjectRef, labels: &str) -> Result<Vec<Value>, ClusterError> {
        let Some((ar, namespaced)) = self.resource(r).await? else {
            return Ok(Vec::new());
        };
        self.list_resource(
            &ar,
            namespaced.then_some(r.namespace.as_deref()).flatten(),
            labels,
        )
        .await
        .map_err(|e| match e {
            ClusterError::Api {
                verb,
                code,
                message,
                transient,
                ..
            } => ClusterError::Api {
                object: r.to_string(),
                verb,
                code,
                message,
                transient,
            },
            e => e,
        })
    }

    /// Through kube-runtime's recorder (`events.k8s.io/v1`, series of repeats included).
    async fn event(&self, event: &Event) -> Result<(), ClusterError> {
        use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
        let recorder = Recorder::new(
            self.client.clone(),
            Reporter {
                controller: crate::object::MANAGER.into(),
                instance: Some(event.instance.clone()),
            },
        );
        let r = &event.regarding;
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(r.api_version()),
            kind: Some(r.kind.clone()),
            name: Some(r.name.clone()),
            namespace: r.namespace.clone(),
            ..Default::default()
        };
        let e = KubeEvent {
            type_: if event.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason.clone(),
            note: Some(event.note.chars().take(1024).collect()),
            action: event.action.clone(),
            secondary: None,
        };
        recorder
            .publish(&e, &reference)
            .await
            .map_err(|e| ClusterError::Api {
                object: r.to_string(),
                verb: "event",
                code: match &e {
                    kube::Error::Api(s) => Some(s.code),
                    _ => None,
                },
                message: e.to_string(),
                transient: false,
            })
    }

    async fn listable(&self) -> Result<Vec<(ObjectRef, Served)>, ClusterError> {
        Ok(self
            .listable_resources()
            .await?
            .into_iter()
            .map(|(ar, namespaced)| {
                let kind = ObjectRef {
                    group: ar.group,
                    version: ar.version,
                    kind: ar.kind,
                    namespace: None,
                    name: String::new(),
                };
                let served = Served {
                    plural: ar.plural,
                    namespaced,
                };
                (kind, served)
            })
            .collect())
    }
}

fn api_error(r: &ObjectRef, verb: &'static str, gave_up: GaveUp) -> ClusterError {
    gave_up.error(r.to_string(), verb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> Failure {
        Failure::Status {
            code,
            reason: String::new(),
            message: message.into(),
            retry_after: None,
        }
    }

    #[test]
    fn a_type_error_from_server_side_apply_is_not_retried_though_it_is_a_500() {
        let typed = "failed to create typed patch object (a/b; /v1, Kind=Pod): .spec.x: field not declared in schema";
        assert_eq!(status(500, typed).transient(), None);
        assert_eq!(
            status(500, "etcdserver: request timed out").transient(),
            Some(Duration::ZERO)
        );
        assert_eq!(status(422, "invalid").transient(), None);
        let throttled = Failure::Status {
            code: 429,
            reason: "TooManyRequests".into(),
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(throttled.transient(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn what_a_later_try_may_fix_is_transient_and_a_refused_request_is_not() {
        // (the last failure, transient)
        let typed = "failed to create typed patch object (a/b; /v1, Kind=Pod): .spec.x: bad";
        let cases = [
            (status(503, "unavailable"), true),
            (status(500, "etcdserver: request timed out"), true),
            (status(429, "slow down"), true),
            (Failure::Transport("connection refused".into()), true),
            (Failure::TimedOut(Duration::from_secs(20)), true),
            (status(500, typed), false),
            (status(422, "spec.replicas: Invalid value"), false),
            (status(403, "forbidden"), false),
            (Failure::Other("cannot decode".into()), false),
        ];
        for (failure, transient) in cases {
            let described = format!("{failure:?}");
            let e = GaveUp {
                failure,
                text: String::new(),
            }
            .error("Deployment app/web".into(), "apply");
            assert_eq!(e.is_transient(), transient, "{described}");
        }
        let conflict = ClusterError::Conflict {
            object: "Deployment app/web".into(),
            message: "kubectl holds .spec.replicas".into(),
        };
        assert!(!conflict.is_transient());
    }

    #[tokio::test]
    async fn attempts_stop_at_the_count_and_a_retry_after_beyond_the_budget_stops_at_once() {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let cluster = KubeCluster::connect(config)
            .unwrap()
            .with_retry(RetryPolicy {
                attempts: 3,
                base: Duration::from_millis(1),
                cap: Duration::from_millis(2),
                attempt_timeout: Duration::from_secs(1),
                budget: Duration::from_secs(10),
            });
        let calls = std::sync::atomic::AtomicU32::new(0);
        let GaveUp { text, .. } = cluster
            .retrying(|| async {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err::<(), _>(status(503, "unavailable"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 3);
        assert!(
            text.starts_with("HTTP 503: unavailable (gave up; 3 attempts in "),
            "{text}"
        );

        calls.store(0, std::sync::atomic::Ordering::Relaxed);
        let GaveUp { text, .. } = cluster
            .retrying(|| async {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err::<(), _>(Failure::Status {
                    code: 429,
                    reason: "TooManyRequests".into(),
                    message: "slow down".into(),
                    retry_after: Some(Duration::from_secs(60)),
                })
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(text.contains("Retry-After 60s exceeds the"), "{text}");
    }
}
