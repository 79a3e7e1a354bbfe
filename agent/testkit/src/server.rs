//! `TestServer`: options, the server thread and runtime, and the library API tests use
//! (client, kubeconfig, request log, faults). The routes themselves are in `http.rs`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::faults::{Fault, Faults, RequestRecord};
use crate::handler::{Cluster, Write};
use crate::http::router;
use crate::readiness::FailImages;
use crate::request::{route, Query, Route, Target};

pub use crate::shared::Options;
use crate::shared::{lock, Shared};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Serve(#[from] test_serving::Error),
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

/// A running test API server; it stops when dropped. A server "restarted empty" is a new one
/// started on the stopped one's address (`Options { addr: old.addr(), .. }`): its
/// resourceVersions start again from 1, below what clients of the old one hold.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    serving: test_serving::Serving,
}

impl TestServer {
    /// Bind, then serve on a dedicated thread (so synchronous tests that run `kubectl`
    /// and async tests that use `client()` both work).
    pub fn start(options: Options) -> Result<Self, Error> {
        let bound = test_serving::Bound::bind(options.addr)?;
        let addr = bound.addr();
        let shutdown = bound.shutdown();
        let shared = Arc::new(Shared {
            cluster: Arc::new(Mutex::new(Cluster::new(options.history_limit))),
            faults: Mutex::new(Faults::default()),
            fail_images: Arc::new(Mutex::new(options.fail_images.clone())),
            log: Mutex::new(Vec::new()),
            options,
            addr,
            shutdown,
            cut: watch::channel(0).0,
        });
        crate::server::seed(&shared);
        let serving = shared.clone();
        let serving = bound.serve("kube-testkit", move || app(serving))?;
        tracing::info!(%addr, "kube-testkit serving");
        Ok(Self {
            addr,
            shared,
            serving,
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
        // As the agent builds its clients: kube-client's own retries off, so that tests see
        // every request the agent makes.
        config.default_retry = false;
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

    /// Replace the set of failing images (`Options::fail_images`); `[]` clears it. The
    /// controllers apply it on their next pass to every workload: one already ready turns
    /// unready, and one whose image no longer matches becomes ready after the ready delay.
    pub fn fail_images<I, S>(&self, substrings: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        *lock(&self.shared.fail_images) = FailImages::new(substrings);
    }

    /// The images that currently fail.
    pub fn failing_images(&self) -> FailImages {
        lock(&self.shared.fail_images).clone()
    }

    /// End every open watch stream, as an API server does on its way down or a load balancer
    /// when it resets its connections: each client sees its stream end and must watch again
    /// (with faults injected, that next watch fails). New watches are not affected.
    pub fn cut_watches(&self) {
        self.shared.cut.send_modify(|n| *n += 1);
    }

    /// Drop all watch history: watches from any earlier resourceVersion get `410 Gone`.
    pub fn compact(&self) {
        lock(&self.shared.cluster).store.compact();
    }

    /// Stop serving and wait for the server thread (also done on drop).
    pub fn stop(mut self) {
        self.serving.stop();
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

/// The routes, with the simulated controllers started beside them (inside the server's runtime).
fn app(shared: Arc<Shared>) -> axum::Router {
    if shared.options.controllers {
        tokio::spawn(crate::controllers::run(
            shared.cluster.clone(),
            shared.options.ready_delay,
            shared.fail_images.clone(),
            shared.shutdown.clone(),
        ));
    }
    router(shared)
}
