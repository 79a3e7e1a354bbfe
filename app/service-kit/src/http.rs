//! The HTTP plumbing both services share: probes and `/metrics`, the per-request middleware
//! (metrics by route template), and JSON error answers `{"error", "message"[, "dependency"]}`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use tracing::debug;

use crate::metrics::{HttpMetrics, UNMATCHED_ROUTE};
use crate::shutdown::Readiness;

/// A failure the service answers, before the service adds its version fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `not_found`, `dependency_failed`.
    pub code: &'static str,
    pub message: String,
    /// The dependency that failed (`auxiliary-service`, `aws`), when one did.
    pub dependency: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            dependency: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 502: `dependency` failed or could not be reached.
    pub fn dependency(
        dependency: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            dependency: Some(dependency),
            ..Self::new(StatusCode::BAD_GATEWAY, code, message)
        }
    }

    /// The body's fields; the service adds its own (versions) before answering.
    pub fn body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("error".into(), self.code.into());
        body.insert("message".into(), self.message.clone().into());
        if let Some(dependency) = self.dependency {
            body.insert("dependency".into(), dependency.into());
        }
        body
    }
}

/// A JSON answer: `status` and the object `body`.
pub fn json(status: StatusCode, body: Map<String, Value>) -> Response {
    (status, axum::Json(Value::Object(body))).into_response()
}

/// `/healthz`, `/readyz` and `/metrics`, merged into the service's routes.
pub fn ops_routes<S: Clone + Send + Sync + 'static>(
    readiness: Readiness,
    metrics: Arc<HttpMetrics>,
) -> Router<S> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = readiness.is_ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || render_metrics(Arc::clone(&metrics))),
        )
}

async fn render_metrics(metrics: Arc<HttpMetrics>) -> Response {
    match metrics.render() {
        Ok(body) => ([(CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response(),
        Err(err) => {
            let error = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("could not encode metrics: {err}"),
            );
            json(error.status, error.body())
        }
    }
}

/// Times every request and counts it under its route template (never its raw path).
pub fn observe(router: Router, metrics: Arc<HttpMetrics>) -> Router {
    router.layer(middleware::from_fn_with_state(metrics, record))
}

async fn record(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    metrics.observe(route, response.status(), elapsed);
    debug!(
        route,
        status = response.status().as_u16(),
        elapsed_ms = elapsed.as_millis() as u64,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_error_is_a_502_naming_the_dependency() {
        let error = ApiError::dependency("aws", "aws_unavailable", "S3 did not answer");
        assert_eq!(error.status, StatusCode::BAD_GATEWAY);
        let body = Value::Object(error.body());
        assert_eq!(
            body,
            serde_json::json!({"error": "aws_unavailable", "message": "S3 did not answer", "dependency": "aws"})
        );
    }

    #[test]
    fn other_errors_name_no_dependency() {
        let body = ApiError::bad_request("bad name").body();
        assert!(!body.contains_key("dependency"));
        assert_eq!(body["error"], "bad_request");
    }
}
