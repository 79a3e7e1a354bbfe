//! The agent's [`sextant_sops::Kms`]: AWS KMS `Decrypt` through `aws-sdk-kms`, with the default
//! credential chain (IRSA in a cluster) and the standard endpoint variables
//! (`AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`) for a stand-in. The region is the key ARN's.
//!
//! A render is synchronous (helm runs on a blocking thread), so the calls run on a small runtime
//! of their own, made at the first KMS stanza: an agent without KMS-encrypted files starts none.
//! A data key once opened is kept in memory by (key, ciphertext): it changes only when the file
//! is encrypted again, so a resync costs no KMS call. Nothing of it is written anywhere.

use sextant_sops::{Kms, KmsError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use zeroize::Zeroizing;

/// Each attempt's bound; the SDK's standard retries (throttling, 5xx) come on top.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Data keys kept, at most.
const MAX_OPENED: usize = 256;

type Clients = Arc<tokio::sync::Mutex<HashMap<String, aws_sdk_kms::Client>>>;
/// Data keys opened, by (key ARN, ciphertext).
type Opened = Mutex<HashMap<(String, Vec<u8>), Zeroizing<Vec<u8>>>>;

#[derive(Default)]
pub struct AwsKms {
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
    clients: Clients,
    opened: Opened,
}

/// `eu-west-1` of `arn:aws:kms:eu-west-1:123456789012:key/…`.
fn region_of(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

impl Kms for AwsKms {
    fn decrypt(
        &self,
        arn: &str,
        ciphertext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let cached = (arn.to_string(), ciphertext.to_vec());
        if let Some(key) = self
            .opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cached)
        {
            return Ok(key.clone());
        }
        let region = region_of(arn).ok_or_else(|| KmsError {
            message: "not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)".into(),
            transient: false,
        })?;
        let runtime = self
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("sextant-kms")
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| KmsError {
                message: format!("cannot start the KMS client: {e}"),
                transient: true,
            })?;
        let (tx, rx) = std::sync::mpsc::channel();
        let call = call(
            self.clients.clone(),
            region.to_string(),
            arn.to_string(),
            ciphertext.to_vec(),
            context.clone(),
        );
        runtime.spawn(async move {
            let _ = tx.send(call.await);
        });
        let key = rx.recv().map_err(|_| KmsError {
            message: "the KMS call ended without an answer".into(),
            transient: true,
        })??;
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if opened.len() >= MAX_OPENED {
            opened.clear();
        }
        opened.insert(cached, key.clone());
        Ok(key)
    }
}

async fn call(
    clients: Clients,
    region: String,
    arn: String,
    ciphertext: Vec<u8>,
    context: BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let client = {
        let mut clients = clients.lock().await;
        match clients.get(&region) {
            Some(c) => c.clone(),
            None => {
                let config =
                    sextant_registry::aws::sdk_config(&region, ATTEMPT_TIMEOUT, None).await;
                let c = aws_sdk_kms::Client::new(&config);
                clients.insert(region.clone(), c.clone());
                c
            }
        }
    };
    let answer = client
        .decrypt()
        .key_id(&arn)
        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(ciphertext))
        .set_encryption_context((!context.is_empty()).then(|| context.into_iter().collect()))
        .send()
        .await
        .map_err(refusal)?;
    let plain = answer.plaintext.ok_or_else(|| KmsError {
        message: "KMS answered without a plaintext".into(),
        transient: false,
    })?;
    Ok(Zeroizing::new(plain.into_inner()))
}

/// KMS's error as the render reports it: its code and message, and whether a later try may
/// work (throttled, KMS's own failure, no answer).
fn refusal<R>(
    e: aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::decrypt::DecryptError, R>,
) -> KmsError
where
    R: std::fmt::Debug,
{
    use aws_sdk_kms::error::{ProvideErrorMetadata as _, SdkError};
    match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or("error").to_string();
            let transient = matches!(
                code.as_str(),
                "ThrottlingException"
                    | "KMSInternalException"
                    | "DependencyTimeoutException"
                    | "KeyUnavailableException"
            );
            KmsError {
                message: format!("{code}: {}", err.message().unwrap_or_default()),
                transient,
            }
        }
        SdkError::TimeoutError(_) => KmsError {
            message: "KMS did not answer in time".into(),
            transient: true,
        },
        SdkError::DispatchFailure(_) => KmsError {
            message: format!("KMS could not be reached: {}", chain(&e)),
            transient: true,
        },
        _ => KmsError {
            message: chain(&e),
            transient: false,
        },
    }
}

/// An error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_is_read_from_the_key_arn() {
        let cases = [
            (
                "arn:aws:kms:eu-west-1:123456789012:key/abc",
                Some("eu-west-1"),
            ),
            (
                "arn:aws-cn:kms:cn-north-1:123456789012:alias/x",
                Some("cn-north-1"),
            ),
            ("arn:aws:s3:::bucket", None),
            ("alias/x", None),
            ("arn:aws:kms::123456789012:key/abc", None),
        ];
        for (arn, region) in cases {
            assert_eq!(region_of(arn), region, "{arn}");
        }
    }
}
