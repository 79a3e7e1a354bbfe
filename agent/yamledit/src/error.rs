//! The editor's one error type: each variant names the dotted path it is about (`image.tag`,
//! `env[2].value`) and says what to do instead.

/// What went wrong with a read or an edit. `path` is the dotted form of the path asked for, up to
/// the component that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("YAML syntax error at line {line} column {column}: {message}")]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path} is {found}, not a map, so it has no key {key:?}")]
    NotAMap {
        path: String,
        key: String,
        found: &'static str,
    },
    #[error("{path} is {found}, not a list, so it has no index {index}")]
    NotAList {
        path: String,
        index: usize,
        found: &'static str,
    },
    #[error("{path} has {len} items: index {index} is past the end (index {len} appends)")]
    IndexOutOfRange {
        path: String,
        index: usize,
        len: usize,
    },
    #[error(
        "{path} goes through the alias *{alias}: editing it would change the anchor &{alias} \
         and every other place that uses it; edit the anchor's own path, or replace the alias"
    )]
    Alias { path: String, alias: String },
    #[error(
        "{path} comes from a `<<:` merge: editing it would change the merged map and everything \
         else that merges it; set the key explicitly in the map, or edit the merged map's own path"
    )]
    Merge { path: String },
    #[error(
        "{path} lies in the node anchored &{anchor}, which the alias *{anchor} repeats elsewhere: \
         the edit would change every copy; edit where the alias is used, or remove the alias first"
    )]
    Anchor { path: String, anchor: String },
    #[error(
        "{path} is ambiguous in this multi-document file: {found}; edit a file with one document"
    )]
    AmbiguousDocument { path: String, found: String },
    #[error("{path}: {reason}")]
    Unsupported { path: String, reason: String },
    /// The value at `path` reads as something JSON cannot hold.
    #[error("{path}: {error}")]
    NotJson { path: String, error: NotJson },
    #[error(
        "{path}: the edited file does not read back as intended ({detail}); the edit was not made"
    )]
    Verify { path: String, detail: String },
}

/// A value read from YAML that has no JSON form.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotJson {
    #[error("{0} is out of the range of a JSON number")]
    OutOfRange(i128),
    /// NaN or an infinity, read as YAML 1.1.
    #[error("{0} has no JSON form")]
    NotFinite(f64),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A short, stable label for metrics and logs (`not_a_map`, `alias`, …).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Parse { .. } => "parse",
            Error::NotAMap { .. } => "not_a_map",
            Error::NotAList { .. } => "not_a_list",
            Error::IndexOutOfRange { .. } => "index_out_of_range",
            Error::Alias { .. } => "alias",
            Error::Merge { .. } => "merge",
            Error::Anchor { .. } => "anchor",
            Error::AmbiguousDocument { .. } => "ambiguous_document",
            // A value JSON cannot hold is one of the things the editor does not support: one
            // label for both, as before the two were told apart.
            Error::Unsupported { .. } | Error::NotJson { .. } => "unsupported",
            Error::Verify { .. } => "verify",
        }
    }
}
