//! YAML written so that a YAML 1.1 reader (Helm, kubectl, go-yaml v2) and a YAML 1.2 reader get
//! the same values: a string is left plain only when both would read it back as that same
//! string; otherwise it is double-quoted (`"yes"`, `"0755"`, `"1e3"`, `"on"`). Multi-line strings
//! are literal blocks. Block style throughout, lists at their key's indentation (as kubectl
//! prints them).

use super::yaml11;
use serde_json::Value;

/// Renders a value as a YAML document (no leading `---`), ending in a newline.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => mapping(&mut out, value, 0),
        Value::Array(a) if !a.is_empty() => sequence(&mut out, value, 0),
        scalar => {
            inline_scalar(&mut out, scalar, 2);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn mapping(out: &mut String, v: &Value, level: usize) {
    let Value::Object(m) = v else { return };
    for (i, (k, x)) in m.iter().enumerate() {
        if i > 0 || !out.ends_with("- ") {
            indent(out, level);
        }
        key(out, k);
        out.push(':');
        value_after_key(out, x, level);
    }
}

fn value_after_key(out: &mut String, x: &Value, level: usize) {
    match x {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            mapping(out, x, level + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            sequence(out, x, level);
        }
        scalar => {
            out.push(' ');
            inline_scalar(out, scalar, level + 2);
            out.push('\n');
        }
    }
}

fn sequence(out: &mut String, v: &Value, level: usize) {
    let Value::Array(items) = v else { return };
    for item in items {
        indent(out, level);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => mapping(out, item, level + 2),
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                sequence(out, item, level + 2);
            }
            scalar => {
                inline_scalar(out, scalar, level + 2);
                out.push('\n');
            }
        }
    }
}

fn key(out: &mut String, k: &str) {
    if plain_safe(k) {
        out.push_str(k);
    } else {
        quoted(out, k);
    }
}

fn inline_scalar(out: &mut String, v: &Value, block_indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(out, s, block_indent),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn string(out: &mut String, s: &str, block_indent: usize) {
    if plain_safe(s) {
        out.push_str(s);
    } else if literal_safe(s) {
        let trailing = s.len() - s.trim_end_matches('\n').len();
        out.push_str(match trailing {
            0 => "|-",
            1 => "|",
            _ => "|+",
        });
        out.push('\n');
        let body = if trailing > 0 { &s[..s.len() - 1] } else { s };
        for line in body.split('\n') {
            if !line.is_empty() {
                indent(out, block_indent);
                out.push_str(line);
            }
            out.push('\n');
        }
        // The caller's newline ends the last line; the block already did.
        out.pop();
    } else {
        quoted(out, s);
    }
}

/// JSON string escapes are valid YAML double-quoted escapes.
fn quoted(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::String(s.to_string()).to_string());
}

/// A literal block keeps the text exactly when it has several lines, none with leading
/// whitespace on the first, no trailing spaces, and no characters needing escapes.
fn literal_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && !s.chars().any(|c| {
            (c.is_control() && c != '\n') || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
        })
        && s.split('\n').all(|l| !l.ends_with([' ', '\t']))
}

/// Whether a plain scalar reads back as this same string under YAML 1.1 and 1.2.
fn plain_safe(s: &str) -> bool {
    if s.is_empty() || s != s.trim() || s.contains(['\n', '\r', '\t']) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-` may start a plain scalar when a non-space follows (`--flag`).
        let safe_dash = first == '-' && s.len() > 1 && !s[1..].starts_with(' ');
        if !safe_dash {
            return false;
        }
    }
    if s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.starts_with("---")
        || s.starts_with("...")
    {
        return false;
    }
    // YAML 1.1 also breaks lines at NEL, LS and PS.
    if s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}'))
    {
        return false;
    }
    if s == "<<" || s == "=" {
        return false;
    }
    // YAML 1.1 (go-yaml v2) must read it as this string...
    if yaml11::resolve_plain(s) != Ok(Value::String(s.into())) {
        return false;
    }
    // ...and so must YAML 1.2's core schema.
    !is_yaml12_non_string(s)
}

/// YAML 1.2 core schema: null, booleans, integers (decimal, `0o`, `0x`), floats, `.inf`, `.nan`.
fn is_yaml12_non_string(s: &str) -> bool {
    matches!(
        s,
        "null" | "Null" | "NULL" | "~" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
    ) || {
        let l = s.to_ascii_lowercase();
        let body = l.strip_prefix(['-', '+']).unwrap_or(&l);
        body == ".inf"
            || body == ".nan"
            || body
                .strip_prefix("0o")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            || body
                .strip_prefix("0x")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
            || (!body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()))
            || looks_like_float(body)
    }
}

fn looks_like_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = mantissa.replace('.', "");
    let mantissa_ok = mantissa.matches('.').count() <= 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted_and_others_stay_plain() {
        let v = json!({"labels": {"a": "yes", "b": "on", "c": "0755", "d": "1e3", "e": "1.0", "f": "web", "g": "true", "h": "0o17", "i": "v1.2.3", "j": "", "k": "~", "l": "- x", "m": "a: b"},
                       "args": ["--enabled", "no", "2001-12-14"], "num": 493, "n": 1, "t": true, "z": null, "empty": {}, "none": []});
        let text = to_string(&v);
        for quoted in [
            "\"yes\"", "\"on\"", "\"0755\"", "\"1e3\"", "\"1.0\"", "\"true\"", "\"0o17\"", "\"\"",
            "\"~\"", "\"- x\"", "\"a: b\"", "\"no\"",
        ] {
            assert!(text.contains(quoted), "{quoted} in\n{text}");
        }
        for plain in [
            "f: web",
            "i: v1.2.3",
            "- --enabled",
            "- 2001-12-14",
            "num: 493",
            "\"n\": 1",
            "empty: {}",
            "none: []",
            "z: null",
        ] {
            assert!(text.contains(plain), "{plain} in\n{text}");
        }
        assert_eq!(yaml11::parse(&text).unwrap(), v);
        assert_eq!(super::super::parse(&text).unwrap(), v);
    }

    #[test]
    fn multi_line_strings_are_literal_blocks_that_read_back_exactly() {
        for s in ["a\nb\n", "a\nb", "a\n\nb\n\n", "key: value\n  nested: 1\n"] {
            let v = json!({"data": {"f": s}, "list": [s]});
            let text = to_string(&v);
            assert!(text.contains('|'), "{text}");
            assert_eq!(yaml11::parse(&text).unwrap(), v, "{text}");
            assert_eq!(super::super::parse(&text).unwrap(), v, "{text}");
        }
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            "[ -~\n]{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "yes", "No", "on", "0755", "08", "1e3", "1_000", "0x1F", ".5", "~", "null", "- a",
                "#x", "a #b", "1:20", "<<", "-1", "+1", "0b1", " x", "x "
            ])
            .prop_map(|s| Value::String(s.into())),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z0-9yYnN~. -]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn yaml_1_1_and_1_2_readers_get_back_what_was_written(v in value()) {
            let text = to_string(&v);
            prop_assert_eq!(&yaml11::parse(&text).unwrap(), &v, "1.1:\n{}", text);
            prop_assert_eq!(&super::super::parse(&text).unwrap(), &v, "1.2:\n{}", text);
        }
    }
}
