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

pub trait Registry: Send + Sync {
    fn verify(
        &self,
        repository: &str,
        digest: &str,
        platform: &str,
    ) -> impl Future<Output = Result<Verification, RegistryError>> + Send;
}
