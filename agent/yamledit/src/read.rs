//! What a file means, read two ways: YAML 1.2 as the agent reads values files (`serde_yaml_ng`'s
//! resolution, merge keys applied), and YAML 1.1 as Helm reads them (go-yaml v2's `resolve.go`,
//! the rules of [`crate::yaml11`]). Both readings feed the check after an edit; the
//! quoting rules in `emit` are written so that a new value reads the same in both.

use crate::error::{Error, NotJson};
use crate::tree::{line_of, Kind, Node, Stream, Style};
use serde_json::{Number, Value};
use std::collections::HashMap;

/// A scalar tagged `!!int`, `!!float`, `!!bool` or `!!null` that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {text:?} as a {tag}")]
pub(crate) struct Undecodable {
    text: String,
    tag: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schema {
    Yaml12,
    Yaml11,
}

/// A value as read, precise enough to compare two readings: integers and floats apart, floats
/// by their bits (NaN equals itself), maps compared without regard to order.
#[derive(Debug, Clone)]
pub(crate) enum V {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<V>),
    Map(Vec<(String, V)>),
}

impl PartialEq for V {
    fn eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::Null, V::Null) => true,
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::Int(a), V::Int(b)) => a == b,
            (V::Float(a), V::Float(b)) => a.to_bits() == b.to_bits(),
            (V::Str(a), V::Str(b)) => a == b,
            (V::Seq(a), V::Seq(b)) => a == b,
            (V::Map(a), V::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
            }
            _ => false,
        }
    }
}

impl V {
    pub(crate) fn from_json(v: &Value) -> V {
        match v {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => V::Int(i.into()),
                (_, Some(u)) => V::Int(u.into()),
                _ => V::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => V::Str(s.clone()),
            Value::Array(a) => V::Seq(a.iter().map(V::from_json).collect()),
            Value::Object(m) => V::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), V::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// As the agent turns each reading into JSON: YAML 1.2 through `serde_json::to_value` (a
    /// non-finite float becomes null), YAML 1.1 as `sigs.k8s.io/yaml` (integral floats become
    /// integers; NaN and infinities have no JSON form).
    pub(crate) fn to_json(&self, schema: Schema) -> Result<Value, NotJson> {
        Ok(match self {
            V::Null => Value::Null,
            V::Bool(b) => Value::Bool(*b),
            V::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    Value::from(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    Value::from(v)
                } else {
                    return Err(NotJson::OutOfRange(*i));
                }
            }
            V::Float(f) => match schema {
                Schema::Yaml12 => Number::from_f64(*f).map_or(Value::Null, Value::Number),
                Schema::Yaml11 if !f.is_finite() => {
                    return Err(NotJson::NotFinite(*f));
                }
                Schema::Yaml11 if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(*f as i64),
                Schema::Yaml11 => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            },
            V::Str(s) => Value::String(s.clone()),
            V::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.to_json(schema))
                    .collect::<Result<_, _>>()?,
            ),
            V::Map(entries) => {
                let mut m = serde_json::Map::new();
                for (k, v) in entries {
                    m.insert(k.clone(), v.to_json(schema)?);
                }
                Value::Object(m)
            }
        })
    }
}

/// Reads every document of the stream.
pub(crate) fn read_stream(src: &str, stream: &Stream, schema: Schema) -> Result<Vec<V>, Error> {
    let mut r = Reader {
        src,
        schema,
        anchors: HashMap::new(),
    };
    stream.docs.iter().map(|d| r.node(&d.root)).collect()
}

pub(crate) struct Reader<'a> {
    pub src: &'a str,
    pub schema: Schema,
    pub anchors: HashMap<usize, V>,
}

impl Reader<'_> {
    fn error(&self, node: &Node, message: String) -> Error {
        Error::Parse {
            line: line_of(self.src, node.start),
            column: crate::tree::column(self.src, node.start) + 1,
            message,
        }
    }

    pub(crate) fn node(&mut self, node: &Node) -> Result<V, Error> {
        let v = match &node.kind {
            Kind::Scalar(s) => scalar(&s.text, s.style, s.tag.as_deref(), self.schema)
                .map_err(|e| self.error(node, e.to_string()))?,
            Kind::Alias(id) => self
                .anchors
                .get(id)
                .cloned()
                .ok_or_else(|| self.error(node, "an alias to an unknown anchor".into()))?,
            Kind::Seq { items, .. } => V::Seq(
                items
                    .iter()
                    .map(|i| self.node(i))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Map { entries, .. } => {
                let mut map: Vec<(String, V)> = Vec::new();
                let mut merges = Vec::new();
                for (k, v) in entries {
                    let value = self.node(v)?;
                    if is_merge_key(k) {
                        merges.push((value, v));
                        continue;
                    }
                    let key = self.key(k)?;
                    if map.iter().any(|(x, _)| *x == key) {
                        return Err(self.error(k, format!("duplicate entry with key {key:?}")));
                    }
                    map.push((key, value));
                }
                for (source, at) in merges {
                    for m in self.merge_sources(source, at)? {
                        for (k, v) in m {
                            if !map.iter().any(|(x, _)| *x == k) {
                                map.push((k, v));
                            }
                        }
                    }
                }
                V::Map(map)
            }
        };
        if node.anchor != 0 {
            self.anchors.insert(node.anchor, v.clone());
        }
        Ok(v)
    }

    fn merge_sources(&self, source: V, at: &Node) -> Result<Vec<Vec<(String, V)>>, Error> {
        match source {
            V::Map(m) => Ok(vec![m]),
            V::Seq(items) => items
                .into_iter()
                .map(|i| match i {
                    V::Map(m) => Ok(m),
                    _ => Err(self.error(at, "a << merge list holds a non-mapping".into())),
                })
                .collect(),
            _ => Err(self.error(at, "a << merge value is not a mapping".into())),
        }
    }

    /// A map key as the reader's JSON form names it.
    pub(crate) fn key(&mut self, k: &Node) -> Result<String, Error> {
        match self.node(k)? {
            V::Str(s) => Ok(s),
            V::Bool(b) => Ok(b.to_string()),
            V::Int(i) => Ok(i.to_string()),
            V::Float(f) => Ok(match self.schema {
                Schema::Yaml11 if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
                _ => format!("{f}"),
            }),
            V::Null => Ok("null".into()),
            V::Seq(_) | V::Map(_) => Err(self.error(k, "a map or list as a map key".into())),
        }
    }
}

