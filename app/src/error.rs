//! Error responses: every failure the service answers is a JSON body `{"error", "message"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::digest::InputTooLong;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    /// Stable machine-readable code, e.g. `not_found`.
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: "no such route; the service answers GET /hash/{input}".into(),
        }
    }

    pub fn method_not_allowed() -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: "this route answers GET only".into(),
        }
    }

    /// An error asked for by `FAULT_ERROR_PERCENT` (see `faults.rs`).
    pub fn injected() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "injected_fault",
            message: "an error injected by FAULT_ERROR_PERCENT".into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }
}

impl From<InputTooLong> for ApiError {
    fn from(err: InputTooLong) -> Self {
        Self {
            status: StatusCode::URI_TOO_LONG,
            code: "input_too_long",
            message: err.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}
