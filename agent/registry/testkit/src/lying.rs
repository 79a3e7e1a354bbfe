//! A registry that lies, for the one refusal a real registry cannot be made to show: it answers
//! every manifest GET, whatever digest is asked for, with the same bytes, and claims the digest
//! asked for in `Docker-Content-Digest`. A few lines of axum on 127.0.0.1, on a thread of its
//! own, stopped when dropped.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct LyingRegistry {
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Lie {
    body: Vec<u8>,
    media_type: String,
    requests: Arc<AtomicUsize>,
}

async fn manifest(
    State(lie): State<Arc<Lie>>,
    Path((_name, reference)): Path<(String, String)>,
) -> impl IntoResponse {
    lie.requests.fetch_add(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&lie.media_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&reference) {
        headers.insert("docker-content-digest", v);
    }
    (StatusCode::OK, headers, lie.body.clone())
}

impl LyingRegistry {
    /// Serves `body` (of `media_type`) as every manifest of every repository.
    pub fn start(body: Vec<u8>, media_type: &str) -> LyingRegistry {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let requests = Arc::new(AtomicUsize::new(0));
        let lie = Arc::new(Lie {
            body,
            media_type: media_type.to_string(),
            requests: requests.clone(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new()
                    .route("/v2/", get(|| async { "{}" }))
                    .route("/v2/{*rest}", get(route))
                    .with_state(lie);
                // Stopping drops the runtime, and every connection with it.
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        LyingRegistry {
            port,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Manifest requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// `/v2/<name>/manifests/<reference>`, the name having any number of slashes.
async fn route(state: State<Arc<Lie>>, Path(rest): Path<String>) -> axum::response::Response {
    match rest.rsplit_once("/manifests/") {
        Some((name, reference)) => manifest(state, Path((name.to_string(), reference.to_string())))
            .await
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl Drop for LyingRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
