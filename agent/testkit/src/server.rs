//! The HTTP edge: the axum router, request logging and fault injection around the
//! generic handler, and `TestServer`, which runs it all on its own thread.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tokio::sync::watch;

use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::faults::{Action, Fault, Faults, RequestRecord, Verb};
use crate::handler::{Cluster, Write};
use crate::patch::PatchType;
use crate::request::{route, Query, Route, Target};

/// How a test server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen; port 0 picks a free port. Keep it on 127.0.0.1.
    pub addr: SocketAddr,
    /// Run the simulated controllers (workload readiness, Job completion, …).
    pub controllers: bool,
    /// How long after a write the simulated controllers report an object ready.
    pub ready_delay: Duration,
    /// Events kept for watch resumption; older resourceVersions get `410 Gone`.
    pub history_limit: usize,
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            controllers: true,
            ready_delay: Duration::from_millis(100),
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the test server's runtime thread: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid server URL {url}: {message}")]
    Url { url: String, message: String },
    #[error("cannot build a kube client for {url}: {source}")]
    Client { url: String, source: kube::Error },
}

/// State shared by every request.
pub(crate) struct Shared {
    pub cluster: Arc<Mutex<Cluster>>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub options: Options,
    pub addr: SocketAddr,
    pub shutdown: watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock is a bug in this crate; keep serving what is there.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running test API server; it stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Bind, then serve on a dedicated thread (so synchronous tests that run `kubectl`
    /// and async tests that use `client()` both work).
    pub fn start(options: Options) -> Result<Self, Error> {
        let listener = std::net::TcpListener::bind(options.addr).map_err(|source| Error::Bind {
            addr: options.addr,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: options.addr,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| Error::Bind { addr, source })?;
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            cluster: Arc::new(Mutex::new(Cluster::new(options.history_limit))),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(Vec::new()),
            options,
            addr,
            shutdown,
        });
        crate::server::seed(&shared);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kube-testkit-{}", addr.port()))
            .spawn(move || serve(runtime, listener, serving))
            .map_err(Error::Runtime)?;
        tracing::info!(%addr, "kube-testkit serving");
        Ok(Self {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client for this server (default namespace `default`). Call it inside a
    /// tokio runtime: the client spawns its connection worker there.
    pub fn client(&self) -> Result<kube::Client, Error> {
        let url = self.url();
        let uri = url
            .parse()
            .map_err(|e: axum::http::uri::InvalidUri| Error::Url {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        config.read_timeout = Some(Duration::from_secs(30));
        kube::Client::try_from(config).map_err(|source| Error::Client { url, source })
    }

    /// A kubeconfig (YAML) pointing at this server, context `testkit`.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testkit\n  cluster:\n    server: {}\n\
             users:\n- name: testkit\n  user: {{}}\ncontexts:\n- name: testkit\n  context:\n    cluster: testkit\n    \
             user: testkit\n    namespace: default\ncurrent-context: testkit\n",
            self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig()).map_err(|source| Error::Kubeconfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// Every API request served so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).add(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Drop all watch history: watches from any earlier resourceVersion get `410 Gone`.
    pub fn compact(&self) {
        lock(&self.shared.cluster).store.compact();
    }

    /// Stop serving and wait for the server thread (also done on drop).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The namespaces every cluster starts with.
fn seed(shared: &Shared) {
    let mut cluster = lock(&shared.cluster);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let t = match route(&format!("/api/v1/namespaces/{ns}"), &cluster.registry) {
            Ok(Route::Resource(t)) => *t,
            _ => continue,
        };
        let body =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
                .to_string();
        let q = Query::default();
        let w = Write {
            target: &Target { name: None, ..t },
            query: &q,
            body: body.as_bytes(),
            content_type: "application/json",
            manager: Some("testkit".into()),
        };
        let _ = cluster.create(&w);
    }
}

fn serve(runtime: tokio::runtime::Runtime, listener: std::net::TcpListener, shared: Arc<Shared>) {
    runtime.block_on(async move {
        let mut shutdown = shared.shutdown.clone();
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "kube-testkit cannot use its listener");
                return;
            }
        };
        if shared.options.controllers {
            tokio::spawn(crate::controllers::run(shared.cluster.clone(), shared.options.ready_delay, shutdown.clone()));
        }
        let app = router(shared.clone());
        let mut graceful = shutdown.clone();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        });
        // Graceful shutdown waits for open connections; bound it so a stuck client cannot hang a test.
        tokio::select! {
            _ = server => {}
            _ = async { let _ = shutdown.wait_for(|stop| *stop).await; tokio::time::sleep(Duration::from_secs(1)).await } => {}
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/testkit/requests",
            get(requests_endpoint).delete(clear_requests_endpoint),
        )
        .route(
            "/testkit/faults",
            axum::routing::post(inject_endpoint).delete(clear_faults_endpoint),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .fallback(dispatch)
        // The real API server accepts request bodies up to 3 MiB (large CRDs need it).
        .layer(axum::extract::DefaultBodyLimit::max(3 * 1024 * 1024))
        .with_state(shared)
}

async fn requests_endpoint(State(s): State<Arc<Shared>>) -> Json<Vec<RequestRecord>> {
    Json(lock(&s.log).clone())
}

async fn clear_requests_endpoint(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.log).clear();
    StatusCode::NO_CONTENT
}

async fn inject_endpoint(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    // kubectl `create --raw` sends no JSON content type, so parse whatever arrives.
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            lock(&s.faults).add(fault);
            StatusCode::CREATED.into_response()
        }
        Err(e) => error_response(&ApiError::bad_request(format!("not a fault: {e}"))),
    }
}

