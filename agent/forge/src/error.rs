//! The forge's one error type: every variant names the operation and the URL path it came
//! from (never a query string, never a credential) and carries a low-cardinality metric label.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One entry of GitHub's `errors` list on a 422 (`{"resource", "field", "code", "message"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FieldError {
    pub resource: Option<String>,
    pub field: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |o: &Option<String>| o.clone().unwrap_or_default();
        match &self.message {
            Some(m) => write!(f, "{m}"),
            None => write!(
                f,
                "{} {} {}",
                part(&self.resource),
                part(&self.field),
                part(&self.code)
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{operation} {path}: GitHub answered 401 Unauthorized ({message}): the token is missing, expired or revoked, or the App's key or ids are wrong; check the token file or the App settings")]
    Unauthorized {
        operation: &'static str,
        path: String,
        message: String,
    },
    #[error("{operation} {path}: GitHub answered 404 Not Found ({message}): the repository {repository} does not exist or the credentials cannot see it, or the object this request names is missing")]
    NotFound {
        operation: &'static str,
        path: String,
        repository: String,
        message: String,
    },
    #[error("{operation} {path}: GitHub answered 403 Forbidden ({message}): the credentials lack the permission this request needs")]
    Forbidden {
        operation: &'static str,
        path: String,
        message: String,
    },
    #[error("{operation} {path}: the branch is protected and refused the update ({message})")]
    ProtectedBranch {
        operation: &'static str,
        path: String,
        message: String,
    },
    /// A ref update without `force` that GitHub refused because the branch no longer points at
    /// an ancestor of the new commit (422 "Update is not a fast forward"): someone else committed
    /// first. Nothing was lost; the caller re-reads the head and re-applies its change.
    #[error("{operation} {path}: GitHub refused to move {branch} as it is not a fast forward (422): the branch has moved since its head was read; read the head again, re-apply the change on it and commit again")]
    NotFastForward {
        operation: &'static str,
        path: String,
        branch: String,
    },
    #[error("{operation} {path}: GitHub answered 409 Conflict ({message})")]
    Conflict {
        operation: &'static str,
        path: String,
        message: String,
    },
    #[error(
        "{operation} {path}: GitHub refused the request as invalid (422 {message}){}",
        list(errors)
    )]
    Validation {
        operation: &'static str,
        path: String,
        message: String,
        errors: Vec<FieldError>,
    },
    #[error("{operation} {path}: rate limited by GitHub ({}){}", if *secondary { "secondary limit" } else { "primary limit" }, wait(retry_after, reset))]
    RateLimited {
        operation: &'static str,
        path: String,
        secondary: bool,
        /// When the primary limit's window resets (`x-ratelimit-reset`).
        reset: Option<SystemTime>,
        /// What GitHub asked for in `Retry-After`.
        retry_after: Option<Duration>,
    },
    #[error("{operation} {path}: GitHub answered {status} after {attempts} attempts ({message})")]
    Server {
        operation: &'static str,
        path: String,
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("{operation} {path}: GitHub answered an unexpected {status} ({message})")]
    Unexpected {
        operation: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// No answer came: `host` is the API's host (and port), `message` the transport's causes,
    /// outermost first (`error sending request: … : Connection refused (os error 111)`).
    #[error(
        "{operation} {path}: cannot reach GitHub at {host} after {attempts} attempts: {message}"
    )]
    Transport {
        operation: &'static str,
        path: String,
        host: String,
        attempts: u32,
        message: String,
    },
    #[error("{operation} {path}: cannot read GitHub's answer: {message}")]
    Decode {
        operation: &'static str,
        path: String,
        message: String,
    },
    /// The credentials cannot be produced (unreadable token file, bad App key).
    #[error("forge credentials: {0}")]
    Credentials(String),
    /// The client's settings are wrong (bad base URL, empty owner).
    #[error("forge settings: {0}")]
    Config(String),
}

fn list(errors: &[FieldError]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let items: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!(": {}", items.join("; "))
}

fn wait(retry_after: &Option<Duration>, reset: &Option<SystemTime>) -> String {
    if let Some(d) = retry_after {
        return format!(", GitHub asked to retry after {} s", d.as_secs());
    }
    match reset.and_then(|r| r.duration_since(SystemTime::now()).ok()) {
        Some(d) => format!(
            ", the limit resets in {} s, beyond the retry budget",
            d.as_secs()
        ),
        None => String::new(),
    }
}

impl Error {
    /// The `code`-like label for `sextant_forge_errors_total` and the status: a fixed, small set.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "unauthorized",
            Self::NotFound { .. } => "not_found",
            Self::Forbidden { .. } => "forbidden",
            Self::ProtectedBranch { .. } => "protected_branch",
            Self::Conflict { .. } | Self::NotFastForward { .. } => "conflict",
            Self::Validation { .. } => "validation",
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server",
            Self::Unexpected { .. } => "unexpected",
            Self::Transport { .. } => "transport",
            Self::Decode { .. } => "decode",
            Self::Credentials(_) => "credentials",
            Self::Config(_) => "config",
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// The branch moved since the caller read its head ([`Error::NotFastForward`]).
    pub fn is_not_fast_forward(&self) -> bool {
        matches!(self, Self::NotFastForward { .. })
    }

    /// A 422 that says the thing being created is already there (ref, pull request, label).
    pub fn is_already_exists(&self) -> bool {
        match self {
            Self::Validation {
                message, errors, ..
            } => {
                already(message)
                    || errors.iter().any(|e| {
                        e.code.as_deref() == Some("already_exists")
                            || e.message.as_deref().is_some_and(already)
                    })
            }
            _ => false,
        }
    }

