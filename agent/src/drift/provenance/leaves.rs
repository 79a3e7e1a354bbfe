//! The leaves of the effective values, how a leaf's value compares with a rendered field, the
//! typed sentinels a leaf is perturbed with, and values overlays — pure.

use super::Segment;
use kube_canonical::quantity;
use serde_json::{Map, Number, Value};

/// A scalar of the effective values, or a list or mapping (a `toYaml` block renders one whole).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Leaf {
    pub key: Vec<Segment>,
    pub value: Value,
}

impl Leaf {
    pub fn is_scalar(&self) -> bool {
        matches!(
            self.value,
            Value::String(_) | Value::Number(_) | Value::Bool(_)
        )
    }
}

/// Every leaf and every non-empty list and mapping under the root, depth first.
pub(super) fn leaves(values: &Value) -> Vec<Leaf> {
    let mut out = Vec::new();
    walk(values, &mut Vec::new(), &mut out);
    out
}

fn walk(v: &Value, key: &mut Vec<Segment>, out: &mut Vec<Leaf>) {
    match v {
        Value::Object(m) => {
            if !key.is_empty() && !m.is_empty() {
                out.push(Leaf {
                    key: key.clone(),
                    value: v.clone(),
                });
            }
            for (k, x) in m {
                key.push(Segment::Key(k.clone()));
                walk(x, key, out);
                key.pop();
            }
        }
        Value::Array(a) => {
            if !a.is_empty() {
                out.push(Leaf {
                    key: key.clone(),
                    value: v.clone(),
                });
            }
            for (i, x) in a.iter().enumerate() {
                key.push(Segment::Index(i));
                walk(x, key, out);
                key.pop();
            }
        }
        Value::Null => {}
        _ => out.push(Leaf {
            key: key.clone(),
            value: v.clone(),
        }),
    }
}

/// How a scalar renders into a template: `3`, `0.5`, `true`, the string itself.
pub(super) fn rendered(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Equal as the API server would store them: numbers by value, `3` and `"3"`, quantities in
/// canonical form (`500m` and `0.5`), `true` and `"true"`.
pub(super) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => a == b,
        _ => match (rendered(a), rendered(b)) {
            (Some(x), Some(y)) => {
                x == y
                    || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(p), Ok(q)) if p == q)
                    || matches!((quantity::canonical(&x), quantity::canonical(&y)), (Some(p), Some(q)) if p == q)
            }
            _ => a == b,
        },
    }
}

/// How a leaf may produce Git's value at a drifted path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Match {
    Equal,
    /// The leaf's text is part of Git's string (`repo:tag`).
    Embedded,
    /// The leaf is a template (`tpl`), any string field may be its output.
    Template,
}

/// What opens an action of a Go template (Helm's `tpl`).
const ACTION_START: &str = "{{";

/// Whether `leaf` is a candidate for a field whose Git value is `git`.
pub(super) fn matches(leaf: &Value, git: &Value) -> Option<Match> {
    if same(leaf, git) {
        return Some(Match::Equal);
    }
    match (rendered(leaf), git) {
        (Some(text), Value::String(g)) if text.chars().count() >= 3 && g.contains(&text) => {
            Some(Match::Embedded)
        }
        // A template rendered with `tpl` shows none of its own text.
        (Some(text), Value::String(_)) if leaf.is_string() && text.contains(ACTION_START) => {
            Some(Match::Template)
        }
        _ => None,
    }
}

/// Whether a sentinel can be told apart from anything else in a render: only those are
/// perturbed together in one render.
pub(super) fn distinctive(sentinel: &Value) -> bool {
    match sentinel {
        Value::String(s) => s.starts_with(MARKER) || s.len() >= 10,
        Value::Number(n) => n.as_f64().is_some_and(|f| f.abs() >= 10_000.0),
        _ => false,
    }
}

const MARKER: &str = "sxq";