/// A plain, untagged `<<` key: a YAML merge.
pub(crate) fn is_merge_key(k: &Node) -> bool {
    matches!(&k.kind, Kind::Scalar(s) if s.style == Style::Plain && s.tag.is_none() && s.text == "<<")
}

pub(crate) fn scalar(
    text: &str,
    style: Style,
    tag: Option<&str>,
    schema: Schema,
) -> Result<V, Undecodable> {
    match tag {
        Some("!!str" | "!!binary" | "!!timestamp") => return Ok(V::Str(text.into())),
        Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null")) => {
            let v = plain(text, schema);
            let (ok, tag) = match t {
                "!!int" => (matches!(v, V::Int(_)), "!!int"),
                "!!float" => (matches!(v, V::Int(_) | V::Float(_)), "!!float"),
                "!!bool" => (matches!(v, V::Bool(_)), "!!bool"),
                _ => (matches!(v, V::Null), "!!null"),
            };
            return if ok {
                Ok(v)
            } else {
                Err(Undecodable {
                    text: text.into(),
                    tag,
                })
            };
        }
        _ => {}
    }
    if style != Style::Plain {
        return Ok(V::Str(text.into()));
    }
    Ok(plain(text, schema))
}

pub(crate) fn plain(text: &str, schema: Schema) -> V {
    match schema {
        Schema::Yaml12 => plain12(text),
        Schema::Yaml11 => plain11(text),
    }
}

/// `serde_yaml_ng`'s `visit_untagged_scalar`: null, bool, integers (decimal without a leading
/// zero, `0x`, `0o`, `0b`), then Rust's float parse for finite floats and `.inf`/`.nan`.
fn plain12(v: &str) -> V {
    if matches!(v, "" | "~" | "null" | "Null" | "NULL") {
        return V::Null;
    }
    match v {
        "true" | "True" | "TRUE" => return V::Bool(true),
        "false" | "False" | "FALSE" => return V::Bool(false),
        _ => {}
    }
    if let Some(i) = int12(v) {
        return V::Int(i);
    }
    if !digits_but_not_number(v) {
        if let Some(f) = float12(v) {
            return V::Float(f);
        }
    }
    V::Str(v.into())
}

fn int12(v: &str) -> Option<i128> {
    let (negative, body) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    if body.starts_with(['+', '-']) {
        return None;
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = body.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(i) = u128::from_str_radix(rest, radix) {
                return signed(negative, i);
            }
        }
    }
    if digits_but_not_number(v) {
        return None;
    }
    let i = body.parse::<u128>().ok()?;
    signed(negative, i)
}

fn signed(negative: bool, magnitude: u128) -> Option<i128> {
    let i = i128::try_from(magnitude).ok()?;
    Some(if negative { -i } else { i })
}

fn digits_but_not_number(v: &str) -> bool {
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

fn float12(v: &str) -> Option<f64> {
    let unpositive = match v.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => v,
    };
    match unpositive {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        _ => {}
    }
    match v {
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// go-yaml v2's resolution of a plain scalar ([`crate::yaml11`]).
fn plain11(text: &str) -> V {
    use crate::yaml11::{resolve, Plain};
    match resolve(text) {
        Plain::Null => V::Null,
        Plain::Bool(b) => V::Bool(b),
        Plain::Int(i) => V::Int(i),
        Plain::Float(f) => V::Float(f),
        Plain::Str => V::Str(text.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_differently_in_yaml_1_1_and_1_2() {
        for (text, v12, v11) in [
            ("yes", V::Str("yes".into()), V::Bool(true)),
            ("on", V::Str("on".into()), V::Bool(true)),
            ("y", V::Str("y".into()), V::Bool(true)),
            ("0755", V::Str("0755".into()), V::Int(493)),
            ("1e3", V::Float(1000.0), V::Float(1000.0)),
            ("1_000", V::Str("1_000".into()), V::Int(1000)),
            ("0o17", V::Int(15), V::Int(15)),
            ("08", V::Str("08".into()), V::Float(8.0)),
            ("~", V::Null, V::Null),
            ("True", V::Bool(true), V::Bool(true)),
            ("1.0", V::Float(1.0), V::Float(1.0)),
            ("v1.2", V::Str("v1.2".into()), V::Str("v1.2".into())),
            ("-5", V::Int(-5), V::Int(-5)),
        ] {
            assert_eq!(plain(text, Schema::Yaml12), v12, "1.2 {text}");
            assert_eq!(plain(text, Schema::Yaml11), v11, "1.1 {text}");
        }
    }
}
