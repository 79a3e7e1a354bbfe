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
    // Through serde_yaml_ng's own Value: unlike a direct parse into JSON, it rejects duplicate keys.
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
    doc.apply_merge()?;
    serde_json::to_value(doc).map_err(|e| YamlError {
        line: None,
        column: None,
        message: e.to_string(),
    })
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
    fn rejects_duplicate_keys_and_applies_merge_keys() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
        let v = parse("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n").unwrap();
        assert_eq!(v["derived"], serde_json::json!({"x": 1, "y": 2}));
    }
}
