//! Kubernetes `Status` errors: every failure the server returns is one of these.

use serde_json::{json, Value};

/// An API error as the real server reports it: an HTTP code, a `reason` and a message,
/// serialised as a `v1 Status` object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.details = Some(json!({"name": name, "group": group, "kind": kind}));
        self
    }

    /// `404 NotFound` for a named object of a resource (`deployments.apps "web" not found`).
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, resource)),
        )
        .with_details(group, resource, name)
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, resource)),
        )
        .with_details(group, resource, name)
    }

    /// `409 Conflict` for a stale `resourceVersion` (optimistic concurrency).
    pub fn stale(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(group, resource)
            ),
        )
        .with_details(group, resource, name)
    }

    pub fn invalid(kind: &str, name: &str, message: impl Into<String>) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {}", message.into()),
        )
        .with_details("", kind, name)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn not_found_path(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"))
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// `504 Timeout` for a resourceVersion the server has not reached, as apiserver's
    /// `storage.NewTooLargeResourceVersionError` builds it on apimachinery's `NewTimeoutError`:
    /// the message `Timeout: Too large resource version: N, current: M`, a
    /// `ResourceVersionTooLarge` cause and `retryAfterSeconds` (omitted when 0).
    pub fn too_large_resource_version(requested: u64, current: u64, retry_after: u64) -> Self {
        let mut details = json!({"causes": [{
            "reason": "ResourceVersionTooLarge",
            "message": "Too large resource version",
        }]});
        if retry_after > 0 {
            details["retryAfterSeconds"] = retry_after.into();
        }
        Self {
            code: 504,
            reason: "Timeout",
            message: format!(
                "Timeout: Too large resource version: {requested}, current: {current}"
            ),
            details: Some(details),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `v1 Status` body for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if self.reason.is_empty() {
            status.as_object_mut().map(|m| m.remove("reason"));
        }
        status
    }

    /// Server-side apply's type check failing: structured-merge-diff's plain error, which the
    /// real server answers as a 500 with no reason (kubernetes/kubernetes#122480, #139253).
    pub fn typed_patch(object: &str, gvk: &str, errors: &str) -> Self {
        Self::new(
            500,
            "",
            format!("failed to create typed patch object ({object}; {gvk}): {errors}"),
        )
    }
}

/// `deployments.apps`, or just `pods` for the core group.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// The `Status` a successful delete of a collection or a plain success returns.
pub fn success_status(details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