async fn clear_faults_endpoint(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.faults).clear();
    StatusCode::NO_CONTENT
}

fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn verb_of(method: &Method, t: &Target, q: &Query) -> Verb {
    match *method {
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE if t.name.is_none() => Verb::DeleteCollection,
        Method::DELETE => Verb::Delete,
        _ if t.name.is_some() && !t.watch_prefix && !q.flag("watch") => Verb::Get,
        _ if t.watch_prefix || q.flag("watch") => Verb::Watch,
        _ => Verb::List,
    }
}

fn user_agent_manager(headers: &HeaderMap) -> Option<String> {
    let ua = headers.get(header::USER_AGENT)?.to_str().ok()?;
    ua.split('/')
        .next()
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = Query::parse(uri.query());
    let routed = route(uri.path(), &lock(&shared.cluster).registry);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let patch_type = (method == Method::PATCH)
        .then(|| PatchType::from_content_type(&content_type))
        .flatten();
    let target = match &routed {
        Ok(Route::Resource(t)) => Some((**t).clone()),
        _ => None,
    };
    let manager = query
        .get("fieldManager")
        .map(str::to_string)
        .or_else(|| user_agent_manager(&headers));
    let seq = {
        let mut log = lock(&shared.log);
        let seq = log.len() as u64;
        log.push(RequestRecord {
            seq,
            verb: target
                .as_ref()
                .map_or(Verb::Get, |t| verb_of(&method, t, &query)),
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            resource: target.as_ref().map(|t| t.rt.plural.clone()),
            namespace: target.as_ref().and_then(|t| t.namespace.clone()),
            name: target.as_ref().and_then(|t| t.name.clone()),
            subresource: target.as_ref().and_then(|t| t.subresource.clone()),
            field_manager: manager.clone().filter(|_| method != Method::GET),
            patch_type,
            dry_run: query.dry_run(),
            force: query.flag("force"),
            status: 0,
        });
        seq
    };
    let record = lock(&shared.log)[seq as usize].clone();
    let actions = lock(&shared.faults).fire(&record);
    let mut drop_after = None;
    let mut response = None;
    for action in actions {
        match action {
            Action::Delay { millis } => tokio::time::sleep(Duration::from_millis(millis)).await,
            Action::DropWatch { after_millis } => {
                drop_after = Some(Duration::from_millis(after_millis))
            }
            Action::Error { code } => {
                let reason = if code == 503 {
                    "ServiceUnavailable"
                } else {
                    "InternalError"
                };
                response = Some(error_response(&ApiError::new(
                    code,
                    reason,
                    "injected fault (kube-testkit)",
                )));
            }
            Action::TooManyRequests {
                retry_after_seconds,
            } => {
                let mut r = error_response(&ApiError::new(
                    429,
                    "TooManyRequests",
                    "injected throttling (kube-testkit), please try again later",
                ));
                if let Ok(v) = retry_after_seconds.to_string().parse() {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                response = Some(r);
            }
        }
    }
    let response = match response {
        Some(r) => r,
        None => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let inc = Incoming {
                method: &method,
                query: &query,
                body: &body,
                content_type: &content_type,
                accept,
                patch_type,
                manager,
                drop_after,
            };
            serve_route(&shared, routed, inc)
        }
    };
    if let Some(r) = lock(&shared.log).get_mut(seq as usize) {
        r.status = response.status().as_u16();
    }
    response
}

