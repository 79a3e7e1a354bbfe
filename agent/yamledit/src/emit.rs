//! How a new value is written: a scalar in the style the old one had when that style still reads
//! as the new value, else the least quoting that does (plain, else double quotes); maps and lists
//! in block style at a given indentation, or in flow style inside a flow collection. Every string
//! left plain reads back as that same string in YAML 1.1 and 1.2, so Helm and the agent agree.

use crate::read::{plain, Schema, V};
use crate::tree::Style;
use serde_json::Value;

/// Where a value is written: in block context (a block scalar is possible) or inside a flow
/// collection (no block scalars; `,[]{}` end a plain scalar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Block,
    Flow,
}

/// The file's indentation: spaces per nesting level, and how far a block list under a key is
/// indented from the key (0 for `key:\n- a`, usually the same as `step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Indent {
    pub step: usize,
    pub seq: usize,
}

/// A scalar's text, written on one line unless it is a block scalar, which `block` allows: then
/// the lines after the first are indented to `block`'s column. A block scalar needs the rest of
/// its line to itself (a comment after it would become its content), so the editor allows one
/// only there, and never inside a flow collection.
pub(crate) fn scalar(
    value: &Value,
    old: Option<Style>,
    ctx: Context,
    block: Option<usize>,
) -> String {
    let block = block.filter(|_| ctx == Context::Block);
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, old, ctx, block),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn string(s: &str, old: Option<Style>, ctx: Context, block_indent: Option<usize>) -> String {
    let multi_line = s.trim_end_matches('\n').contains('\n');
    let as_block = block_indent.filter(|_| block_safe(s));
    match (old, as_block) {
        (Some(Style::Single), _) if single_safe(s) => return single(s),
        (Some(Style::Double), _) => return double(s),
        (Some(Style::Folded), Some(indent)) if !multi_line => return block(s, '>', indent),
        (Some(Style::Literal | Style::Folded), Some(indent)) => return block(s, '|', indent),
        _ => {}
    }
    if plain_safe(s, ctx) {
        s.to_string()
    } else if let (true, Some(indent)) = (multi_line, as_block) {
        block(s, '|', indent)
    } else {
        double(s)
    }
}

/// `'text'`: any single line of printable characters, `'` doubled.
fn single_safe(s: &str) -> bool {
    !s.chars().any(needs_escape)
}

fn single(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{feff}' | '\u{2028}' | '\u{2029}')
}

/// A double-quoted string: every string has one. NEL, LS and PS are escaped because YAML 1.1
/// reads them as line breaks.
pub(crate) fn double(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal or folded block keeps the text exactly when it has content, its first line does not
/// start with a space (that would need an indentation indicator), and nothing needs escaping.
fn block_safe(s: &str) -> bool {
    !s.trim_end_matches('\n').is_empty()
        && !s.starts_with([' ', '\t'])
        && !s.chars().any(|c| c != '\n' && needs_escape(c))
}

/// `|-` / `|` / `|+` (or `>`), then the lines at `indent`. The text ends with the last line's
/// content: the file's own newline after the old value ends the block.
fn block(s: &str, indicator: char, indent: usize) -> String {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let mut out = String::new();
    out.push(indicator);
    out.push_str(match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    });
    let lines: Vec<&str> = body
        .split('\n')
        .chain(std::iter::repeat_n("", trailing.saturating_sub(1)))
        .collect();
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
    }
    out
}