/// Values to try for the `k`-th perturbed leaf, of the leaf's own type and shape so that
/// templates which convert it (`int`, `quote`, `toYaml`) and schemas still accept it: a marker
/// first, then the original with its last run of digits (or letters) changed, then `hint`
/// (the live value), which is always of interest.
pub(super) fn sentinels(value: &Value, k: usize, hint: Option<&Value>) -> Vec<Value> {
    let mut out = Vec::new();
    match value {
        Value::Bool(b) => out.push(Value::Bool(!b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let k = k as i64;
                out.push(Value::from(48_611 + 7 * k));
                out.push(Value::from(i + 1 + k));
                if i - 1 - k >= 0 {
                    out.push(Value::from(i - 1 - k));
                }
                out.push(Value::from(i + 2 + 2 * k));
            } else if let Some(f) = n.as_f64() {
                for x in [48_611.25 + k as f64, f + 0.125 * (k as f64 + 1.0)] {
                    if let Some(n) = Number::from_f64(x) {
                        out.push(Value::Number(n));
                    }
                }
            }
        }
        Value::String(s) => {
            out.push(Value::String(format!("{MARKER}{k}z")));
            if let Some(m) = mutate(s, k, |c| c.is_ascii_digit()) {
                out.push(Value::String(m));
            }
            if let Some(m) = mutate(s, k, |c| c.is_ascii_alphanumeric()) {
                out.push(Value::String(m));
            }
        }
        _ => {}
    }
    if let Some(h) = hint {
        if !out.contains(h) && h != value && same_kind(h, value) {
            out.push(h.clone());
        }
    }
    out
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// `s` with its last run of `class` characters changed in every position, each to one of the
/// same kind (digit to digit; hex letter to hex letter; other letters likewise, keeping case).
fn mutate(s: &str, k: usize, class: impl Fn(char) -> bool) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let end = chars.iter().rposition(|c| class(*c))? + 1;
    let start = chars[..end]
        .iter()
        .rposition(|c| !class(*c))
        .map_or(0, |p| p + 1);
    let mut out = chars.clone();
    for (i, c) in out.iter_mut().enumerate().take(end).skip(start) {
        let step = 1 + (k + i) % 5;
        *c = shift(*c, step);
    }
    Some(out.into_iter().collect())
}

fn shift(c: char, step: usize) -> char {
    let rot = |base: u8, n: u8| (base + ((c as u8 - base) + step as u8) % n) as char;
    match c {
        '0'..='9' => rot(b'0', 10),
        'a'..='f' => rot(b'a', 6),
        'A'..='F' => rot(b'A', 6),
        'g'..='z' => rot(b'g', 20),
        'G'..='Z' => rot(b'G', 20),
        _ => c,
    }
}

/// Whether `sentinel`'s mark is in a rendered value.
pub(super) fn appears(sentinel: &Value, v: &Value) -> bool {
    match (sentinel, v) {
        (Value::Number(_), Value::Number(_)) => same(sentinel, v),
        (Value::String(s), Value::String(t)) => t.contains(s.as_str()),
        (Value::Number(n), Value::String(t)) => {
            distinctive(sentinel) && t.contains(&n.to_string()) || t == &n.to_string()
        }
        (Value::Bool(b), Value::Bool(c)) => b == c,
        (Value::Bool(b), Value::String(t)) => *t == b.to_string(),
        (Value::Array(_) | Value::Object(_), _) => sentinel == v,
        _ => false,
    }
}

/// The name of a value's type, for messages.
pub(super) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `live` in the leaf's type, as the values file must hold it, or `None` when the type cannot
/// hold it (`"abc"` for an integer key).
pub(super) fn convert(leaf: &Value, live: &Value) -> Option<Value> {
    match (leaf, live) {
        (Value::Number(_), _) => {
            let text = rendered(live)?;
            if let Ok(i) = text.parse::<i64>() {
                return Some(Value::from(i));
            }
            match live {
                Value::Number(_) => Some(live.clone()),
                _ => text
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number),
            }
        }
        (Value::String(_), Value::String(_)) => Some(live.clone()),
        (Value::String(_), Value::Number(_) | Value::Bool(_)) => rendered(live).map(Value::String),
        (Value::Bool(_), Value::Bool(_)) => Some(live.clone()),
        (Value::Bool(_), Value::String(s)) => s.parse::<bool>().ok().map(Value::Bool),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            Some(live.clone())
        }
        _ => None,
    }
}

/// The value at `key`, if the document sets it.
pub(super) fn get<'v>(v: &'v Value, key: &[Segment]) -> Option<&'v Value> {
    key.iter().try_fold(v, |v, s| match s {
        Segment::Key(k) => v.as_object()?.get(k),
        Segment::Index(i) => v.as_array()?.get(*i),
    })
}

