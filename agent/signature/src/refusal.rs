//! Why a digest is not verified: one reason per kind, with its metric label.

use crate::time::rfc3339;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "unsigned: the registry holds no Sigstore bundle and no cosign signature for {digest}"
    )]
    Unsigned { digest: String },
    #[error("signed by another identity: {subject} (issuer {issuer}); the policy wants {wanted}")]
    OtherIdentity {
        subject: String,
        issuer: String,
        wanted: String,
    },
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("the signature is over another digest: it names {named}, not {digest}")]
    OtherDigest { named: String, digest: String },
    #[error("the signing certificate is not from a trusted certificate authority: {0}")]
    Untrusted(String),
    #[error(
        "the signing certificate was not valid at {} ({from}): it is valid from {} to {}",
        rfc3339(*at), rfc3339(*not_before), rfc3339(*not_after)
    )]
    OutsideValidity {
        at: u64,
        /// `a timestamp authority`, `the transparency log`, or `now, without a verified
        /// timestamp`.
        from: &'static str,
        not_before: u64,
        not_after: u64,
    },
    #[error("a timestamp does not verify: {0}")]
    BadTimestamp(String),
    #[error(
        "no verified {predicate_type} attestation by the signer{}",
        found_list(found)
    )]
    MissingAttestation {
        predicate_type: String,
        found: Vec<String>,
    },
    #[error("unreadable signature: {0}")]
    Malformed(String),
    #[error("cannot verify: {0}")]
    Config(String),
}

fn found_list(types: &[String]) -> String {
    if types.is_empty() {
        String::new()
    } else {
        format!(" (verified: {})", types.join(", "))
    }
}

impl Refusal {
    /// Bounded: the `result` label of `sextant_promotion_verifications_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Unsigned { .. } => "unsigned",
            Refusal::OtherIdentity { .. } => "other_identity",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::OtherDigest { .. } => "other_digest",
            Refusal::Untrusted(_) => "untrusted",
            Refusal::OutsideValidity { .. } => "outside_validity",
            Refusal::BadTimestamp(_) => "bad_timestamp",
            Refusal::MissingAttestation { .. } => "missing_attestation",
            Refusal::Malformed(_) => "malformed",
            Refusal::Config(_) => "config",
        }
    }

    pub const LABELS: [&'static str; 10] = [
        "unsigned",
        "other_identity",
        "bad_signature",
        "other_digest",
        "untrusted",
        "outside_validity",
        "bad_timestamp",
        "missing_attestation",
        "malformed",
        "config",
    ];

    /// Of several signatures refused, the one to tell: the nearest to verifying (a signature
    /// by the wanted signer over another digest says more than a stranger's).
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Refusal::OtherDigest { .. } => 9,
            Refusal::OutsideValidity { .. } => 8,
            Refusal::BadTimestamp(_) => 7,
            Refusal::OtherIdentity { .. } => 6,
            Refusal::BadSignature(_) => 5,
            Refusal::Untrusted(_) => 4,
            Refusal::Malformed(_) => 3,
            Refusal::MissingAttestation { .. } | Refusal::Config(_) => 2,
            Refusal::Unsigned { .. } => 1,
        }
    }
}