/// Whether `s` written plain reads back as this same string in YAML 1.1 and 1.2.
pub(crate) fn plain_safe(s: &str, ctx: Context) -> bool {
    if s.is_empty() || s != s.trim() || s.contains(['\n', '\r', '\t']) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-`, `?` and `:` may start a plain scalar when a non-space follows (`--flag`).
        let second = s[1..].chars().next();
        let safe = matches!(first, '-' | '?' | ':')
            && second.is_some_and(|c| !c.is_whitespace() && !",[]{}".contains(c));
        if !safe {
            return false;
        }
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if ctx == Context::Flow && s.contains([',', '[', ']', '{', '}', ':']) {
        return false;
    }
    if s.chars().any(needs_escape) || s == "<<" || s == "=" {
        return false;
    }
    let as_string = V::Str(s.into());
    plain(s, Schema::Yaml12) == as_string && plain(s, Schema::Yaml11) == as_string
}

/// A map key: plain when it reads back as itself in both readings, else double-quoted.
pub(crate) fn key(k: &str, ctx: Context) -> String {
    if plain_safe(k, ctx) {
        k.to_string()
    } else {
        double(k)
    }
}

/// A value in flow style, on one line.
pub(crate) fn flow(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let entries: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", key(k, Context::Flow), flow(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        scalar_value => scalar(scalar_value, None, Context::Flow, None),
    }
}

/// Whether a value is a map or list with entries (written as a block of its own lines).
pub(crate) fn is_block_collection(value: &Value) -> bool {
    match value {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

/// A non-empty map or list as block lines, each indented to `col` (the first included).
pub(crate) fn block_lines(value: &Value, col: usize, ind: Indent) -> Vec<String> {
    let pad = " ".repeat(col);
    let mut out = Vec::new();
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                let k = key(k, Context::Block);
                match v {
                    Value::Object(_) if is_block_collection(v) => {
                        out.push(format!("{pad}{k}:"));
                        out.extend(block_lines(v, col + ind.step, ind));
                    }
                    Value::Array(_) if is_block_collection(v) => {
                        out.push(format!("{pad}{k}:"));
                        out.extend(block_lines(v, col + ind.seq, ind));
                    }
                    _ => {
                        let text = scalar(v, None, Context::Block, Some(col + ind.step));
                        out.extend(prefixed(&format!("{pad}{k}: "), &text));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_block_collection(item) {
                    let mut lines = block_lines(item, col + 2, ind);
                    if let Some(first) = lines.first_mut() {
                        *first = format!("{pad}- {}", &first[col + 2..]);
                    }
                    out.extend(lines);
                } else {
                    let text = scalar(item, None, Context::Block, Some(col + 2));
                    out.extend(prefixed(&format!("{pad}- "), &text));
                }
            }
        }
        other => out.push(format!(
            "{pad}{}",
            scalar(other, None, Context::Block, None)
        )),
    }
    out
}

/// `prefix` + the first line of `text`, then its other lines as they are.
fn prefixed(prefix: &str, text: &str) -> Vec<String> {
    let mut lines = text.split('\n');
    let mut out = vec![format!("{prefix}{}", lines.next().unwrap_or(""))];
    out.extend(lines.map(str::to_string));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_that_yaml_1_1_or_1_2_would_misread_are_quoted() {
        for s in [
            "yes", "no", "on", "off", "y", "n", "Y", "~", "null", "0755", "1e3", "5", "1_000",
            "0o17", "0x1F", "true", "08", ".5", "-1", "", " x", "a: b", "#x", "- x", "<<",
        ] {
            assert!(!plain_safe(s, Context::Block), "{s:?} is not plain-safe");
            let text = scalar(&json!(s), Some(Style::Plain), Context::Block, Some(2));
            assert!(text.starts_with('"'), "{s:?} -> {text}");
        }
        for s in [
            "web",
            "v1.2.3",
            "--flag",
            "2001-12-14x",
            "a:b",
            "sha256:abc",
            "1.2.3",
        ] {
            assert!(plain_safe(s, Context::Block), "{s:?} stays plain");
        }
        assert!(!plain_safe("a,b", Context::Flow));
        assert!(!plain_safe("a:b", Context::Flow));
    }

    #[test]
    fn the_old_style_is_kept_when_it_still_reads_as_the_new_value() {
        assert_eq!(
            scalar(&json!("v2"), Some(Style::Single), Context::Block, Some(2)),
            "'v2'"
        );
        assert_eq!(
            scalar(&json!("it's"), Some(Style::Single), Context::Block, Some(2)),
            "'it''s'"
        );
        assert_eq!(
            scalar(&json!("a\tb"), Some(Style::Single), Context::Block, Some(2)),
            "\"a\\tb\""
        );
        assert_eq!(
            scalar(&json!("v2"), Some(Style::Double), Context::Block, Some(2)),
            "\"v2\""
        );
        assert_eq!(
            scalar(&json!(5), Some(Style::Double), Context::Block, Some(2)),
            "5"
        );
        assert_eq!(
            scalar(
                &json!("a\nb\n"),
                Some(Style::Literal),
                Context::Block,
                Some(4)
            ),
            "|\n    a\n    b"
        );
        assert_eq!(
            scalar(&json!("one"), Some(Style::Folded), Context::Block, Some(2)),
            ">-\n  one"
        );
        assert_eq!(
            scalar(&json!("a\nb"), Some(Style::Plain), Context::Flow, Some(2)),
            "\"a\\nb\""
        );
    }

    #[test]
    fn collections_are_written_as_blocks_at_the_given_indentation() {
        let v = json!({"name": "A", "env": [{"name": "X", "value": "yes"}], "r": {"cpu": 1}});
        let lines = block_lines(&v, 2, Indent { step: 4, seq: 0 });
        assert_eq!(
            lines,
            [
                "  name: A",
                "  env:",
                "  - name: X",
                "    value: \"yes\"",
                "  r:",
                "      cpu: 1"
            ]
        );
        assert_eq!(
            flow(&json!({"a": [1, "x,y"], "b": {}})),
            "{a: [1, \"x,y\"], b: {}}"
        );
    }
}
