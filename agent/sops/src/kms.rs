//! Data keys encrypted by AWS KMS (`sops.kms`): each stanza's `enc` is the base64 of KMS's
//! ciphertext blob, bound to the stanza's `context` as KMS's encryption context. Opening one is
//! a call to KMS, behind the [`Kms`] trait: the agent's implementation uses `aws-sdk-kms` with
//! the default credential chain (IRSA in a cluster); a test may give its own.

use crate::{malformed, SopsError};
use base64::Engine as _;
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Why KMS did not open a data key. The message is KMS's (or the client's), never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KmsError {
    pub message: String,
    /// A later try may work: KMS did not answer, or throttled.
    pub transient: bool,
}

/// Opens a data key AWS KMS encrypted.
pub trait Kms: Send + Sync {
    /// The plaintext of `ciphertext`, encrypted under the KMS key `arn` with `context` as its
    /// encryption context.
    fn decrypt(
        &self,
        arn: &str,
        ciphertext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError>;
}

/// The data key from the first `sops.kms` stanza KMS opens; `None` when no stanza is there or
/// nothing here calls KMS (each stanza's key is then listed in `recipients`). A stanza KMS
/// refuses is an error if no later one opens.
pub(crate) fn data_key(
    block: &Mapping,
    kms: Option<&dyn Kms>,
    recipients: &mut Vec<String>,
) -> Result<Option<Zeroizing<Vec<u8>>>, SopsError> {
    let mut failed = None;
    for (i, stanza) in block
        .get("kms")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("sops.kms[{i}]");
        let Some(arn) = stanza.get("arn").and_then(Value::as_str) else {
            return Err(malformed(&at, "no arn"));
        };
        let Some(kms) = kms else {
            recipients.push(format!("{arn} (AWS KMS: no KMS client here)"));
            continue;
        };
        recipients.push(arn.to_string());
        let enc = stanza
            .get("enc")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(&at, "no enc"))?;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(enc.trim())
            .map_err(|_| malformed(&format!("{at}.enc"), "not base64"))?;
        let context: BTreeMap<String, String> = stanza
            .get("context")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
            .collect();
        match kms.decrypt(arn, &blob, &context) {
            Ok(key) if key.len() == 32 => return Ok(Some(key)),
            Ok(_) => return Err(malformed(&at, "the data key is not 32 bytes")),
            Err(e) => {
                failed = Some(SopsError::Kms {
                    arn: arn.to_string(),
                    message: e.message,
                    transient: e.transient,
                })
            }
        }
    }
    failed.map_or(Ok(None), Err)
}
