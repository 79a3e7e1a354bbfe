//! The HTTP surface: `/hash/{input}`, the probes and `/metrics` (service-kit's), the per-request
//! metrics (service-kit's) and the version header every answer carries.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use service_kit::http;
use service_kit::metrics::HttpMetrics;
use service_kit::shutdown::Readiness;

use crate::digest;
use crate::error::ApiError;
use crate::faults::Faults;

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("x-service-version");

#[derive(Clone)]
pub struct AppState {
    /// `SERVICE_VERSION`, sent back in the `x-service-version` header of every response.
    pub version: HeaderValue,
    /// Errors and latency on demand (off by default).
    pub faults: Arc<Faults>,
}

pub fn router(state: AppState, readiness: Readiness, metrics: Arc<HttpMetrics>) -> Router {
    let faults = Arc::clone(&state.faults);
    let routes = Router::new()
        .route(
            "/hash/{input}",
            get(move |input| hash(Arc::clone(&faults), input)),
        )
        .merge(http::ops_routes(readiness, Arc::clone(&metrics)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state, stamp_version));
    http::observe(routes, metrics)
}

/// `GET /hash/{input}`: the SHA-1 hex of the percent-decoded input, as plain text (or an
/// injected fault, when asked for one).
async fn hash(
    faults: Arc<Faults>,
    input: Result<Path<String>, PathRejection>,
) -> Result<String, ApiError> {
    if !faults.latency().is_zero() {
        tokio::time::sleep(faults.latency()).await;
    }
    if faults.fails_next() {
        return Err(ApiError::injected());
    }
    let Path(input) = input.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    Ok(digest::sha1_hex(&input)?)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Stamps the service version on every answer, errors included.
async fn stamp_version(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(VERSION_HEADER, state.version.clone());
    response
}
