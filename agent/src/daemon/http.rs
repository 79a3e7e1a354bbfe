//! The agent's one HTTP port (axum): `/healthz`, `/readyz`, `/metrics`, `/status` and the signed
//! GitHub push webhook `POST /hooks/github`.

use super::status::{NotReady, Status};
use crate::metrics::Metrics;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sextant_source::webhook;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// What the webhook needs: the shared secret, the tracked branch, and the fetch trigger.
#[derive(Clone)]
pub struct Webhook {
    pub secret: Arc<Vec<u8>>,
    pub branch: String,
    /// Notified once per accepted push; a pending notification absorbs further ones, so a burst
    /// of deliveries coalesces into one fetch.
    pub trigger: Arc<Notify>,
    /// Bumped once per pull request delivery into the tracked branch: each environment's
    /// preview loop looks at its pull requests at once.
    pub pulls: Arc<tokio::sync::watch::Sender<u64>>,
}

#[derive(Clone)]
pub struct AppState {
    pub metrics: Metrics,
    pub status: Arc<Mutex<Status>>,
    pub webhook: Option<Webhook>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/hooks/github", post(github))
        .with_state(state)
}

async fn readyz(State(s): State<AppState>) -> Response {
    let ready = s
        .status
        .lock()
        .map(|st| st.ready())
        .unwrap_or(Err(NotReady::Unavailable));
    match ready {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why.to_string()).into_response(),
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

/// The status as JSON, with every value decrypted from a SOPS file replaced (an error message
/// may quote what helm or the API server was given).
async fn status(State(s): State<AppState>) -> Response {
    let text = match s.status.lock() {
        Ok(st) => serde_json::to_string(&*st),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    match text {
        Ok(text) => (
            [(header::CONTENT_TYPE, "application/json")],
            crate::render::scrub(&text).into_owned(),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn answer(s: &AppState, code: StatusCode, result: &str, message: &str) -> Response {
    s.metrics
        .webhook_requests_total
        .with_label_values(&[result])
        .inc();
    (
        code,
        Json(serde_json::json!({"result": result, "message": message})),
    )
        .into_response()
}

async fn github(State(s): State<AppState>, request: Request) -> Response {
    let Some(hook) = s.webhook.clone() else {
        return answer(
            &s,
            StatusCode::NOT_FOUND,
            "ignored",
            "no webhook secret is configured (SEXTANT_WEBHOOK_SECRET_FILE)",
        );
    };
    let headers: HeaderMap = request.headers().clone();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > webhook::MAX_BODY_BYTES) {
        return answer(
            &s,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "body over 1 MiB",
        );
    }
    let body: Body = request.into_body();
    let Ok(bytes) = axum::body::to_bytes(body, webhook::MAX_BODY_BYTES).await else {
        return answer(
            &s,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "body over 1 MiB",
        );
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = webhook::verify_signature(&hook.secret, &bytes, signature) {
        tracing::warn!(error = %e, "webhook rejected");
        return answer(&s, StatusCode::UNAUTHORIZED, "unauthorized", &e.to_string());
    }
    if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
        return answer(
            &s,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body is not JSON",
        );
    }
    let event = headers.get("x-github-event").and_then(|v| v.to_str().ok());
    match webhook::pushed_branch(event, &bytes) {
        Some(branch) if branch == hook.branch => {
            hook.trigger.notify_one();
            answer(&s, StatusCode::ACCEPTED, "accepted", "fetch triggered")
        }
        Some(other) => answer(
            &s,
            StatusCode::OK,
            "ignored",
            &format!("push to {other}, not the tracked branch"),
        ),
        None => match webhook::pull_request_base(event, &bytes) {
            Some(base) if base == hook.branch => {
                hook.pulls.send_modify(|n| *n = n.wrapping_add(1));
                answer(&s, StatusCode::ACCEPTED, "accepted", "previews triggered")
            }
            Some(other) => answer(
                &s,
                StatusCode::OK,
                "ignored",
                &format!("a pull request into {other}, not the tracked branch"),
            ),
            None => answer(
                &s,
                StatusCode::OK,
                "ignored",
                "not a push or pull request event",
            ),
        },
    }
}
