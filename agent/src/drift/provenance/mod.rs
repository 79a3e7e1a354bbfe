//! Provenance: from a drifted field to the values key a human edits — pure over renders.
//!
//! Helm has no map from output back to values, so the map is found by experiment: the release is
//! re-rendered with candidate leaves of its effective values changed to typed sentinels, and the
//! fields that move name the keys that produce them. Candidates come first from the leaves whose
//! value equals (or is embedded in) Git's value at the drifted path; when none of them moves the
//! field, a wide render perturbs every other leaf at once and bisects. The new value is read off
//! the sentinel's position in the rendered field, then proved: a render with every proposed value
//! must equal live on the drifted fields and change nothing else that is not live. The renderer
//! is the only edge; each perturbation is an extra, last values file, so the render cache keys on
//! it like any other.

mod forward;
mod leaves;
mod propose;
mod prove;
mod search;
mod session;
mod solve;

use crate::environment::{Environment, Release};
use crate::object::ObjectRef;
use crate::render::{self, Renderer};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;

pub use forward::{moved_keys, KeyMove};
pub use prove::{Proof, ProofFailure, Why};

/// At most this many helm invocations per mapping.
pub const MAX_RENDERS: usize = 64;
/// At most this many candidate leaves per mapping.
pub const MAX_CANDIDATES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Render(#[from] render::Error),
    #[error(
        "environment {environment}, release {release}: cannot write a values overlay: {source}"
    )]
    Overlay {
        environment: String,
        release: String,
        source: std::io::Error,
    },
    #[error("environment {environment}, release {release}: {file} is not one of the release's values files")]
    NotAValuesFile {
        environment: String,
        release: String,
        file: PathBuf,
    },
    #[error("environment {environment}, release {release}: Git's own render fails, so nothing can be mapped: {source}")]
    Baseline {
        environment: String,
        release: String,
        source: render::Error,
    },
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Render(_) | Error::Baseline { .. } => "render",
            Error::Overlay { .. } => "overlay",
            Error::NotAValuesFile { .. } => "values_file",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One step of a values key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// `image.tag`, `env[2].value`; keys that are not plain words are quoted: `labels["a.b/c"]`.
pub fn dotted(key: &[Segment]) -> String {
    let mut out = String::new();
    for s in key {
        match s {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(k) if is_word(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Key(k) => out.push_str(&format!("[{k:?}]")),
        }
    }
    out
}

fn is_word(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// One edit of a values file that brings Git to what is live.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValuesEdit {
    pub key: Vec<Segment>,
    pub dotted: String,
    /// The values file that gets the edit: the last of the release's files that sets the key,
    /// or, when only the chart's defaults set it, the release's last values file.
    pub file: PathBuf,
    /// What the effective values hold now (`None`: nothing sets it).
    pub old: Option<Value>,
    pub new: Value,
    /// Only the chart's defaults set the key; the edit adds it to `file`.
    pub from_defaults: bool,
    /// `file` is SOPS-encrypted and its rules encrypt the key: the value is written encrypted,
    /// and shown nowhere.
    pub encrypted: bool,
    /// The rendered fields this key moves (object, JSON pointer).
    pub fields: Vec<(ObjectRef, String)>,
}

/// A drifted field that no values edit can bring into Git.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmapped {
    pub object: ObjectRef,
    pub pointer: String,
    pub git: Value,
    pub live: Option<Value>,
    pub reason: Reason,
}

/// Why a field is not mapped.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum Reason {
    /// The object was deleted live: there is no live value to keep.
    Deleted,
    /// The field was removed live; values can only set fields.
    RemovedLive,
    /// No leaf of the effective values moves the field.
    NoValuesKey,
    /// The field moves with these keys, but is computed from them in a template and the live
    /// value is not producible by any value of them.
    Computed { keys: Vec<String> },
    /// The field embeds these keys around literal text the live value does not have.
    NotProducible { keys: Vec<String>, pattern: String },
    /// The key's type cannot hold the live value.
    Type {
        key: String,
        expected: &'static str,
        live: &'static str,
    },
    /// The key also moves fields whose live value is still Git's.
    MovesOtherFields { key: String, fields: Vec<String> },
    /// Drifted fields want different values of one key.
    Conflict { key: String, values: Vec<Value> },
    /// The render with the proposed values does not equal live.
    ProofFailed {
        keys: Vec<String>,
        failures: Vec<String>,
    },
    /// The search hit its bound of renders or candidates.
    Bound { renders: usize },
    /// The release has no values file for an edit to go into.
    NoValuesFile { key: String },
    /// The key is encrypted in a SOPS file that no key here opens: the new value cannot be
    /// written encrypted.
    Sealed {
        key: String,
        file: String,
        why: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Deleted => f.write_str("the object was deleted live"),
            Reason::RemovedLive => f.write_str("the field was removed live; a values key can only set it"),
            Reason::NoValuesKey => f.write_str("no values key controls it"),
            Reason::Computed { keys } if keys.len() == 1 => write!(
                f,
                "computed in a template from {} (the live value is not producible by any value of it)",
                keys[0]
            ),
            Reason::Computed { keys } => write!(
                f,
                "computed in a template from {} (each moves it; no value of one of them alone is proposed)",
                keys.join(", ")
            ),
            Reason::NotProducible { keys, pattern } => write!(
                f,
                "rendered as {pattern} from {}; the live value does not have that shape",
                keys.join(", ")
            ),
            Reason::Type { key, expected, live } => {
                write!(f, "type: live is {live} where the key {key} is {expected}")
            }
            Reason::MovesOtherFields { key, fields } => write!(
                f,
                "key {key} moves other fields that are not live: {}",
                fields.join(", ")
            ),
            Reason::Conflict { key, values } => write!(
                f,
                "the drifted fields want different values of {key}: {}",
                values.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")
            ),
            Reason::ProofFailed { keys, failures } => write!(
                f,
                "the render with {} does not equal live: {}",
                keys.join(", "),
                failures.join("; ")
            ),
            Reason::Bound { renders } => write!(
                f,
                "the search stopped at its bound ({renders} renders, {MAX_CANDIDATES} candidates)"
            ),
            Reason::NoValuesFile { key } => write!(
                f,
                "key {key} is set only by the chart's defaults and the release has no values file"
            ),
            Reason::Sealed { key, file, why } => write!(
                f,
                "key {key} is encrypted in {file}, and the agent cannot write it encrypted: {why}"
            ),
        }
    }
}

