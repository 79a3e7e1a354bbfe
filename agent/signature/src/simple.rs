//! cosign's classic signature: a `sha256-<hex>.sig` image whose layers are "simple signing"
//! payloads, each with its signature in the `dev.cosignproject.cosign/signature` annotation
//! (base64 DER ECDSA over the payload's bytes, SHA-256).
//! https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md

use crate::key::{Hash, PublicKey};
use crate::{Refusal, SimpleSignature};
use serde::Deserialize;

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: Image,
    #[serde(rename = "type")]
    type_: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

pub fn check(s: &SimpleSignature, key: &PublicKey, digest: &str) -> Result<(), Refusal> {
    let sig = crate::bundle::b64(&s.signature)
        .map_err(|e| Refusal::Malformed(format!("cosign signature annotation: {e}")))?;
    if !key.verifies(Hash::Sha256, &s.payload, &sig) {
        return Err(Refusal::BadSignature(format!(
            "the cosign signature does not verify with the key {}",
            key.fingerprint()
        )));
    }
    let payload: Payload = serde_json::from_slice(&s.payload)
        .map_err(|e| Refusal::Malformed(format!("cosign simple signing payload: {e}")))?;
    if payload.critical.type_ != "cosign container image signature" {
        return Err(Refusal::Malformed(format!(
            "cosign payload of type {:?}",
            payload.critical.type_
        )));
    }
    if payload.critical.image.digest != digest {
        return Err(Refusal::OtherDigest {
            named: payload.critical.image.digest,
            digest: digest.to_string(),
        });
    }
    Ok(())
}
