//! YAML read as Helm and Kubernetes read it: `sigs.k8s.io/yaml` over go-yaml v2, whose plain
//! scalars follow YAML 1.1 (go-yaml v2 `resolve.go`). So `yes`/`no`/`on`/`off`/`y`/`n` are
//! booleans, `0755` is the octal integer 493, `0x1F` and `0b101` are integers, `1_000` is 1000,
//! `08` (not octal) is the float 8, and `1e3` is a float. Timestamps and sexagesimal numbers stay
//! strings (go-yaml v2 keeps them so). Quoted and block scalars are always strings. Non-string
//! keys become strings as `sigs.k8s.io/yaml` writes them (`on:` → `"true"`). Anchors, aliases
//! and `<<` merge keys are applied; a duplicate key is an error, as kubectl's strict decoding
//! makes it one.

use super::YamlError;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Parses the first document of `text` as the API server and kubectl would. An empty document
/// is `null`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
    };
    loop {
        let (event, mark) = loader.next()?;
        match event {
            Event::StreamStart | Event::DocumentStart => continue,
            Event::StreamEnd | Event::DocumentEnd => return Ok(Value::Null),
            other => return loader.node(other, mark),
        }
    }
}

struct Loader<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Value>,
}

fn error_at(mark: &Marker, message: impl Into<String>) -> YamlError {
    YamlError {
        line: Some(mark.line()),
        column: Some(mark.col() + 1),
        message: message.into(),
    }
}