    /// Worth retrying later (the caller's next loop), as opposed to a request that will never work.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Transport { .. }
        )
    }

    /// An answer that will be the same however soon the request is repeated, until a person
    /// changes something (the token, the App's permissions, the repository, branch protection):
    /// 401, 403 that is not a rate limit, 404, 422 (but not a lost fast-forward race, which is
    /// re-read and re-applied), any other 4xx, and credentials or settings that cannot be used.
    /// A caller backs off on these instead of repeating them at its loop's pace. Rate limits,
    /// 5xx and transport failures are [`Error::is_transient`]; a 409 or a lost race is neither.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Unauthorized { .. }
            | Self::Forbidden { .. }
            | Self::ProtectedBranch { .. }
            | Self::NotFound { .. }
            | Self::Validation { .. }
            | Self::Credentials(_)
            | Self::Config(_) => true,
            Self::Unexpected { status, .. } => (400..500).contains(status),
            Self::NotFastForward { .. }
            | Self::Conflict { .. }
            | Self::RateLimited { .. }
            | Self::Server { .. }
            | Self::Transport { .. }
            | Self::Decode { .. } => false,
        }
    }
}

/// An error's message and every cause under it, outermost first, each said once: a transport
/// error's `Display` alone is often only "error sending request".
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

fn already(message: &str) -> bool {
    message.to_ascii_lowercase().contains("already exist")
}

/// GitHub's error body: `{"message": ..., "errors": [...], "documentation_url": ...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorBody {
    pub message: String,
    pub errors: Vec<FieldError>,
}

impl ErrorBody {
    pub(crate) fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_else(|_| Self {
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            errors: Vec::new(),
        })
    }

    pub(crate) fn mentions(&self, needle: &str) -> bool {
        let hit = |s: &str| s.to_ascii_lowercase().contains(needle);
        hit(&self.message)
            || self
                .errors
                .iter()
                .any(|e| e.message.as_deref().is_some_and(hit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_request_that_exists_reads_as_already_exists() {
        let body = ErrorBody::parse(
            br#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:b."}]}"#,
        );
        let e = Error::Validation {
            operation: "create_pull",
            path: "/repos/o/r/pulls".into(),
            message: body.message,
            errors: body.errors,
        };
        assert!(e.is_already_exists());
        assert_eq!(e.metric_label(), "validation");
        assert!(e.to_string().contains("A pull request already exists"));
    }

    #[test]
    fn permanent_and_transient_answers_as_a_table() {
        let op = "list_pulls";
        let path = || "/repos/o/r/pulls".to_string();
        let cases: Vec<(Error, bool, bool)> = vec![
            (
                Error::Unauthorized {
                    operation: op,
                    path: path(),
                    message: "Bad credentials".into(),
                },
                true,
                false,
            ),
            (
                Error::Forbidden {
                    operation: op,
                    path: path(),
                    message: "Resource not accessible".into(),
                },
                true,
                false,
            ),
            (
                Error::NotFound {
                    operation: op,
                    path: path(),
                    repository: "o/r".into(),
                    message: "Not Found".into(),
                },
                true,
                false,
            ),
            (
                Error::Validation {
                    operation: op,
                    path: path(),
                    message: "Validation Failed".into(),
                    errors: vec![],
                },
                true,
                false,
            ),
            (
                Error::ProtectedBranch {
                    operation: op,
                    path: path(),
                    message: "protected".into(),
                },
                true,
                false,
            ),
            (
                Error::Unexpected {
                    operation: op,
                    path: path(),
                    status: 405,
                    message: "m".into(),
                },
                true,
                false,
            ),
            (
                Error::Unexpected {
                    operation: op,
                    path: path(),
                    status: 302,
                    message: "m".into(),
                },
                false,
                false,
            ),
            (
                Error::NotFastForward {
                    operation: op,
                    path: path(),
                    branch: "main".into(),
                },
                false,
                false,
            ),
            (
                Error::Conflict {
                    operation: op,
                    path: path(),
                    message: "m".into(),
                },
                false,
                false,
            ),
            (
                Error::RateLimited {
                    operation: op,
                    path: path(),
                    secondary: true,
                    reset: None,
                    retry_after: Some(Duration::from_secs(3)),
                },
                false,
                true,
            ),
            (
                Error::Server {
                    operation: op,
                    path: path(),
                    status: 502,
                    attempts: 5,
                    message: "m".into(),
                },
                false,
                true,
            ),
            (
                Error::Transport {
                    operation: op,
                    path: path(),
                    host: "h".into(),
                    attempts: 5,
                    message: "m".into(),
                },
                false,
                true,
            ),
            (Error::Credentials("unreadable".into()), true, false),
        ];
        for (e, permanent, transient) in cases {
            assert_eq!(e.is_permanent(), permanent, "{e}");
            assert_eq!(e.is_transient(), transient, "{e}");
        }
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn causes_walk_the_source_chain_and_say_each_once() {
        let e = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(Layer(
                    "tcp connect error: Connection refused (os error 111)",
                    Some(Box::new(Layer("Connection refused (os error 111)", None))),
                ))),
            ))),
        );
        assert_eq!(
            causes(&e),
            "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn other_validation_failures_are_not_already_exists() {
        let e = Error::Validation {
            operation: "create_ref",
            path: "/repos/o/r/git/refs".into(),
            message: "Object does not exist".into(),
            errors: vec![],
        };
        assert!(!e.is_already_exists());
    }
}
