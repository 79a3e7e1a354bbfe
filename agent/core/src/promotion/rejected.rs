//! `environments/<target>/rejected.yaml`: the digests a target rolled back from. The revert
//! after a rollback adds an entry; the source's agent never proposes a digest listed there
//! again. A human clears one by deleting its entry: a commit, reviewed like any other.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "rejected.yaml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub release: String,
    pub digest: String,
    /// The target's revision that failed.
    #[serde(default)]
    pub revision: String,
    /// RFC 3339.
    #[serde(default)]
    pub at: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    rejected: Vec<Rejection>,
}

/// The repository path of a target's file.
pub fn path(target: &str) -> String {
    format!(
        "{}/{target}/{FILE_NAME}",
        crate::environment::ENVIRONMENTS_DIR
    )
}

/// Why a target's rejections could not be read: the file is broken (a human's to fix) or the
/// machine could not read it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {error}", file.display())]
    Broken { file: PathBuf, error: ParseError },
    #[error("{}: cannot read: {error}", file.display())]
    Unreadable {
        file: PathBuf,
        error: std::io::Error,
    },
}

/// What is wrong with the text of a rejections file.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("invalid YAML: {0}")]
    Yaml(crate::yaml::YamlError),
    #[error("field `rejected`: {0}")]
    Field(serde_json::Error),
}

/// The rejections in a repository checkout; a missing file is none. A broken file is an error
/// naming it: rejections are never silently dropped.
pub fn read(repo: &Path, target: &str) -> Result<Vec<Rejection>, ReadError> {
    let file = repo.join(path(target));
    match std::fs::read_to_string(&file) {
        Ok(text) => parse(&text).map_err(|error| ReadError::Broken { file, error }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(ReadError::Unreadable { file, error }),
    }
}

pub fn parse(text: &str) -> Result<Vec<Rejection>, ParseError> {
    let v = crate::yaml::parse(text).map_err(ParseError::Yaml)?;
    if v.is_null() {
        return Ok(Vec::new());
    }
    serde_json::from_value::<File>(v)
        .map(|f| f.rejected)
        .map_err(ParseError::Field)
}

/// `text` (the file now, if any) with `r` appended, the rest of it byte for byte as it was.
pub fn append(text: Option<&str>, target: &str, r: &Rejection) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let entry = |indent: &str| {
        format!(
            "{indent}- release: {}\n{indent}  digest: {}\n{indent}  revision: {}\n{indent}  at: {}\n{indent}  reason: {}\n",
            q(&r.release),
            q(&r.digest),
            q(&r.revision),
            q(&r.at),
            q(&r.reason)
        )
    };
    let fresh = || {
        format!(
            "# Digests {target} rolled back from, written by sextant. None of them is promoted to {target}\n\
             # again: delete an entry to allow its digest once more.\nrejected:\n{}",
            entry("  ")
        )
    };
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return fresh();
    };
    // The list is the file's last block: append an item at the indent its items use.
    let mut out = text.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if let Some(at) = out.find("rejected: []") {
        out.replace_range(at..at + "rejected: []".len(), "rejected:");
    }
    let indent = out
        .lines()
        .skip_while(|l| !l.starts_with("rejected:"))
        .skip(1)
        .find_map(|l| {
            let t = l.trim_start();
            t.starts_with("- ")
                .then(|| l[..l.len() - t.len()].to_string())
        })
        .unwrap_or_else(|| "  ".into());
    out.push_str(&entry(&indent));
    match parse(&out) {
        Ok(list) if list.last() == Some(r) => out,
        // A file laid out otherwise (the list not last): written afresh with every entry kept.
        _ => {
            let mut all = parse(text).unwrap_or_default();
            let mut s = fresh();
            all.retain(|x| x != r);
            for x in all {
                s = append(Some(&s), target, &x);
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(digest: &str) -> Rejection {
        Rejection {
            release: "hash-service".into(),
            digest: digest.into(),
            revision: "abc".into(),
            at: "2026-12-01T10:00:00Z".into(),
            reason: "wave 2: Deployment hash-service/hash-service is degraded: \"ProgressDeadlineExceeded\"".into(),
        }
    }

    #[test]
    fn a_first_rejection_makes_the_file_and_reads_back() {
        let text = append(None, "prod", &r("sha256:a"));
        assert_eq!(parse(&text).unwrap(), vec![r("sha256:a")]);
        assert!(
            text.starts_with("# Digests prod rolled back from"),
            "{text}"
        );
    }

    #[test]
    fn a_second_keeps_the_file_as_written_and_its_indent() {
        let human = "# ours\nrejected:\n- release: hash-service   # kept\n  digest: sha256:a\n";
        let text = append(Some(human), "prod", &r("sha256:b"));
        assert!(text.starts_with(human), "{text}");
        let list = parse(&text).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1], r("sha256:b"));
    }

    #[test]
    fn an_emptied_list_takes_a_new_entry() {
        let text = append(Some("rejected: []\n"), "prod", &r("sha256:c"));
        assert_eq!(parse(&text).unwrap(), vec![r("sha256:c")]);
    }

    #[test]
    fn a_broken_file_is_an_error_not_an_empty_list() {
        assert!(parse("rejected: {digest: 1}\n").is_err());
        assert!(parse("rejected: [\n").is_err());
    }
}