impl Loader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), YamlError> {
        self.parser.next_token().map_err(|e| {
            let mut err = error_at(e.marker(), e.info());
            err.column = Some(e.marker().col() + 1);
            err
        })
    }

    fn node(&mut self, event: Event, mark: Marker) -> Result<Value, YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let v = scalar(&text, style, tag.as_ref())
                    .map_err(|e| error_at(&mark, e.to_string()))?;
                self.remember(anchor, &v);
                Ok(v)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (e, m) = self.next()?;
                    if matches!(e, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(e, m)?);
                }
                let v = Value::Array(items);
                self.remember(anchor, &v);
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                let v = self.mapping()?;
                self.remember(anchor, &v);
                Ok(v)
            }
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| error_at(&mark, "unknown anchor")),
            _ => Err(error_at(&mark, "unexpected YAML event")),
        }
    }

    fn remember(&mut self, anchor: usize, v: &Value) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
    }

    fn mapping(&mut self) -> Result<Value, YamlError> {
        let mut map = Map::new();
        let mut merges = Vec::new();
        loop {
            let (e, mark) = self.next()?;
            if matches!(e, Event::MappingEnd) {
                break;
            }
            let merge = matches!(&e, Event::Scalar(s, TScalarStyle::Plain, _, None) if s == "<<");
            let key = if merge {
                String::new()
            } else {
                let k = self.node(e, mark)?;
                key_string(k)
                    .ok_or_else(|| error_at(&mark, "unsupported map key (a mapping or list)"))?
            };
            let (ve, vm) = self.next()?;
            let value = self.node(ve, vm)?;
            if merge {
                merges.push((value, mark));
                continue;
            }
            if map.contains_key(&key) {
                return Err(error_at(&mark, format!("duplicate entry with key {key:?}")));
            }
            map.insert(key, value);
        }
        for (source, mark) in merges {
            let sources = match source {
                Value::Object(m) => vec![m],
                Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        Value::Object(m) => Ok(m),
                        _ => Err(error_at(&mark, "a << merge list holds a non-mapping")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(error_at(&mark, "a << merge value is not a mapping")),
            };
            for m in sources {
                for (k, v) in m {
                    map.entry(k).or_insert(v);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

/// `sigs.k8s.io/yaml`'s key conversion: strings as they are, booleans and numbers printed.
fn key_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() => format_float32(f),
            _ => n.to_string(),
        }),
        // go-yaml gives a nil key; sigs.k8s.io/yaml turns it into "null"... only via %v; keep it.
        Value::Null => Some("null".into()),
        _ => None,
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 32)`, the form `sigs.k8s.io/yaml` gives float keys.
fn format_float32(f: f64) -> String {
    let f = f as f32;
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn core_tag(tag: Option<&Tag>) -> Option<&str> {
    let t = tag?;
    (t.handle == "tag:yaml.org,2002:" || t.handle == "!!").then_some(t.suffix.as_str())
}

/// A scalar the reading cannot turn into JSON, positioned by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScalarError {
    /// Tagged `!!int`, `!!float`, `!!bool` or `!!null` but not one.
    #[error("cannot decode {text:?} as a !!{tag}")]
    Tag { text: String, tag: &'static str },
    #[error("{0} has no JSON form (NaN and infinities are not JSON numbers)")]
    NotFinite(String),
}

fn scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, ScalarError> {
    match core_tag(tag) {
        Some("str") | Some("binary") | Some("timestamp") => return Ok(Value::String(text.into())),
        Some(t @ ("int" | "float" | "bool" | "null")) => {
            let v = resolve_plain(text)?;
            let (ok, tag) = match t {
                "int" => (v.is_i64() || v.is_u64(), "int"),
                "float" => (v.is_number(), "float"),
                "bool" => (v.is_boolean(), "bool"),
                _ => (v.is_null(), "null"),
            };
            return if ok {
                Ok(v)
            } else {
                Err(ScalarError::Tag {
                    text: text.into(),
                    tag,
                })
            };
        }
        _ => {}
    }
    if style != TScalarStyle::Plain {
        return Ok(Value::String(text.into()));
    }
    resolve_plain(text)
}

/// go-yaml v2's resolution of a plain scalar (`sextant_yamledit::yaml11`, the one copy of the
/// rules), as JSON: sigs.k8s.io/yaml converts to JSON, which has no NaN or infinity.
pub fn resolve_plain(text: &str) -> Result<Value, ScalarError> {
    use sextant_yamledit::yaml11::{resolve, Plain};
    Ok(match resolve(text) {
        Plain::Null => Value::Null,
        Plain::Bool(b) => Value::Bool(b),
        Plain::Int(i) => match (i64::try_from(i), u64::try_from(i)) {
            (Ok(v), _) => Value::Number(Number::from(v)),
            (_, Ok(v)) => Value::Number(Number::from(v)),
            _ => Value::String(text.into()),
        },
        Plain::Float(f) if !f.is_finite() => return Err(ScalarError::NotFinite(text.into())),
        Plain::Float(f) => float(f),
        Plain::Str => Value::String(text.into()),
    })
}

/// A float as `encoding/json` writes it and a reader takes it back: integral values are
/// integers in JSON (`8.0` is written `8`).
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::Number(Number::from(f as i64))
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_scalars_resolve_as_go_yaml_v2() {
        for (text, want) in [
            ("yes", json!(true)),
            ("No", json!(false)),
            ("on", json!(true)),
            ("OFF", json!(false)),
            ("y", json!(true)),
            ("n", json!(false)),
            ("0755", json!(493)),
            ("0x1F", json!(31)),
            ("0o17", json!(15)),
            ("0b101", json!(5)),
            ("1_000", json!(1000)),
            ("-12", json!(-12)),
            ("+12", json!(12)),
            ("08", json!(8)),
            ("1e3", json!(1000)),
            ("0.5", json!(0.5)),
            (".5", json!(0.5)),
            ("1.0", json!(1)),
            ("18446744073709551615", json!(18_446_744_073_709_551_615u64)),
            ("~", json!(null)),
            ("", json!(null)),
            ("1:20", json!("1:20")),
            ("2001-12-14", json!("2001-12-14")),
            ("v1.2", json!("v1.2")),
            ("1.2.3", json!("1.2.3")),
            ("0x", json!("0x")),
            ("abc", json!("abc")),
            ("-", json!("-")),
            ("1Gi", json!("1Gi")),
        ] {
            assert_eq!(resolve_plain(text).unwrap(), want, "{text}");
        }
        assert!(resolve_plain(".nan").is_err());
    }

    #[test]
    fn quoted_scalars_are_strings_and_tags_decide() {
        let v = parse("a: \"yes\"\nb: 'on'\nc: !!str 0755\nd: |\n  on\ne: !!int \"12\"\nf: yes\n")
            .unwrap();
        assert_eq!(
            v,
            json!({"a": "yes", "b": "on", "c": "0755", "d": "on\n", "e": 12, "f": true})
        );
    }

    #[test]
    fn keys_become_strings_and_merge_keys_apply() {
        let v = parse("on: 1\n12: x\nbase: &b {x: 1, z: 2}\nd:\n  <<: *b\n  z: 3\n").unwrap();
        assert_eq!(v["true"], 1);
        assert_eq!(v["12"], "x");
        assert_eq!(v["d"], json!({"x": 1, "z": 3}));
        // go-yaml v2 reads the key `y` as the boolean true, too.
        assert_eq!(parse("y: 1\n").unwrap(), json!({"true": 1}));
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_positions() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
        assert_eq!(e.line, Some(2));
        let e = parse("a:\n  b: 1\n c: 2\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(parse("").unwrap(), Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Value::Null);
    }
}
