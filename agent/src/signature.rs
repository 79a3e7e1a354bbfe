//! A promoted digest's signature, as both loops ask it: the promotion loop before it proposes a
//! digest, and the target's reconciler before it applies one (`spec.promotion.verifyOnApply`).
//! The registry port fetches what is attached to the digest; `sextant-signature` verifies it
//! offline against the configured trusted root. Each verification is counted in
//! `sextant_promotion_verifications_total`.

use crate::environment::promoted::SignaturePolicy;
use crate::metrics::Metrics;
use crate::registry::{Registry, RegistryError};
use sextant_signature::{Policy, PublicKey, Refusal, Signer, Subject, TrustRoot, Verified};

/// Why a digest is not verified: refused (a verdict), or the registry could not be read.
#[derive(Debug, Clone)]
pub enum Failure {
    Refused(Refusal),
    Registry(RegistryError),
}

/// The verification policy a configuration states; `at` names the field in an error.
pub fn policy(s: &SignaturePolicy, at: &str) -> Result<Policy, Refusal> {
    let signer = match (&s.key, &s.keyless) {
        (Some(pem), None) => Signer::Key(
            PublicKey::from_pem(pem).map_err(|e| Refusal::Config(format!("{at}.key: {e}")))?,
        ),
        (None, Some(k)) => Signer::Keyless {
            issuer: k.issuer.clone(),
            subject: match (&k.subject, &k.subject_reg_exp) {
                (Some(s), None) => Subject::Exact(s.clone()),
                (None, Some(p)) => Subject::Pattern(
                    regex::Regex::new(p)
                        .map_err(|e| Refusal::Config(format!("{at}.keyless.subjectRegExp: {e}")))?,
                ),
                _ => {
                    return Err(Refusal::Config(format!(
                        "{at}.keyless: give subject or subjectRegExp"
                    )))
                }
            },
        },
        _ => return Err(Refusal::Config(format!("{at}: give key or keyless"))),
    };
    Ok(Policy {
        signer,
        attestations: s.attestations.clone(),
    })
}

/// `oci` or `ecr`: the metric's `registry` label.
fn registry_kind(repository: &str) -> &'static str {
    let host = repository.split('/').next().unwrap_or_default();
    if host.contains(".dkr.ecr.") && host.ends_with(".amazonaws.com") {
        "ecr"
    } else {
        "oci"
    }
}

/// Whether `repository@digest` is signed as `s` says, at `now` (seconds since the epoch).
pub async fn check<R: Registry>(
    registry: &R,
    trust: Option<&TrustRoot>,
    metrics: &Metrics,
    repository: &str,
    digest: &str,
    s: &SignaturePolicy,
    now: u64,
) -> Result<Verified, Failure> {
    let count = |result: &str| {
        metrics
            .promotion_verifications_total
            .with_label_values(&[registry_kind(repository), result])
            .inc();
    };
    let policy = policy(s, "verify.signature").inspect_err(|r| count(r.label()));
    let policy = policy.map_err(Failure::Refused)?;
    let artifacts = registry
        .signatures(repository, digest)
        .await
        .map_err(Failure::Registry)?;
    let verdict = sextant_signature::verify(digest, &artifacts, &policy, trust, now);
    match &verdict {
        Ok(v) => {
            count("verified");
            tracing::info!(repository, digest, signer = %v.signer, "signature verified");
        }
        Err(r) => {
            count(r.label());
            tracing::warn!(repository, digest, reason = %r, "signature refused");
        }
    }
    verdict.map_err(Failure::Refused)
}

/// A signature check as the reconciler holds it: the registry and trusted root bound in, so
/// the reconciler stays generic over its cluster alone.
pub type Checker = std::sync::Arc<
    dyn Fn(
            String,
            String,
            SignaturePolicy,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Verified, Failure>> + Send>>
        + Send
        + Sync,
>;

/// [`check`] over this registry, trusted root and metrics, at the system clock's time.
pub fn checker<R: Registry + 'static>(
    registry: std::sync::Arc<R>,
    trust: Option<std::sync::Arc<TrustRoot>>,
    metrics: Metrics,
) -> Checker {
    std::sync::Arc::new(move |repository, digest, policy| {
        let (registry, trust, metrics) = (registry.clone(), trust.clone(), metrics.clone());
        Box::pin(async move {
            let now = unix_seconds();
            check(
                &*registry,
                trust.as_deref(),
                &metrics,
                &repository,
                &digest,
                &policy,
                now,
            )
            .await
        })
    })
}

/// Seconds since the epoch now: the time a signature's certificate is judged at when no
/// timestamp says when it signed.
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A verified signature, in words: who signed, when, and the attestations verified with it.
pub fn describe(v: &Verified) -> String {
    let mut out = format!("signed by {}", v.signer);
    if let Some(at) = v.signed_at {
        out.push_str(&format!(" at {}", sextant_signature::time::rfc3339(at)));
    }
    if !v.attestations.is_empty() {
        out.push_str(&format!("; attested: {}", v.attestations.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::promoted::Keyless;

    #[test]
    fn a_policy_names_the_field_it_cannot_read() {
        let bad_key = SignaturePolicy {
            key: Some("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----".into()),
            keyless: None,
            attestations: Vec::new(),
        };
        let e = policy(&bad_key, "spec.promotion.images[0].verify.signature").unwrap_err();
        assert!(e.to_string().starts_with("cannot verify: spec.promotion.images[0].verify.signature.key: not a PEM public key"), "{e}");
        let both = SignaturePolicy {
            key: None,
            keyless: Some(Keyless {
                issuer: "i".into(),
                subject: Some("s".into()),
                subject_reg_exp: Some("s".into()),
            }),
            attestations: Vec::new(),
        };
        assert_eq!(policy(&both, "x").unwrap_err().label(), "config");
        assert_eq!(
            registry_kind("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"),
            "ecr"
        );
        assert_eq!(registry_kind("127.0.0.1:5000/app"), "oci");
    }
}
