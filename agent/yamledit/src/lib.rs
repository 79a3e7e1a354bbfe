//! Format-preserving edits of YAML values files, for the pull requests and commits the agent
//! proposes (drift write-back, promotion's digest bumps). An edit changes exactly the bytes of
//! the value it sets — comments, blank lines, key order, indentation, quoting, anchors and `---`
//! stay as the human wrote them — and is checked by reading the result again: the edited path
//! reads the new value, and everything else reads as before, in YAML 1.2 (the agent) and 1.1
//! (Helm).
//!
//! What an edit does:
//! - **Replacing a scalar** keeps its quoting style when that style still reads as the new value
//!   (`'v1'` → `'v2'`, `"1"` → `"2"`, plain stays plain), else uses the least quoting that does:
//!   plain, else double quotes. A string YAML 1.1 or 1.2 would read as something else (`"5"`,
//!   `"yes"`, `"on"`, `"0755"`, `"1e3"`, `"~"`) is quoted; a number, boolean or null is plain. An
//!   anchor or tag before the value stays; a trailing comment on its line stays.
//! - **A missing key** is inserted after the map's last entry, at the column of its siblings;
//!   maps that do not exist yet are created, indented by the file's own step (the most common
//!   one between nested block maps; 2 when there is none). A key under `key:` (null) or
//!   `key: {}` turns that value into a block map; inside a non-empty flow map (`{a: 1}`) the
//!   entry is added in flow style.
//! - **Maps and lists** are written in block style at that indentation (flow style inside a flow
//!   collection). `Key::Index(i)` replaces item `i`; an index equal to the length appends.
//! - **Refused, with a typed error naming the path:** a path through an alias (`*base`), a key
//!   that only a `<<:` merge provides, a node whose anchor an alias repeats elsewhere, a tagged
//!   scalar, and in a file of several documents a path that more than one (or none) of them has.
//!
//! The splice is in `edit`, the spans it works on in `tree`, the two readings in `read`, the
//! writing of values in `emit`, and the check after every edit in `check`.

mod check;
mod edit;
mod emit;
mod error;
mod read;
mod tree;
pub mod yaml11;

pub use error::{Error, NotJson, Result};

use read::{read_stream, Reader, Schema, V};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;

/// One step of a path: a map key, or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Map(String),
    Index(usize),
}

impl From<&str> for Key {
    fn from(k: &str) -> Key {
        Key::Map(k.to_string())
    }
}

impl From<usize> for Key {
    fn from(i: usize) -> Key {
        Key::Index(i)
    }
}

/// A path from the document's root: `[Map("image"), Map("tag")]` is `image.tag`.
pub type Path = [Key];

/// The dotted form of a path: `image.tag`, `env[2].value`, `annotations["a.b/c"]`; the empty
/// path is `(the document)`.
pub fn path_string(path: &Path) -> String {
    let mut out = String::new();
    for key in path {
        match key {
            Key::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
            Key::Map(k)
                if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || "_-/".contains(c)) =>
            {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Key::Map(k) => {
                let _ = write!(out, "[{}]", Value::String(k.clone()));
            }
        }
    }
    if out.is_empty() {
        out.push_str("(the document)");
    }
    out
}

/// The value at `path` as the agent reads values files (YAML 1.2, merge keys applied, aliases
/// resolved), or `None` when the file does not set it.
pub fn get(doc: &str, path: &Path) -> Result<Option<Value>> {
    get_as(doc, path, Schema::Yaml12)
}

/// The value at `path` as Helm reads the file: YAML 1.1 (`yes` and `on` are `true`, `0755` is
/// 493), as `sigs.k8s.io/yaml` gives it to the chart.
pub fn get_yaml11(doc: &str, path: &Path) -> Result<Option<Value>> {
    get_as(doc, path, Schema::Yaml11)
}

