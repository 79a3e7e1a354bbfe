//! Provenance forwards, for a preview: the values keys a change moves in one release (its
//! effective values at the base against the head's), and the rendered fields each key moves on
//! its own — the head rendered with that one key set back to the base's value (an overlay, as
//! the backward search renders them; one render per key, bounded).

use super::session::{Outcome, Session};
use super::{dotted, Result, Segment};
use crate::compare;
use crate::environment::{Environment, Release};
use crate::object::ObjectRef;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// One values key the change moves.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyMove {
    pub key: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Each field the key alone moves: the object and a JSON pointer into it.
    pub fields: Vec<(ObjectRef, String)>,
}

/// The keys of `head_release`'s effective values that differ from `base_release`'s (a leaf is a
/// scalar or a list), at most `max_keys` of them with the fields each moves; and how many more
/// keys changed than were followed.
pub fn moved_keys(
    renderer: &crate::render::Renderer,
    (base_env, base_release): (&Environment, &Release),
    (head_env, head_release): (&Environment, &Release),
    max_keys: usize,
) -> Result<(Vec<KeyMove>, usize)> {
    let base = Session::new(renderer, base_env, base_release, 0)?;
    let mut head = Session::new(renderer, head_env, head_release, max_keys)?;
    let mut changed = Vec::new();
    leaf_changes(
        &base.effective,
        &head.effective,
        &mut Vec::new(),
        &mut changed,
    );
    let left_out = changed.len().saturating_sub(max_keys);
    let mut moves = Vec::new();
    for (path, before, after) in changed.into_iter().take(max_keys) {
        // Helm deletes a key an overlay sets to null: the base's absence, restored.
        let overlay = nested(&path, before.clone().unwrap_or(Value::Null));
        let fields = match head.render_overlay(&overlay)? {
            Outcome::Rendered(reverted) => moved_fields(head.baseline(), &reverted),
            // helm refuses the head with this one key back (a schema tying keys together).
            Outcome::Failed | Outcome::Bound => Vec::new(),
        };
        moves.push(KeyMove {
            key: dotted(&path),
            before,
            after,
            fields,
        });
    }
    Ok((moves, left_out))
}

/// The leaves (scalars and lists) where `base` and `head` differ, in key order.
fn leaf_changes(
    base: &Value,
    head: &Value,
    path: &mut Vec<Segment>,
    out: &mut Vec<(Vec<Segment>, Option<Value>, Option<Value>)>,
) {
    if let (Value::Object(b), Value::Object(h)) = (base, head) {
        let keys: BTreeSet<&String> = b.keys().chain(h.keys()).collect();
        for k in keys {
            path.push(Segment::Key(k.clone()));
            match (b.get(k), h.get(k)) {
                (Some(bv), Some(hv)) => leaf_changes(bv, hv, path, out),
                (bv, hv) => out.push((path.clone(), bv.cloned(), hv.cloned())),
            }
            path.pop();
        }
    } else if base != head {
        out.push((path.clone(), Some(base.clone()), Some(head.clone())));
    }
}

/// `{a: {b: value}}` for the path `a.b`.
fn nested(path: &[Segment], value: Value) -> Value {
    path.iter()
        .rev()
        .fold(value, |inner, segment| match segment {
            Segment::Key(k) => Value::Object(Map::from_iter([(k.clone(), inner)])),
            Segment::Index(_) => inner,
        })
}

/// The fields that differ between the head's objects and the reverted render's, either way; an
/// object only one side renders is moved whole (`""`).
fn moved_fields(
    head: &super::session::Objects,
    reverted: &super::session::Objects,
) -> Vec<(ObjectRef, String)> {
    let refs: BTreeSet<&ObjectRef> = head.keys().chain(reverted.keys()).collect();
    let mut out = Vec::new();
    for r in refs {
        match (head.get(r), reverted.get(r)) {
            (Some(h), Some(b)) => {
                let paths: BTreeSet<String> = compare::differences(h, b)
                    .into_iter()
                    .chain(compare::differences(b, h))
                    .map(|d| d.path)
                    .collect();
                out.extend(paths.into_iter().map(|p| (r.clone(), p)));
            }
            _ => out.push((r.clone(), String::new())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_leaves_are_scalars_and_lists_added_removed_or_changed() {
        let base = json!({"replicaCount": 3, "image": {"tag": "1", "repo": "r"}, "args": ["a"], "gone": 1});
        let head = json!({"replicaCount": 3, "image": {"tag": "2", "repo": "r"}, "args": ["a", "b"], "new": {"x": true}});
        let mut out = Vec::new();
        leaf_changes(&base, &head, &mut Vec::new(), &mut out);
        let said: Vec<(String, Option<Value>, Option<Value>)> = out
            .into_iter()
            .map(|(p, b, h)| (dotted(&p), b, h))
            .collect();
        assert_eq!(
            said,
            [
                ("args".into(), Some(json!(["a"])), Some(json!(["a", "b"]))),
                ("gone".into(), Some(json!(1)), None),
                ("image.tag".into(), Some(json!("1")), Some(json!("2"))),
                ("new".into(), None, Some(json!({"x": true}))),
            ]
        );
        assert_eq!(
            nested(
                &[Segment::Key("image".into()), Segment::Key("tag".into())],
                json!("1")
            ),
            json!({"image": {"tag": "1"}})
        );
    }
}
