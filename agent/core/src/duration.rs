//! Durations as people write them in settings: `500ms`, `30s`, `5m`, `1h`; and [`Span`], such a
//! duration read once from an environment file and kept with its text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// A duration an environment file wrote (`spec.sync.waveTimeout: 5m`): parsed once, when the file
/// is read, so the loops use [`Span::get`] and never parse or fall back again. It shows and
/// serializes as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    text: String,
    value: Duration,
}

impl Span {
    /// `text` if it is a duration ([`parse`]).
    pub fn parse(text: &str) -> Option<Span> {
        Some(Span {
            value: parse(text)?,
            text: text.trim().to_string(),
        })
    }

    /// A default written in code: `text` must be a duration.
    pub(crate) fn known(text: &'static str) -> Span {
        Span::parse(text).unwrap_or_else(|| panic!("{text:?} is a duration"))
    }

    pub fn get(&self) -> Duration {
        self.value
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration such as 500ms, 30s, 5m or 1h"
            ))
        })
    }
}

/// Parses `<digits><unit>` with unit `ms`, `s`, `m` or `h`.
pub fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_rejects_the_rest() {
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("5"), None);
        assert_eq!(parse("m"), None);
        assert_eq!(parse("5d"), None);
        assert_eq!(parse("99999999999999999999s"), None);
    }

    #[test]
    fn a_span_keeps_its_text_and_refuses_what_is_not_a_duration() {
        let span: Span = serde_json::from_str("\"90s\"").unwrap();
        assert_eq!(span.get(), Duration::from_secs(90));
        assert_eq!(serde_json::to_string(&span).unwrap(), "\"90s\"");
        assert_eq!(span.to_string(), "90s");
        let err = serde_json::from_str::<Span>("\"ten minutes\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("\"ten minutes\" is not a duration"),
            "{err}"
        );
    }
}
