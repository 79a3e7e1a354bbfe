//! What promotion needs of an image registry, as the core defines it (the edge crate
//! `sextant-registry` implements it): is this digest really there, for this platform.

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
    pub label: String,
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

impl Registry for sextant_registry::Registries {
    async fn verify(
        &self,
        repository: &str,
        digest: &str,
        platform: &str,
    ) -> Result<Verification, RegistryError> {
        let platform: sextant_registry::Platform = platform.parse().map_err(|e| RegistryError {
            message: format!("platform {platform:?}: {e}"),
            label: "bad_platform".into(),
            transient: false,
        })?;
        match sextant_registry::Registries::verify(self, repository, digest, &platform).await {
            Ok(v) => Ok(Verification {
                digest: v.digest,
                repository: v.repository,
                content_verified: v.content_verified,
                platform: v.platform,
                platform_digest: v.platform_digest,
                media_type: v.media_type,
                registry: v.registry,
            }),
            Err(e) => Err(RegistryError {
                message: e.to_string(),
                label: e.metric_label().to_string(),
                transient: e.is_transient(),
            }),
        }
    }
}