/// Whether `key` is encrypted in the SOPS values file `file` (false for a plain file).
pub fn encrypted_key(file: &std::path::Path, key: &[Segment]) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    if !text.contains("sops:") {
        return false;
    }
    let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) else {
        return false;
    };
    let names: Vec<String> = key
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.clone()),
            Segment::Index(_) => None,
        })
        .collect();
    sextant_sops::encrypts(&doc, &names)
}

/// The answer for one release's drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mapping {
    pub edits: Vec<ValuesEdit>,
    pub unmapped: Vec<Unmapped>,
    /// helm invocations actually run (render cache hits not counted).
    pub renders: usize,
    /// The render with every edit, against live.
    pub proof: Proof,
}

impl Mapping {
    /// The drifted fields the edits bring to live, for [`prove_with_files`].
    pub fn targets(&self) -> Vec<(ObjectRef, String)> {
        let mut out: Vec<(ObjectRef, String)> = Vec::new();
        for f in self.edits.iter().flat_map(|e| &e.fields) {
            if !out.contains(f) {
                out.push(f.clone());
            }
        }
        out
    }
}

/// How much one mapping may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// helm invocations (render cache hits are free).
    pub renders: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            renders: MAX_RENDERS,
        }
    }
}

/// Maps a release's drift to values edits. Drift of other releases is left out. `live` holds
/// the release's live objects (as the API server returns them); the proof compares against them.
/// Unmapped fields carry Git's and the live value as they are: mask Secrets before publishing.
pub fn map(
    renderer: &Renderer,
    env: &Environment,
    release: &Release,
    drift: &[super::ObjectDrift],
    live: &[Value],
) -> Result<Mapping> {
    map_limited(renderer, env, release, drift, live, Limits::default())
}

/// [`map`] within explicit limits.
pub fn map_limited(
    renderer: &Renderer,
    env: &Environment,
    release: &Release,
    drift: &[super::ObjectDrift],
    live: &[Value],
    limits: Limits,
) -> Result<Mapping> {
    let mut session = session::Session::new(renderer, env, release, limits.renders)?;
    let outcome = search::run(&mut session, drift, live)?;
    Ok(Mapping {
        edits: outcome.edits,
        unmapped: outcome.unmapped,
        renders: session.renders(),
        proof: outcome.proof,
    })
}

/// Proves edited values files: renders the release with each `(file, content)` in place of that
/// values file and checks `targets` equal live and nothing else changes that is not live.
pub fn prove_with_files(
    renderer: &Renderer,
    env: &Environment,
    release: &Release,
    replaced: &[(PathBuf, String)],
    targets: &[(ObjectRef, String)],
    live: &[Value],
) -> Result<Proof> {
    let mut session = session::Session::new(renderer, env, release, MAX_RENDERS)?;
    let proved = session.render_replaced(replaced)?;
    Ok(prove::check(
        session.baseline(),
        &proved,
        targets,
        &prove::LiveIndex::new(live),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_helm_users_write_them() {
        let k = |s: &str| Segment::Key(s.into());
        assert_eq!(dotted(&[k("image"), k("tag")]), "image.tag");
        assert_eq!(
            dotted(&[k("env"), Segment::Index(2), k("value")]),
            "env[2].value"
        );
        assert_eq!(
            dotted(&[k("podLabels"), k("app.kubernetes.io/part-of")]),
            "podLabels[\"app.kubernetes.io/part-of\"]"
        );
    }
}
