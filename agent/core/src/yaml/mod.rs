//! YAML parsing shared by every input the agent reads: one place that turns a syntax error into a
//! line and column, and YAML into the JSON value model that Kubernetes and Helm use.
//!
//! Two readings: [`parse`] is YAML 1.2, for the repository's own files (environments, values,
//! settings), as `docs/environments.md` documents; [`parse_k8s`] is YAML 1.1 as Helm and
//! Kubernetes read it, for what `helm template` renders. [`to_string`] writes YAML that both read
//! the same way.

mod emit;
pub mod yaml11;

pub use yaml11::parse as parse_k8s;

use serde_json::Value;

/// A YAML syntax or structure error, with its position when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l} column {c}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// An integer beyond 64 bits in a field (`wave: 99999999999999999999`): valid YAML, but a value
/// no field of the agent's files takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{number} is out of range: a number here must fit in 64 bits")]
pub struct OutOfRange {
    /// The field as the parser names it (`spec.releases[0].wave`).
    pub field: String,
    pub number: String,
}

impl YamlError {
    /// The field and its number, when the document is valid YAML but holds an integer beyond
    /// 64 bits: a value error of that field, not a syntax error.
    pub fn out_of_range(&self) -> Option<OutOfRange> {
        let (field, rest) = self.message.split_once(": invalid type: integer `")?;
        let (number, tail) = rest.split_once('`')?;
        (tail.starts_with(" as u128") || tail.starts_with(" as i128")).then(|| OutOfRange {
            field: field.to_string(),
            number: number.to_string(),
        })
    }
}

impl From<serde_yaml_ng::Error> for YamlError {
    fn from(e: serde_yaml_ng::Error) -> Self {
        let loc = e.location();
        // serde_yaml_ng appends " at line L column C" to its message; keep the position apart.
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        YamlError {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
        }
    }
}

/// Parses one YAML document into a JSON value. An empty document is `null`. Duplicate keys are
/// an error and `<<` merge keys are applied, as Helm's YAML reader does.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    too_deep(text)?;
    // Through serde_yaml_ng's own Value: unlike a direct parse into JSON, it rejects duplicate keys.
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
    doc.apply_merge()?;
    serde_json::to_value(doc).map_err(|e| YamlError {
        line: None,
        column: None,
        message: e.to_string(),
    })
}

/// Reads a file of the repository the agent parses (an environment, a values file), refusing one
/// larger than a snapshot keeps ([`crate::snapshot::MAX_FILE_BYTES`]) before reading it, so a
/// working tree's huge file cannot exhaust memory either.
pub fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    let limit = crate::snapshot::MAX_FILE_BYTES;
    let size = std::fs::metadata(path)?.len();
    if size > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("the file is {size} bytes, over the {limit} bytes the agent reads"),
        ));
    }
    std::fs::read_to_string(path)
}

/// How deep a document may nest: the YAML reader's own recursion limit (serde_yaml_ng refuses
/// deeper documents anyway, but only after its scanner has read all of it, in time that grows
/// with the square of the depth: 92 s of CPU for 200,000 levels in 400 KB).
pub const MAX_DEPTH: usize = 128;

/// The widest indentation a line may have before its content: a block nested by indentation
/// (or by `- - - x`, two columns a level) cannot go deeper than its column.
pub const MAX_INDENT: usize = 1024;

/// Refuses, in one linear pass and before any parsing, a document nested deeper than
/// [`MAX_DEPTH`] flow collections (`[[[…`, `{a: {a: …`) or indented past [`MAX_INDENT`]
/// columns. Quoted scalars and comments are skipped; a bracket inside a plain scalar may count,
/// which only errs towards refusing a document that no human writes.
fn too_deep(text: &str) -> Result<(), YamlError> {
    let refuse = |line: usize, column: usize, what: String| YamlError {
        line: Some(line),
        column: Some(column),
        message: what,
    };
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let mut indent = line.len() - line.trim_start_matches(' ').len();
        let mut rest = &line[indent..];
        while let Some(r) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            let skipped = r.len() - r.trim_start_matches(' ').len();
            indent += 2 + skipped;
            rest = &r[skipped..];
        }
        if quote.is_none() && flow == 0 && indent > MAX_INDENT {
            return Err(refuse(
                n + 1,
                indent + 1,
                format!("the document is nested deeper than {MAX_INDENT} columns of indentation; refused before parsing"),
            ));
        }
        let mut prev: Option<char> = None;
        for (col, c) in line.char_indices() {
            match quote {
                Some('"') if c == '"' && prev != Some('\\') => quote = None,
                Some('\'') if c == '\'' => quote = None,
                Some(_) => {}
                None => {
                    let at_start = matches!(prev, None | Some(' ' | '\t' | '[' | '{' | ','));
                    match c {
                        '#' if matches!(prev, None | Some(' ' | '\t')) => break,
                        '"' | '\'' if at_start => quote = Some(c),
                        '[' | '{' => {
                            flow += 1;
                            if flow > MAX_DEPTH {
                                return Err(refuse(
                                    n + 1,
                                    col + 1,
                                    format!("the document nests more than {MAX_DEPTH} flow collections deep; refused before parsing"),
                                ));
                            }
                        }
                        ']' | '}' => flow = flow.saturating_sub(1),
                        _ => {}
                    }
                }
            }
            prev = Some(c);
        }
    }
    Ok(())
}

/// Renders a value as YAML that a YAML 1.1 and a YAML 1.2 reader read alike (used for
/// `sextant values`, `sextant render` and diffs).
pub fn to_string(value: &Value) -> String {
    emit::to_string(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_line_and_column_of_a_syntax_error() {
        let e = parse("a:\n  b: 1\n c: 2\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.column.is_some());
    }

    #[test]
    fn refuses_deep_nesting_at_once_and_reads_brackets_in_quotes_and_comments() {
        let deep = format!("a: {}1{}\n", "[".repeat(200_000), "]".repeat(200_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("more than 128 flow collections"), "{e}");
        assert_eq!((e.line, e.column), (Some(1), Some(4 + MAX_DEPTH)));
        let dashes = format!("{}x\n", "- ".repeat(100_000));
        assert!(parse(&dashes)
            .unwrap_err()
            .message
            .contains("columns of indentation"));
        let nested_maps = format!(
            "{}1{}\n",
            "{a: ".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&nested_maps).is_err());
        // At the limit, and brackets that are text: parsed as usual.
        let ok = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
        assert!(parse(&ok).is_ok());
        let text = format!(
            "q: \"{}\"\ns: '{}'\nc: 1 # {}\nit: don't [stop]\n",
            "[".repeat(500),
            "{".repeat(500),
            "[".repeat(500)
        );
        let v = parse(&text).unwrap();
        assert_eq!(v["it"], "don't [stop]");
        assert_eq!(v["q"].as_str().unwrap().len(), 500);
    }

    #[test]
    fn rejects_duplicate_keys_and_applies_merge_keys() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
        let v = parse("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n").unwrap();
        assert_eq!(v["derived"], serde_json::json!({"x": 1, "y": 2}));
    }
}
