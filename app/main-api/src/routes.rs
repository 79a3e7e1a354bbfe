//! main-api's HTTP surface: `/api/s3-buckets`, `/api/parameters`, `/api/parameters/{name}`,
//! answered through auxiliary-service. Every JSON answer carries `main_api_version` and
//! `auxiliary_service_version` (null when aux did not say); a failed dependency is a 502 naming
//! it (`auxiliary-service` or `aws`).

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use service_kit::http::{self, ApiError};
use service_kit::metrics::HttpMetrics;
use service_kit::parameter_name;
use service_kit::shutdown::Readiness;
use tracing::warn;

use crate::aux::{AuxClient, AuxError, AuxReply};
use crate::metrics::{AuxMetrics, Outcome};

pub const MAIN_VERSION: &str = "main_api_version";
pub const AUX_VERSION: &str = "auxiliary_service_version";
pub const AUX: &str = "auxiliary-service";

#[derive(Clone)]
pub struct AppState {
    pub aux: Arc<AuxClient>,
    pub metrics: AuxMetrics,
    pub version: Arc<str>,
}

pub fn router(state: AppState, readiness: Readiness, metrics: Arc<HttpMetrics>) -> Router {
    let version = Arc::clone(&state.version);
    let fallback_version = Arc::clone(&version);
    let routes = Router::new()
        .route("/api/s3-buckets", get(s3_buckets))
        .route("/api/parameters", get(parameters))
        .route("/api/parameters/{*name}", get(parameter))
        .with_state(state)
        .merge(http::ops_routes(readiness, Arc::clone(&metrics)))
        .fallback(move || {
            let version = Arc::clone(&fallback_version);
            async move {
                let message = "no such route; the API answers GET /api/s3-buckets, /api/parameters and /api/parameters/{name}";
                failure(&version, None, ApiError::not_found(message))
            }
        })
        .method_not_allowed_fallback(move || {
            let version = Arc::clone(&version);
            async move {
                let error = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route answers GET only");
                failure(&version, None, error)
            }
        });
    http::observe(routes, metrics)
}

async fn s3_buckets(State(state): State<AppState>) -> Response {
    relay(&state, "/s3-buckets").await
}

async fn parameters(State(state): State<AppState>) -> Response {
    relay(&state, "/parameters").await
}

/// `{name}` is checked here, before aux is asked: an invalid name is a 400 that costs no call.
async fn parameter(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let name = match name {
        Ok(Path(name)) => name,
        Err(rejection) => {
            return failure(
                &state.version,
                None,
                ApiError::bad_request(rejection.body_text()),
            )
        }
    };
    if let Err(err) = parameter_name::check_relative(&name) {
        return failure(&state.version, None, ApiError::bad_request(err.to_string()));
    }
    // Checked: only a-z A-Z 0-9 _ . - and /, nothing a URL path must escape.
    relay(&state, &format!("/parameters/{name}")).await
}

/// Asks aux and answers with what it said, or with the dependency that failed.
async fn relay(state: &AppState, path: &str) -> Response {
    let mut call = state.metrics.call();
    let (outcome, response) = match state.aux.get(path).await {
        Ok(reply) => from_aux(&state.version, reply),
        Err(err) => {
            let outcome = match err {
                AuxError::TimedOut { .. } => Outcome::Timeout,
                AuxError::Unreachable { .. } => Outcome::Unreachable,
                AuxError::BadAnswer { .. } => Outcome::AuxFailed,
            };
            warn!(error = %err, outcome = outcome.label(), "auxiliary-service failed");
            let code = if outcome == Outcome::Timeout {
                "auxiliary_service_timeout"
            } else {
                "auxiliary_service_unavailable"
            };
            let error = ApiError::dependency(AUX, code, err.to_string());
            (outcome, failure(&state.version, None, error))
        }
    };
    call.outcome(outcome);
    response
}

