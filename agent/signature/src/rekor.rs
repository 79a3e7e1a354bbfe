//! A transparency log entry as a witness of when a signature was made: its signed entry
//! timestamp (the log's promise, signed by the key the trusted root names for the entry's log)
//! and its body, which must record this signature by this certificate.

use crate::bundle::{b64, Envelope, TlogEntry};
use crate::cert::Cert;
use crate::key::Hash;
use crate::trust::TrustRoot;
use serde_json::Value;

/// The integrated time the log signed for this entry, once the entry is shown to be about
/// `envelope` signed by `cert`.
pub fn time(
    entry: &TlogEntry,
    envelope: &Envelope,
    cert: &Cert,
    trust: &TrustRoot,
) -> Result<u64, String> {
    let id = b64(&entry.log_id.key_id).map_err(|e| format!("logId: {e}"))?;
    let log = trust
        .logs
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(|| format!("log {} is not in the trusted root", hex::encode(&id)))?;
    let promise = entry
        .inclusion_promise
        .as_ref()
        .ok_or("the entry has no signed entry timestamp (inclusionPromise)")?;
    let set =
        b64(&promise.signed_entry_timestamp).map_err(|e| format!("signedEntryTimestamp: {e}"))?;
    // The promise signs the canonical JSON (RFC 8785) of these four fields, in this order.
    let signed = format!(
        r#"{{"body":{},"integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        Value::String(entry.canonicalized_body.clone()),
        entry.integrated_time.0,
        hex::encode(&id),
        entry.log_index.0
    );
    if !log.key.verifies(Hash::Sha256, signed.as_bytes(), &set) {
        return Err("the signed entry timestamp does not verify with the log's key".into());
    }
    let at = u64::try_from(entry.integrated_time.0).map_err(|_| "a negative integrated time")?;
    if !log.valid.holds(at) {
        return Err(format!(
            "the log's key was not valid at {}",
            crate::time::rfc3339(at)
        ));
    }
    records(entry, envelope, cert)?;
    Ok(at)
}

/// The entry's body records this envelope's signature and this certificate: a `dsse` entry,
/// either as Rekor stores it (hashes, signatures with their verifiers) or as proposed.
fn records(entry: &TlogEntry, envelope: &Envelope, cert: &Cert) -> Result<(), String> {
    if entry.kind_version.kind != "dsse" {
        return Err(format!(
            "a {} entry; only dsse entries are read",
            entry.kind_version.kind
        ));
    }
    let body: Value = serde_json::from_slice(&b64(&entry.canonicalized_body)?)
        .map_err(|e| format!("canonicalizedBody: {e}"))?;
    let spec = &body["spec"];
    let ours: Vec<&str> = envelope.signatures.iter().map(|s| s.sig.as_str()).collect();
    let (sigs, verifiers) = if let Some(list) = spec["signatures"].as_array() {
        let payload = b64(&envelope.payload)?;
        let want = hex::encode(Hash::Sha256.digest(&payload));
        if spec["payloadHash"]["value"].as_str() != Some(want.as_str()) {
            return Err("the log entry records another payload".into());
        }
        let sigs: Vec<String> = list
            .iter()
            .filter_map(|s| s["signature"].as_str())
            .map(str::to_string)
            .collect();
        let verifiers: Vec<String> = list
            .iter()
            .filter_map(|s| s["verifier"].as_str())
            .map(str::to_string)
            .collect();
        (sigs, verifiers)
    } else {
        let proposed = &spec["proposedContent"];
        let logged: Envelope = proposed["envelope"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or("the log entry has no envelope")?;
        if logged.payload != envelope.payload {
            return Err("the log entry records another payload".into());
        }
        let sigs: Vec<String> = logged.signatures.into_iter().map(|s| s.sig).collect();
        let verifiers: Vec<String> = proposed["verifiers"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|v| v.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        (sigs, verifiers)
    };
    if !ours.iter().all(|s| sigs.iter().any(|l| l == s)) {
        return Err("the log entry records another signature".into());
    }
    let certified = verifiers.iter().any(|v| {
        b64(v)
            .ok()
            .and_then(|pem| String::from_utf8(pem).ok())
            .and_then(|pem| Cert::from_pem(&pem).ok())
            .is_some_and(|c| c.der() == cert.der())
    });
    if !certified {
        return Err("the log entry records another certificate".into());
    }
    Ok(())
}
