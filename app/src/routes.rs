//! The HTTP surface: routes, handlers, and the per-request middleware (metrics, version header).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::PathRejection;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tracing::debug;

use crate::digest;
use crate::error::ApiError;
use crate::metrics::{Metrics, UNMATCHED_ROUTE};
use crate::shutdown::Readiness;

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("x-service-version");

#[derive(Clone)]
pub struct AppState {
    pub readiness: Readiness,
    pub metrics: Arc<Metrics>,
    pub version: HeaderValue,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/hash/{input}", get(hash))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// `GET /hash/{input}`: the SHA-1 hex of the percent-decoded input, as plain text.
async fn hash(input: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(input) = input.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    Ok(digest::sha1_hex(&input)?)
}

/// Liveness: the process is up and its runtime answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: false before the listener serves and from the first SIGTERM on.
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let body = state
        .metrics
        .render()
        .map_err(|err| ApiError::internal(format!("could not encode metrics: {err}")))?;
    Ok(([(CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response())
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Times every request, counts it under its route template, and stamps the service version.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let started = Instant::now();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    state.metrics.observe(route, response.status(), elapsed);
    response
        .headers_mut()
        .insert(VERSION_HEADER, state.version.clone());
    debug!(
        route,
        status = response.status().as_u16(),
        elapsed_us = elapsed.as_micros() as u64,
        "request"
    );
    response
}
