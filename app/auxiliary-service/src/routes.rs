//! auxiliary-service's HTTP surface: `/s3-buckets`, `/parameters`, `/parameters/{name}`, each
//! a JSON object carrying `auxiliary_service_version`; failures of AWS are 502 naming `aws`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use serde_json::{Map, Value};
use service_kit::http::{self, ApiError};
use service_kit::metrics::HttpMetrics;
use service_kit::parameter_name::ParameterPath;
use service_kit::shutdown::Readiness;
use tracing::warn;

use crate::aws::{Aws, AwsError};

pub const VERSION_FIELD: &str = "auxiliary_service_version";

#[derive(Clone)]
pub struct AppState {
    pub aws: Arc<Aws>,
    pub path: ParameterPath,
    pub version: Arc<str>,
}

pub fn router(state: AppState, readiness: Readiness, metrics: Arc<HttpMetrics>) -> Router {
    let version = Arc::clone(&state.version);
    let fallback_version = Arc::clone(&version);
    let routes = Router::new()
        .route("/s3-buckets", get(s3_buckets))
        .route("/parameters", get(parameters))
        .route("/parameters/{*name}", get(parameter))
        .with_state(state)
        .merge(http::ops_routes(readiness, Arc::clone(&metrics)))
        .fallback(move || {
            let version = Arc::clone(&fallback_version);
            async move { failure(&version, ApiError::not_found("no such route; the service answers GET /s3-buckets, /parameters and /parameters/{name}")) }
        })
        .method_not_allowed_fallback(move || {
            let version = Arc::clone(&version);
            async move {
                failure(
                    &version,
                    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route answers GET only"),
                )
            }
        });
    http::observe(routes, metrics)
}

/// `GET /s3-buckets`: S3 ListBuckets.
async fn s3_buckets(State(state): State<AppState>) -> Response {
    match state.aws.list_buckets().await {
        Ok(buckets) => answer(&state.version, "buckets", &buckets),
        Err(err) => aws_failure(&state.version, err),
    }
}

/// `GET /parameters`: SSM DescribeParameters under the served path.
async fn parameters(State(state): State<AppState>) -> Response {
    match state.aws.describe_parameters(&state.path).await {
        Ok(list) => {
            let mut body = Map::new();
            body.insert("path".into(), state.path.as_str().into());
            body.insert("parameters".into(), to_value(&list.parameters));
            body.insert("truncated".into(), list.truncated.into());
            body.insert(VERSION_FIELD.into(), state.version.as_ref().into());
            http::json(StatusCode::OK, body)
        }
        Err(err) => aws_failure(&state.version, err),
    }
}

/// `GET /parameters/{name}`: SSM GetParameter with decryption; `{name}` is under the path.
async fn parameter(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(name) = match name {
        Ok(name) => name,
        Err(rejection) => {
            return failure(&state.version, ApiError::bad_request(rejection.body_text()))
        }
    };
    let name = match state.path.name(&name) {
        Ok(name) => name,
        Err(err) => return failure(&state.version, ApiError::bad_request(err.to_string())),
    };
    match state.aws.get_parameter(&name).await {
        Ok(value) => answer(&state.version, "parameter", &value),
        Err(err) => aws_failure(&state.version, err),
    }
}

fn answer(version: &str, field: &str, payload: &impl Serialize) -> Response {
    let mut body = Map::new();
    body.insert(field.into(), to_value(payload));
    body.insert(VERSION_FIELD.into(), version.into());
    http::json(StatusCode::OK, body)
}

fn to_value(payload: &impl Serialize) -> Value {
    // Plain structs of strings and numbers: serialising them cannot fail.
    serde_json::to_value(payload).unwrap_or(Value::Null)
}

fn aws_failure(version: &str, err: AwsError) -> Response {
    let error = match &err {
        AwsError::NotFound { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "parameter_not_found",
            err.to_string(),
        ),
        AwsError::Refused { .. } => ApiError::bad_request(err.to_string()),
        AwsError::Denied { .. } => {
            ApiError::dependency("aws", "aws_access_denied", err.to_string())
        }
        AwsError::Unavailable { .. } => {
            ApiError::dependency("aws", "aws_unavailable", err.to_string())
        }
        AwsError::Failed { .. } | AwsError::NoRegion => {
            ApiError::dependency("aws", "aws_failed", err.to_string())
        }
    };
    if error.dependency.is_some() {
        warn!(error = %err, outcome = err.metric_label(), "AWS call failed");
    }
    failure(version, error)
}

fn failure(version: &str, error: ApiError) -> Response {
    let mut body = error.body();
    body.insert(VERSION_FIELD.into(), version.into());
    http::json(error.status, body)
}
