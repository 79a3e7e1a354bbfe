//! What promotion needs of an image registry, as the core defines it (the edge crate
//! `sextant-registry` implements it, `sextant-fakes` fakes it): is this digest really there, for this platform.

use std::future::Future;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub digest: String,
    pub repository: String,
    /// sha256 of the bytes fetched equals the digest.
    pub content_verified: bool,
    pub platform: Option<String>,
    pub platform_digest: Option<String>,
    pub media_type: String,
    pub registry: String,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RegistryError {
    pub message: String,
    /// Bounded: a metric label.
    pub label: &'static str,
    pub transient: bool,
}

/// What the registry holds about a digest's signatures, unverified: the caller verifies them
/// (`sextant-signature`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signatures {
    /// Sigstore bundles (JSON): the digest's referrers of the bundle artifact type.
    pub bundles: Vec<Vec<u8>>,
    /// cosign's simple-signing layers, from the digest's `sha256-<hex>.sig` image.
    pub simple: Vec<SimpleSigned>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigned {
    pub payload: Vec<u8>,
    /// The `dev.cosignproject.cosign/signature` annotation: base64.
    pub signature: String,
}

pub trait Registry: Send + Sync {
    fn verify(
        &self,
        repository: &str,
        digest: &str,
        platform: &str,
    ) -> impl Future<Output = Result<Verification, RegistryError>> + Send;

    /// The signatures and attestations attached to `repository@digest`; none is not an error.
    fn signatures(
        &self,
        repository: &str,
        digest: &str,
    ) -> impl Future<Output = Result<Signatures, RegistryError>> + Send;
}
