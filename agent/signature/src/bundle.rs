//! A Sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`, and v0.1/v0.2), in the
//! protobuf-specs JSON form: bytes as base64, 64-bit integers as strings. Only the fields a
//! verification reads are kept.

use base64::Engine as _;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub verification_material: Material,
    pub dsse_envelope: Option<Envelope>,
    pub message_signature: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Material {
    pub certificate: Option<Raw>,
    pub x509_certificate_chain: Option<ChainJson>,
    pub public_key: Option<serde_json::Value>,
    #[serde(default)]
    pub tlog_entries: Vec<TlogEntry>,
    pub timestamp_verification_data: Option<Timestamps>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Raw {
    pub raw_bytes: String,
}

#[derive(Debug, Deserialize)]
pub struct ChainJson {
    pub certificates: Vec<Raw>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timestamps {
    #[serde(default)]
    pub rfc3161_timestamps: Vec<SignedTimestamp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedTimestamp {
    pub signed_timestamp: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEntry {
    pub log_index: Int,
    pub log_id: LogId,
    pub kind_version: KindVersion,
    pub integrated_time: Int,
    pub inclusion_promise: Option<Promise>,
    pub canonicalized_body: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    pub key_id: String,
}

#[derive(Debug, Deserialize)]
pub struct KindVersion {
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promise {
    pub signed_entry_timestamp: String,
}

/// An int64 as the JSON mapping writes it (a string), or a bare number.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct Int(pub i64);

impl TryFrom<serde_json::Value> for Int {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<Int, String> {
        match &v {
            serde_json::Value::String(s) => s
                .parse()
                .map(Int)
                .map_err(|_| format!("{s:?} is not an integer")),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Int)
                .ok_or_else(|| format!("{n} is not an integer")),
            _ => Err(format!("{v} is not an integer")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvelopeSignature {
    pub sig: String,
}

/// An in-toto statement: what the envelope's payload says it is about.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    pub predicate_type: String,
}

#[derive(Debug, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub digest: std::collections::BTreeMap<String, String>,
}

pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// DSSE's pre-authentication encoding: what is signed.
/// https://github.com/secure-systems-lab/dsse/blob/master/protocol.md
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

pub fn b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("not base64: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pae_is_dsse_v1s_encoding() {
        // The DSSE spec's own example.
        assert_eq!(
            super::pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