/// aux's answer as main's: its body with main's version, or a 502 naming who failed.
fn from_aux(version: &str, reply: AuxReply) -> (Outcome, Response) {
    let AuxReply { status, mut body } = reply;
    let Some(aux_version) = body
        .get(AUX_VERSION)
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        let message = format!("auxiliary-service answered {status} without {AUX_VERSION}");
        let error = ApiError::dependency(AUX, "auxiliary_service_failed", message);
        return (Outcome::AuxFailed, failure(version, None, error));
    };
    if status.is_success() || status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND {
        body.insert(MAIN_VERSION.into(), version.into());
        let outcome = if status.is_success() {
            Outcome::Ok
        } else {
            Outcome::ClientError
        };
        return (outcome, http::json(status, body));
    }
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let error =
        if status == StatusCode::BAD_GATEWAY && body.get("dependency") == Some(&"aws".into()) {
            let code = match body.get("error").and_then(Value::as_str) {
                Some("aws_unavailable") => "aws_unavailable",
                Some("aws_access_denied") => "aws_access_denied",
                _ => "aws_failed",
            };
            (
                Outcome::AwsFailed,
                ApiError::dependency("aws", code, message),
            )
        } else {
            let message = format!("auxiliary-service answered {status}: {message}");
            (
                Outcome::AuxFailed,
                ApiError::dependency(AUX, "auxiliary_service_failed", message),
            )
        };
    (error.0, failure(version, Some(&aux_version), error.1))
}

fn failure(version: &str, aux_version: Option<&str>, error: ApiError) -> Response {
    let mut body = error.body();
    body.insert(MAIN_VERSION.into(), version.into());
    body.insert(
        AUX_VERSION.into(),
        aux_version.map_or(Value::Null, Value::from),
    );
    http::json(error.status, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: Value) -> AuxReply {
        let Value::Object(body) = body else {
            panic!("an object")
        };
        AuxReply {
            status: StatusCode::from_u16(status).expect("a status"),
            body,
        }
    }

    async fn body_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn aux_answers_carry_both_versions() {
        let (outcome, response) = from_aux(
            "2.0.0",
            reply(200, json!({"buckets": [], AUX_VERSION: "1.0.0"})),
        );
        assert_eq!(outcome, Outcome::Ok);
        assert_eq!(
            body_of(response).await,
            json!({"buckets": [], AUX_VERSION: "1.0.0", MAIN_VERSION: "2.0.0"})
        );
    }

    #[tokio::test]
    async fn an_aws_failure_reported_by_aux_is_a_502_naming_aws() {
        let aux = json!({"error": "aws_unavailable", "message": "S3 down", "dependency": "aws", AUX_VERSION: "1"});
        let (outcome, response) = from_aux("2", reply(502, aux));
        assert_eq!(
            (outcome, response.status()),
            (Outcome::AwsFailed, StatusCode::BAD_GATEWAY)
        );
        let body = body_of(response).await;
        assert_eq!(
            (&body["dependency"], &body["error"]),
            (&json!("aws"), &json!("aws_unavailable"))
        );
        assert_eq!(
            (&body[MAIN_VERSION], &body[AUX_VERSION]),
            (&json!("2"), &json!("1"))
        );
    }

    #[tokio::test]
    async fn other_aux_failures_name_aux() {
        for aux in [
            reply(
                500,
                json!({"error": "internal", "message": "boom", AUX_VERSION: "1"}),
            ),
            reply(200, json!({"buckets": []})),
        ] {
            let (outcome, response) = from_aux("2", aux);
            assert_eq!(
                (outcome, response.status()),
                (Outcome::AuxFailed, StatusCode::BAD_GATEWAY)
            );
            assert_eq!(body_of(response).await["dependency"], AUX);
        }
    }

    #[tokio::test]
    async fn not_found_and_bad_request_are_relayed_with_their_status() {
        for status in [400, 404] {
            let aux = json!({"error": "x", "message": "y", AUX_VERSION: "1"});
            let (outcome, response) = from_aux("2", reply(status, aux));
            assert_eq!(
                (outcome, response.status().as_u16()),
                (Outcome::ClientError, status)
            );
        }
    }
}
