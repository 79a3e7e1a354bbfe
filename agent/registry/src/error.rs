//! The one error type of a verification: each refusal names the repository and the digest, says
//! what was found, and carries its own metric label. No message ever holds a credential: the
//! registry's answers are quoted, the credentials file is only named.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{digest:?} is not a digest: it must be sha256: and 64 lowercase hex digits")]
    BadDigest { digest: String },

    #[error("{repository:?} is not an image repository: {message}")]
    BadRepository { repository: String, message: String },

    #[error("{repository}@{digest} is not in the registry: build and push it, or fix the digest")]
    NotFound { repository: String, digest: String },

    #[error(
        "{repository}@{digest}: the registry answered bytes whose sha256 is {actual}, not the \
         digest asked for; refusing them"
    )]
    Mismatch {
        repository: String,
        digest: String,
        actual: String,
    },

    #[error("{repository}@{digest} has no image for {wanted}; it has {}", found_list(.found))]
    WrongPlatform {
        repository: String,
        digest: String,
        wanted: String,
        found: Vec<String>,
    },

    #[error(
        "{repository}: the registry refused access ({message}); check the registry credentials"
    )]
    Unauthorized { repository: String, message: String },

    #[error("{repository}: cannot reach the registry: {message}")]
    Unreachable { repository: String, message: String },

    #[error("{repository}: the registry answered {code}: {message}")]
    Registry {
        repository: String,
        /// The HTTP status, the registry's error code or the ECR exception.
        code: String,
        message: String,
    },

    #[error("{}: cannot read registry credentials: {problem}", .file.display())]
    Credentials {
        file: PathBuf,
        problem: CredentialsError,
    },
}

/// What is wrong with a registry credentials file. It names where, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The machine could not read the file (a missing mount, permissions): the I/O error's
    /// text, as `std::io::Error` is neither `Clone` nor `Eq`.
    #[error("{0}")]
    Unreadable(String),
    #[error("not a docker config.json (line {line}, column {column})")]
    NotConfigJson { line: usize, column: usize },
    #[error("auths.{host}.auth is not base64 of user:password")]
    BadAuth { host: String },
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        "no platform at all".to_string()
    } else {
        found.join(", ")
    }
}

impl Error {
    /// A short, fixed label for metrics and status (`not_found`, `mismatch`, …).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::BadDigest { .. } => "bad_digest",
            Error::BadRepository { .. } => "bad_repository",
            Error::NotFound { .. } => "not_found",
            Error::Mismatch { .. } => "mismatch",
            Error::WrongPlatform { .. } => "wrong_platform",
            Error::Unauthorized { .. } => "unauthorized",
            Error::Unreachable { .. } => "unreachable",
            Error::Registry { .. } => "registry",
            Error::Credentials { .. } => "credentials",
        }
    }

    /// Whether asking again later may succeed without anyone changing anything: the registry was
    /// unreachable, throttled or failing. A missing, mismatched or wrong-platform digest is an
    /// answer, not a blip.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Registry { code, .. } => transient_code(code),
            _ => false,
        }
    }
}

/// 429, 5xx, and the ECR exceptions that mean the same.
fn transient_code(code: &str) -> bool {
    match code.parse::<u16>() {
        Ok(status) => status == 429 || (500..600).contains(&status),
        Err(_) => matches!(
            code,
            "TOOMANYREQUESTS"
                | "ThrottlingException"
                | "ServerException"
                | "ServiceUnavailableException"
                | "LimitExceededException"
        ),
    }
}

/// An error and its causes on one line ("…: Connection refused (os error 111)").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_repository_the_digest_and_what_to_do() {
        let e = Error::WrongPlatform {
            repository: "r.example/app".into(),
            digest: "sha256:ab".into(),
            wanted: "linux/amd64".into(),
            found: vec!["linux/arm64".into(), "linux/s390x".into()],
        };
        assert_eq!(
            e.to_string(),
            "r.example/app@sha256:ab has no image for linux/amd64; it has linux/arm64, linux/s390x"
        );
        let none = Error::WrongPlatform {
            repository: "r/app".into(),
            digest: "sha256:ab".into(),
            wanted: "linux/amd64".into(),
            found: vec![],
        };
        assert!(none.to_string().ends_with("it has no platform at all"));
        assert_eq!(e.metric_label(), "wrong_platform");
    }

    #[test]
    fn only_unreachable_throttled_and_failing_registries_are_transient() {
        let reg = |code: &str| Error::Registry {
            repository: "r".into(),
            code: code.into(),
            message: String::new(),
        };
        assert!(reg("503").is_transient());
        assert!(reg("429").is_transient());
        assert!(reg("ThrottlingException").is_transient());
        assert!(!reg("400").is_transient());
        assert!(!reg("InvalidParameterException").is_transient());
        assert!(Error::Unreachable {
            repository: "r".into(),
            message: "refused".into()
        }
        .is_transient());
        assert!(!Error::NotFound {
            repository: "r".into(),
            digest: "d".into()
        }
        .is_transient());
    }
}