fn get_mut<'v>(v: &'v mut Value, key: &[Segment]) -> Option<&'v mut Value> {
    key.iter().try_fold(v, |v, s| match s {
        Segment::Key(k) => v.as_object_mut()?.get_mut(k),
        Segment::Index(i) => v.as_array_mut()?.get_mut(*i),
    })
}

/// Sets `key` to `value` in a document that already holds every step up to it.
pub(super) fn set(doc: &mut Value, key: &[Segment], value: Value) -> bool {
    match get_mut(doc, key) {
        Some(slot) => {
            *slot = value;
            true
        }
        None => false,
    }
}

/// Adds `key = value` to a values overlay laid over `effective`. Helm replaces lists whole, so a
/// key inside a list copies that list from the effective values into the overlay first.
pub(super) fn overlay_set(overlay: &mut Value, effective: &Value, key: &[Segment], value: Value) {
    let split = key
        .iter()
        .position(|s| matches!(s, Segment::Index(_)))
        .unwrap_or(key.len());
    let (maps, rest) = key.split_at(split);
    let mut cur = overlay;
    for (i, s) in maps.iter().enumerate() {
        let Segment::Key(k) = s else { return };
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        let last = i + 1 == maps.len();
        if last && rest.is_empty() {
            map.insert(k.clone(), value);
            return;
        }
        let fill = if last {
            get(effective, &maps[..=i])
                .cloned()
                .unwrap_or(Value::Array(Vec::new()))
        } else {
            Value::Object(Map::new())
        };
        cur = map.entry(k.clone()).or_insert(fill);
    }
    if let Some(slot) = get_mut(cur, rest) {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(s: &[&str]) -> Vec<Segment> {
        s.iter()
            .map(|p| match p.parse::<usize>() {
                Ok(i) => Segment::Index(i),
                Err(_) => Segment::Key(p.to_string()),
            })
            .collect()
    }

    #[test]
    fn values_compare_as_the_server_stores_them() {
        assert!(same(&json!(3), &json!("3")));
        assert!(same(&json!("500m"), &json!(0.5)));
        assert!(same(&json!("1000m"), &json!("1")));
        assert!(same(&json!(true), &json!("true")));
        assert!(!same(&json!("500m"), &json!("1")));
        assert_eq!(
            matches(&json!("0.1.0"), &json!("repo:0.1.0@sha256:ab")),
            Some(Match::Embedded)
        );
        assert_eq!(
            matches(&json!("ab"), &json!("repo:ab")),
            None,
            "too short to be told apart"
        );
    }

    #[test]
    fn sentinels_keep_the_leaf_shape() {
        let digest = json!("sha256:0123456789abcdef");
        let s = sentinels(&digest, 0, None);
        assert_eq!(s[0], json!("sxq0z"));
        let mutated = s[1].as_str().unwrap();
        assert!(mutated.starts_with("sha256:") && mutated != digest.as_str().unwrap());
        assert!(mutated[7..].chars().all(|c| c.is_ascii_hexdigit()));
        let q = sentinels(&json!("200m"), 1, None);
        let q = q[1].as_str().unwrap();
        assert!(q.ends_with('m') && q != "200m" && q[..3].chars().all(|c| c.is_ascii_digit()));
        assert_eq!(sentinels(&json!(false), 0, None), vec![json!(true)]);
        assert_eq!(sentinels(&json!(3), 0, None)[0], json!(48_611));
    }

    #[test]
    fn live_takes_the_type_the_key_has() {
        assert_eq!(convert(&json!(3), &json!(5)), Some(json!(5)));
        assert_eq!(convert(&json!(3), &json!("5")), Some(json!(5)));
        assert_eq!(convert(&json!(3), &json!("five")), None);
        assert_eq!(convert(&json!("3"), &json!(5)), Some(json!("5")));
        assert_eq!(convert(&json!(0.5), &json!("1")), Some(json!(1)));
        assert_eq!(convert(&json!(true), &json!("false")), Some(json!(false)));
    }

    #[test]
    fn an_overlay_copies_a_list_it_edits_into() {
        let effective = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "x": {"y": 1}});
        let mut o = json!({});
        overlay_set(&mut o, &effective, &key(&["env", "1", "value"]), json!("3"));
        overlay_set(&mut o, &effective, &key(&["x", "y"]), json!(2));
        assert_eq!(
            o,
            json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}], "x": {"y": 2}})
        );
    }
}
