//! A Sigstore trusted root (`trusted_root.json`, the `TrustedRoot` message of
//! sigstore/protobuf-specs in its JSON form): the certificate authorities that issue signing
//! certificates (Fulcio), the transparency logs (Rekor) and the timestamp authorities, each with
//! the time it is valid for. Read from a file; nothing is fetched.

use crate::cert::Cert;
use crate::key::PublicKey;
use base64::Engine as _;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Seconds since the epoch, `[start, end)`; no end is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub start: u64,
    pub end: Option<u64>,
}

impl Validity {
    pub fn holds(&self, at: u64) -> bool {
        at >= self.start && self.end.is_none_or(|e| at < e)
    }
}

#[derive(Debug, Clone)]
pub struct Authority {
    pub uri: String,
    /// Leaf first: for a CA, the certificate that issues signing certificates; for a timestamp
    /// authority, the one that signs timestamps.
    pub chain: Vec<Cert>,
    pub valid: Validity,
}

#[derive(Debug, Clone)]
pub struct Log {
    pub base_url: String,
    pub id: Vec<u8>,
    pub key: PublicKey,
    pub valid: Validity,
}

#[derive(Debug, Clone)]
pub struct TrustRoot {
    pub authorities: Vec<Authority>,
    pub logs: Vec<Log>,
    pub timestamp_authorities: Vec<Authority>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("trusted root {}: {field}: {message}", file.display())]
pub struct TrustRootError {
    pub file: PathBuf,
    pub field: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Json {
    #[serde(default)]
    tlogs: Vec<LogJson>,
    #[serde(default)]
    certificate_authorities: Vec<AuthorityJson>,
    #[serde(default)]
    timestamp_authorities: Vec<AuthorityJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogJson {
    #[serde(default)]
    base_url: String,
    public_key: KeyJson,
    log_id: LogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyJson {
    raw_bytes: String,
    valid_for: Option<ValidFor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorityJson {
    #[serde(default)]
    uri: String,
    cert_chain: Chain,
    valid_for: Option<ValidFor>,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<Raw>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct ValidFor {
    start: Option<String>,
    end: Option<String>,
}

impl TrustRoot {
    pub fn read(file: &Path) -> Result<TrustRoot, TrustRootError> {
        let fail = |field: &str, message: String| TrustRootError {
            file: file.to_path_buf(),
            field: field.to_string(),
            message,
        };
        let text = std::fs::read_to_string(file).map_err(|e| fail("(file)", e.to_string()))?;
        TrustRoot::parse(&text).map_err(|(field, message)| fail(&field, message))
    }

    /// The JSON's content; an error is the field and what is wrong with it.
    pub fn parse(text: &str) -> Result<TrustRoot, (String, String)> {
        let json: Json =
            serde_json::from_str(text).map_err(|e| ("(document)".to_string(), e.to_string()))?;
        let cas = authorities("certificateAuthorities", json.certificate_authorities)?;
        let timestamp_authorities =
            authorities("timestampAuthorities", json.timestamp_authorities)?;
        let mut logs = Vec::new();
        for (i, l) in json.tlogs.into_iter().enumerate() {
            let field = |f: &str| format!("tlogs[{i}].{f}");
            let der = b64(&l.public_key.raw_bytes).map_err(|e| (field("publicKey.rawBytes"), e))?;
            let key = PublicKey::from_der(&der)
                .map_err(|e| (field("publicKey.rawBytes"), e.to_string()))?;
            let id = b64(&l.log_id.key_id).map_err(|e| (field("logId.keyId"), e))?;
            let valid = validity(l.public_key.valid_for.as_ref())
                .map_err(|e| (field("publicKey.validFor"), e))?;
            logs.push(Log {
                base_url: l.base_url,
                id,
                key,
                valid,
            });
        }
        if cas.is_empty() {
            return Err((
                "certificateAuthorities".into(),
                "no certificate authority: keyless signatures cannot be verified".into(),
            ));
        }
        Ok(TrustRoot {
            authorities: cas,
            logs,
            timestamp_authorities,
        })
    }
}

fn authorities(name: &str, list: Vec<AuthorityJson>) -> Result<Vec<Authority>, (String, String)> {
    let mut out = Vec::new();
    for (i, a) in list.into_iter().enumerate() {
        let field = |f: &str| format!("{name}[{i}].{f}");
        let mut chain = Vec::new();
        for (j, c) in a.cert_chain.certificates.iter().enumerate() {
            let at = field(&format!("certChain.certificates[{j}]"));
            let der = b64(&c.raw_bytes).map_err(|e| (at.clone(), e))?;
            chain.push(Cert::from_der(&der).map_err(|e| (at, e))?);
        }
        if chain.is_empty() {
            return Err((field("certChain"), "no certificate".into()));
        }
        let valid = validity(a.valid_for.as_ref()).map_err(|e| (field("validFor"), e))?;
        out.push(Authority {
            uri: a.uri,
            chain,
            valid,
        });
    }
    Ok(out)
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("not base64: {e}"))
}

fn validity(v: Option<&ValidFor>) -> Result<Validity, String> {
    let at = |s: Option<&String>| -> Result<Option<u64>, String> {
        s.map(|s| crate::time::parse_rfc3339(s)).transpose()
    };
    Ok(Validity {
        start: at(v.and_then(|v| v.start.as_ref()))?.unwrap_or(0),
        end: at(v.and_then(|v| v.end.as_ref()))?,
    })
}