/// One API request, decoded at the edge.
struct Incoming<'a> {
    method: &'a Method,
    query: &'a Query,
    body: &'a [u8],
    content_type: &'a str,
    accept: &'a str,
    patch_type: Option<PatchType>,
    manager: Option<String>,
    drop_after: Option<Duration>,
}

/// Discovery and OpenAPI documents; `Err(target)` for a resource request.
fn serve_document(
    shared: &Shared,
    cluster: &Cluster,
    routed: Route,
    accept: &str,
) -> Result<ApiResult<Response>, Box<Target>> {
    let ok = |v: Value| Ok(json_response(200, &v));
    let registry = &cluster.registry;
    let aggregated = accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2;");
    Ok(match routed {
        Route::Version => ok(discovery::version()),
        Route::CoreVersions | Route::Groups if aggregated => {
            let doc = discovery::aggregated(registry, matches!(routed, Route::CoreVersions));
            let mut r = json_response(200, &doc);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                discovery::AGGREGATED_CONTENT_TYPE
                    .parse()
                    .expect("a valid header value"),
            );
            Ok(r)
        }
        Route::CoreVersions => ok(discovery::core_versions(&shared.addr.to_string())),
        Route::Groups => ok(discovery::groups(registry)),
        Route::Group(g) => {
            discovery::group(registry, &g).map_or_else(|| Err(ApiError::not_found_path(&g)), ok)
        }
        Route::Resources { group, version } => ok(discovery::resources(registry, &group, &version)),
        Route::OpenApiRoot => ok(crate::openapi::root(registry)),
        Route::OpenApi { group, version } if registry.serves(&group, &version) => {
            ok(crate::openapi::group_version(registry, &group, &version))
        }
        Route::OpenApi { group, .. } => Err(ApiError::not_found_path(&group)),
        Route::Resource(t) => return Err(t),
    })
}

fn serve_route(shared: &Shared, routed: ApiResult<Route>, inc: Incoming<'_>) -> Response {
    let result = (|| -> ApiResult<Response> {
        let mut cluster = lock(&shared.cluster);
        let t = match serve_document(shared, &cluster, routed?, inc.accept) {
            Ok(answer) => return answer,
            Err(t) => t,
        };
        serve_resource(shared, &mut cluster, &t, inc)
    })();
    result.unwrap_or_else(|e| error_response(&e))
}

fn serve_resource(
    shared: &Shared,
    cluster: &mut Cluster,
    t: &Target,
    inc: Incoming<'_>,
) -> ApiResult<Response> {
    let ok = |v: Value| json_response(200, &v);
    let (method, query, content_type) = (inc.method, inc.query, inc.content_type);
    let binary = ["application/vnd.kubernetes.protobuf", "application/cbor"];
    if binary.iter().any(|b| content_type.starts_with(b)) {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("kube-testkit accepts JSON and YAML bodies only, not {content_type} (kubectl's `create <generator>`/`run` send protobuf: use `kubectl apply` or `create -f`)"),
        ));
    }
    let write = Write {
        target: t,
        query,
        body: inc.body,
        content_type,
        manager: inc.manager,
    };
    match (method.clone(), verb_of(method, t, query)) {
        (_, Verb::Watch) => {
            let spec = crate::watch::WatchSpec {
                bookmark_interval: shared.options.bookmark_interval,
                drop_after: inc.drop_after,
                shutdown: shared.shutdown.clone(),
            };
            let stream = crate::watch::start(cluster, t, query, spec)?;
            Ok((
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(stream),
            )
                .into_response())
        }
        (_, Verb::Get) => Ok(ok(cluster.get(t)?)),
        (_, Verb::List) => Ok(ok(cluster.list(t, query)?)),
        (Method::POST, _) if t.name.is_none() && t.subresource.is_none() => {
            Ok(json_response(201, &cluster.create(&write)?))
        }
        (Method::PUT, _) if t.name.is_some() => Ok(ok(cluster.update(&write)?)),
        (Method::PATCH, _) if t.name.is_some() => {
            let kind = inc
                .patch_type
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            let (code, v) = cluster.patch(&write, kind)?;
            Ok(json_response(code, &v))
        }
        (Method::DELETE, Verb::DeleteCollection) => Ok(ok(cluster.delete_collection(t, query)?)),
        (Method::DELETE, _) if t.subresource.is_none() => {
            Ok(ok(cluster.delete(t, query, inc.body)?))
        }
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    }
}
