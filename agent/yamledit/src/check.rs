//! The safety net after every edit: the new text is read again, in YAML 1.2 and in YAML 1.1,
//! and must equal the old reading with exactly the edited path set to the new value. Anything
//! else is refused, so a bug in the splice is an error, never a silently changed file.

use crate::error::{Error, Result};
use crate::read::{read_stream, Reader, Schema, V};
use crate::tree::{self, Kind, Node, Stream};
use crate::{path_string, Key};
use serde_json::Value;
use std::collections::HashMap;

pub(crate) fn verify(
    old: (&str, &Stream),
    new: &str,
    doc: usize,
    path: &[Key],
    value: &Value,
) -> Result<()> {
    let fail = |detail: String| Error::Verify {
        path: path_string(path),
        detail,
    };
    let new_stream = tree::parse(new).map_err(|e| fail(format!("it does not parse: {e}")))?;
    if new_stream.docs.len() != old.1.docs.len() {
        return Err(fail(format!(
            "it holds {} documents instead of {}",
            new_stream.docs.len(),
            old.1.docs.len()
        )));
    }
    for schema in [Schema::Yaml12, Schema::Yaml11] {
        let label = match schema {
            Schema::Yaml12 => "YAML 1.2",
            Schema::Yaml11 => "YAML 1.1",
        };
        let before = match read_stream(old.0, old.1, schema) {
            Ok(v) => v,
            // A file YAML 1.1 cannot read (Helm could not either) is checked in YAML 1.2 only.
            Err(_) if schema == Schema::Yaml11 => continue,
            Err(e) => return Err(e),
        };
        let after = read_stream(new, &new_stream, schema)
            .map_err(|e| fail(format!("{label} cannot read it: {e}")))?;
        let keys = keys_in(new, &new_stream.docs[doc].root, path, schema)
            .ok_or_else(|| fail(format!("{label} does not find the path in it")))?;
        let mut expected = before;
        if !set(&mut expected[doc], &keys, V::from_json(value)) {
            return Err(fail(format!(
                "{label}: the old value has no place for the path"
            )));
        }
        if let Some((at, want, got)) = first_difference(&expected, &after, String::new()) {
            let what = if want == got {
                "a different value"
            } else {
                &got
            };
            return Err(fail(format!(
                "in {label}, {} reads {what} where {want} was expected",
                if at.is_empty() { "the document" } else { &at }
            )));
        }
    }
    Ok(())
}

/// The path's map keys as this schema names them (`y:` is the key "true" in YAML 1.1).
fn keys_in(src: &str, root: &Node, path: &[Key], schema: Schema) -> Option<Vec<Key>> {
    let mut r12 = Reader {
        src,
        schema: Schema::Yaml12,
        anchors: HashMap::new(),
    };
    let mut r = Reader {
        src,
        schema,
        anchors: HashMap::new(),
    };
    let mut node = root;
    let mut out = Vec::new();
    for key in path {
        match (key, &node.kind) {
            (Key::Map(k), Kind::Map { entries, .. }) => {
                let (kn, vn) = entries
                    .iter()
                    .find(|(kn, _)| r12.key(kn).ok().as_ref() == Some(k))?;
                out.push(Key::Map(r.key(kn).ok()?));
                node = vn;
            }
            (Key::Index(i), Kind::Seq { items, .. }) => {
                out.push(Key::Index(*i));
                node = items.get(*i)?;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Sets `path` in `target` as the edit means to: missing maps are created, an index equal to the
/// length appends.
fn set(target: &mut V, path: &[Key], value: V) -> bool {
    let Some((key, rest)) = path.split_first() else {
        *target = value;
        return true;
    };
    match key {
        Key::Map(k) => {
            if matches!(target, V::Null) {
                *target = V::Map(Vec::new());
            }
            let V::Map(entries) = target else {
                return false;
            };
            let i = match entries.iter().position(|(x, _)| x == k) {
                Some(i) => i,
                None => {
                    entries.push((k.clone(), V::Null));
                    entries.len() - 1
                }
            };
            set(&mut entries[i].1, rest, value)
        }
        Key::Index(i) => {
            if matches!(target, V::Null) {
                *target = V::Seq(Vec::new());
            }
            let V::Seq(items) = target else {
                return false;
            };
            if *i == items.len() {
                items.push(V::Null);
            }
            match items.get_mut(*i) {
                Some(item) => set(item, rest, value),
                None => false,
            }
        }
    }
}

fn first_difference(want: &[V], got: &[V], at: String) -> Option<(String, String, String)> {
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        let here = if want.len() > 1 {
            format!("{at}(document {})", i + 1)
        } else {
            at.clone()
        };
        if let Some(d) = differ(w, g, here) {
            return Some(d);
        }
    }
    None
}

fn differ(want: &V, got: &V, at: String) -> Option<(String, String, String)> {
    if want == got {
        return None;
    }
    match (want, got) {
        (V::Map(w), V::Map(g)) => {
            for (k, wv) in w {
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match g.iter().find(|(x, _)| x == k) {
                    Some((_, gv)) => {
                        if let Some(d) = differ(wv, gv, here) {
                            return Some(d);
                        }
                    }
                    None => return Some((here, show(wv), "nothing".into())),
                }
            }
            g.iter()
                .find(|(k, _)| !w.iter().any(|(x, _)| x == k))
                .map(|(k, gv)| (format!("{at}.{k}"), "nothing".into(), show(gv)))
        }
        (V::Seq(w), V::Seq(g)) if w.len() == g.len() => w
            .iter()
            .zip(g)
            .enumerate()
            .find_map(|(i, (wv, gv))| differ(wv, gv, format!("{at}[{i}]"))),
        _ => Some((at, show(want), show(got))),
    }
}

/// What a value is, never the value itself: an edit may carry a secret, and this message reaches
/// logs.
fn show(v: &V) -> String {
    match v {
        V::Null => "null",
        V::Bool(_) => "a boolean",
        V::Int(_) => "an integer",
        V::Float(_) => "a float",
        V::Str(_) => "a string",
        V::Seq(_) => "a list",
        V::Map(_) => "a map",
    }
    .to_string()
}
