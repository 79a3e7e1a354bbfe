//! An error answer GitHub gave, read into the typed [`Error`] that says what to do about it.

use reqwest::StatusCode;

use super::Transport;
use crate::error::{Error, ErrorBody};

impl Transport {
    pub(super) fn classify(
        &self,
        operation: &'static str,
        path: &str,
        status: StatusCode,
        err: ErrorBody,
    ) -> Error {
        let path = path.to_string();
        // Classic branch protection ("Protected branch update failed", "Cannot delete this protected
        // branch") and rulesets ("Repository rule violations found").
        let protected = err.mentions("protected branch")
            || err.mentions("protected ref")
            || err.mentions("repository rule violation");
        let message = err.message;
        match status.as_u16() {
            401 => Error::Unauthorized {
                operation,
                path,
                message,
            },
            403 | 422 if protected => Error::ProtectedBranch {
                operation,
                path,
                message,
            },
            403 => Error::Forbidden {
                operation,
                path,
                message,
            },
            404 => Error::NotFound {
                operation,
                path,
                repository: format!("{}/{}", self.owner, self.repo),
                message,
            },
            409 => Error::Conflict {
                operation,
                path,
                message,
            },
            422 => Error::Validation {
                operation,
                path,
                message,
                errors: err.errors,
            },
            s => Error::Unexpected {
                operation,
                path,
                status: s,
                message,
            },
        }
    }
}
