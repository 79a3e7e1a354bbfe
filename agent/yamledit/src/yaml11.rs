//! YAML 1.1 as Helm reads it: go-yaml v2's resolution of a plain scalar (`resolve.go`), the one
//! copy of these rules. The agent's reader of rendered manifests (`agent/core/src/yaml/yaml11.rs`)
//! and this crate's check after an edit both use it.

/// What a plain scalar resolves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plain {
    Null,
    Bool(bool),
    /// Within `i64` or `u64`, as go-yaml's `ParseInt` then `ParseUint` take it.
    Int(i128),
    /// `.nan` and the infinities included.
    Float(f64),
    /// Not a null, bool or number: the text itself.
    Str,
}

/// go-yaml v2's resolution of a plain (unquoted, untagged) scalar.
pub fn resolve(text: &str) -> Plain {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Plain::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Plain::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" => return Plain::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Plain::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Plain::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'.' {
        return go_parse_float(text).map_or(Plain::Str, Plain::Float);
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return Plain::Str;
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(i) = go_parse_int(&plain) {
        return Plain::Int(i);
    }
    if is_yaml_style_float(&plain) {
        if let Some(f) = go_parse_float(&plain) {
            return Plain::Float(f);
        }
    }
    Plain::Str
}

/// `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`: sign, then `0x`/`0o`/`0b`
/// prefixes, a leading `0` for octal, else decimal.
fn go_parse_int(s: &str) -> Option<i128> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if negative {
        (magnitude <= 1u128 << 63).then(|| -(magnitude as i128))
    } else {
        (magnitude <= u128::from(u64::MAX)).then_some(magnitude as i128)
    }
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms YAML produces.
fn go_parse_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    let ok = t
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'));
    if !ok {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_as_go_yaml_v2() {
        for (text, want) in [
            ("yes", Plain::Bool(true)),
            ("Off", Plain::Bool(false)),
            ("0755", Plain::Int(493)),
            ("0x1F", Plain::Int(31)),
            ("1_000", Plain::Int(1000)),
            ("-9223372036854775808", Plain::Int(i128::from(i64::MIN))),
            ("18446744073709551615", Plain::Int(i128::from(u64::MAX))),
            ("18446744073709551616", Plain::Float(18446744073709551616.0)),
            ("08", Plain::Float(8.0)),
            ("1e3", Plain::Float(1000.0)),
            (".5", Plain::Float(0.5)),
            ("-.inf", Plain::Float(f64::NEG_INFINITY)),
            ("v1.2", Plain::Str),
            ("-", Plain::Str),
            ("+", Plain::Str),
        ] {
            assert_eq!(resolve(text), want, "{text}");
        }
        assert!(matches!(resolve(".nan"), Plain::Float(f) if f.is_nan()));
    }
}