fn get_as(doc: &str, path: &Path, schema: Schema) -> Result<Option<Value>> {
    let stream = tree::parse(doc)?;
    let docs = read_stream(doc, &stream, schema)?;
    let holding: Vec<usize> = (0..docs.len())
        .filter(|&i| lookup(&docs[i], path).is_some())
        .collect();
    let found = match (docs.len(), holding.as_slice()) {
        (_, []) => return Ok(None),
        (_, [one]) => lookup(&docs[*one], path),
        (_, many) => {
            return Err(Error::AmbiguousDocument {
                path: path_string(path),
                found: format!("documents {many:?} all have it (counting from 0)"),
            })
        }
    };
    found
        .map(|v| {
            v.to_json(schema).map_err(|error| Error::NotJson {
                path: path_string(path),
                error,
            })
        })
        .transpose()
}

fn lookup<'v>(v: &'v V, path: &Path) -> Option<&'v V> {
    path.iter().try_fold(v, |v, key| match (key, v) {
        (Key::Map(k), V::Map(m)) => m.iter().find(|(x, _)| x == k).map(|(_, v)| v),
        (Key::Index(i), V::Seq(items)) => items.get(*i),
        _ => None,
    })
}

/// Sets `path` to `value`, changing only the bytes that must change (see the crate's
/// documentation), and checks the result by reading it again.
pub fn set(doc: &str, path: &Path, value: &Value) -> Result<String> {
    if path.is_empty() {
        return Err(Error::Unsupported {
            path: path_string(path),
            reason: "the empty path would replace the whole document; name a key".into(),
        });
    }
    let stream = tree::parse(doc)?;
    if stream.docs.is_empty() {
        return into_empty_file(doc, path, value);
    }
    let index = pick_document(doc, &stream, path)?;
    let found = edit::walk(doc, &stream, &stream.docs[index], path)?;
    let editor = edit::Editor {
        src: doc,
        indent: edit::detect_indent(doc, &stream),
    };
    let out = editor.apply(found, path, value)?;
    check::verify((doc, &stream), &out, index, path, value)?;
    Ok(out)
}

/// Applies several edits in order, each to the result of the one before and each checked.
pub fn apply(doc: &str, edits: &[(Vec<Key>, Value)]) -> Result<String> {
    edits
        .iter()
        .try_fold(doc.to_string(), |text, (path, value)| {
            set(&text, path, value)
        })
}

/// A file of comments only (or nothing): the value goes at its end, at the left margin.
fn into_empty_file(doc: &str, path: &Path, value: &Value) -> Result<String> {
    let tree = edit::nest(path, 0, value)?;
    let mut out = doc.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for line in emit::block_lines(&tree, 0, emit::Indent { step: 2, seq: 2 }) {
        out.push_str(&line);
        out.push('\n');
    }
    let stream = tree::parse(&out)?;
    let empty = tree::Stream {
        docs: vec![tree::Doc {
            root: tree::empty_at(0),
        }],
        aliases: Vec::new(),
    };
    if stream.docs.len() != 1 {
        return Err(Error::Verify {
            path: path_string(path),
            detail: "the new document does not read as one document".into(),
        });
    }
    check::verify(("", &empty), &out, 0, path, value)?;
    Ok(out)
}

/// The document an edit goes to: the only one, or in a file of several, the only one that has
/// the path's first key (or index).
fn pick_document(doc: &str, stream: &tree::Stream, path: &Path) -> Result<usize> {
    let non_empty: Vec<usize> = (0..stream.docs.len())
        .filter(|&i| !stream.docs[i].root.is_null())
        .collect();
    match non_empty.as_slice() {
        [] => return Ok(0),
        [one] => return Ok(*one),
        _ => {}
    }
    let mut reader = Reader {
        src: doc,
        schema: Schema::Yaml12,
        anchors: HashMap::new(),
    };
    let mut holding = Vec::new();
    for &i in &non_empty {
        let v = reader.node(&stream.docs[i].root)?;
        if lookup(&v, &path[..1]).is_some() {
            holding.push(i);
        }
    }
    match holding.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::AmbiguousDocument {
            path: path_string(path),
            found: format!(
                "none of its {} documents has {}, so the new key has no obvious place",
                non_empty.len(),
                path_string(&path[..1])
            ),
        }),
        many => Err(Error::AmbiguousDocument {
            path: path_string(path),
            found: format!("documents {many:?} all have it (counting from 0)"),
        }),
    }
}

#[cfg(test)]
mod tests;
