//! Real GitHub answers recorded by Octokit (npm `@octokit/fixtures`, pinned in
//! `scripts/install-tools.sh`, each scenario's normalized recording unpacked to
//! `.tools/octokit-fixtures/<scenario>.json`), to hold the fake's answers to where they exist.

use std::path::PathBuf;

use serde_json::Value;

/// Where the recordings are looked for: `SEXTANT_OCTOKIT_FIXTURES`, else the workspace's `.tools/`.
pub fn dir() -> PathBuf {
    if let Ok(p) = std::env::var("SEXTANT_OCTOKIT_FIXTURES") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../.tools/octokit-fixtures")
}

/// One recorded exchange: `method` (lowercase), `path` (with its query), request `body`,
/// `status`, `response` and response `headers`.
#[derive(Debug, Clone)]
pub struct Exchange(pub Value);

impl Exchange {
    pub fn method(&self) -> String {
        self.0["method"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase()
    }

    pub fn path(&self) -> &str {
        self.0["path"].as_str().unwrap_or_default()
    }

    pub fn status(&self) -> u16 {
        self.0["status"].as_u64().unwrap_or_default() as u16
    }

    pub fn body(&self) -> &Value {
        &self.0["body"]
    }

    pub fn response(&self) -> &Value {
        &self.0["response"]
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.0["headers"][name].as_str()
    }
}

/// A scenario's exchanges, in order. `None` only when the file is absent **and**
/// `SEXTANT_TOOLS_MISSING=1` says the tools were deliberately not installed; otherwise an absent
/// file panics with how to install it, as the OpenAPI checks do.
pub fn scenario(name: &str) -> Option<Vec<Exchange>> {
    let path = dir().join(format!("{name}.json"));
    match std::fs::read(&path) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            Some(
                v.as_array()
                    .unwrap_or_else(|| panic!("{} is not a list of exchanges", path.display()))
                    .iter()
                    .cloned()
                    .map(Exchange)
                    .collect(),
            )
        }
        Err(_) if std::env::var("SEXTANT_TOOLS_MISSING").as_deref() == Ok("1") => {
            eprintln!(
                "skipping the recorded-answer checks: {} is absent and SEXTANT_TOOLS_MISSING=1",
                path.display()
            );
            None
        }
        Err(e) => panic!(
            "the recorded GitHub answers {} cannot be read ({e}); run `make tools` \
             (or set SEXTANT_TOOLS_MISSING=1 to skip these checks knowingly)",
            path.display()
        ),
    }
}
