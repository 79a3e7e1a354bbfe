//! What can be wrong with an environment file, each error naming the file and the field a human
//! has to fix.

use super::contain;
use crate::yaml;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown environment {name:?}: {file} does not exist (known environments: {known})")]
    Unknown {
        name: String,
        file: PathBuf,
        known: String,
    },
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file} is {size} bytes, over the {limit} bytes a file of the repository may have; the agent left it out of the checkout and cannot render {environment} without it. Make the file smaller, or move what is large out of the environment's charts and values")]
    TooLarge {
        environment: String,
        file: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{file}: invalid YAML: {error}")]
    Syntax {
        file: PathBuf,
        error: yaml::YamlError,
    },
    #[error("{file}: field `{field}`: {problem}")]
    Invalid {
        file: PathBuf,
        field: String,
        problem: Problem,
    },
}

/// What is wrong with a field of an environment file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The value breaks a rule of the file: the schema, a name, a reference to a release or an
    /// environment, a duration's or a percentage's form.
    #[error("{0}")]
    Value(String),
    #[error(transparent)]
    OutOfRange(#[from] yaml::OutOfRange),
    /// A file or chart the field names is missing, leaves the repository, or cannot be read.
    #[error(transparent)]
    Path(#[from] contain::PathError),
    /// A values key the field names cannot be looked up in the release's values files.
    #[error(transparent)]
    Values(#[from] ValuesError),
}

/// A field (as the user writes it, `spec.releases[0].wave`) and what is wrong with it; the
/// file is added where it is known ([`Invalid::at`]).
#[derive(Debug)]
pub(crate) struct Invalid {
    field: String,
    problem: Problem,
}

impl Invalid {
    pub(super) fn new(field: impl Into<String>, problem: impl Into<Problem>) -> Self {
        Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// A value breaking a rule, `message` saying which.
    pub(super) fn value(field: impl Into<String>, message: String) -> Self {
        Invalid::new(field, Problem::Value(message))
    }

    pub(super) fn at(self, file: &Path) -> Error {
        Error::Invalid {
            file: file.to_path_buf(),
            field: self.field,
            problem: self.problem,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A values key that is not written `image.digest` or `containers[0].image`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{key:?} is not a values key such as image.digest")]
    NotAKey { key: String },
    #[error("{key:?}: [{index} is not a list index such as [0]")]
    NotAnIndex { key: String, index: String },
}

/// Why a key's value could not be looked up in a release's values files: the key is malformed
/// or a file is not YAML (the user's to fix), or a file cannot be read (the machine's).
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{}: cannot read: {error}", file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", file.display())]
    Yaml {
        file: PathBuf,
        error: sextant_yamledit::Error,
    },
}
