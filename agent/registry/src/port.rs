//! The core's registry port (`sextant_core::ports::registry::Registry`) over [`Registries`](crate::Registries):
//! a digest verified in OCI or ECR, and its signatures fetched; each error typed with a metric label and whether it is
//! transient.

use sextant_core::ports::registry::{Registry, RegistryError, Signatures, Verification};

impl Registry for crate::Registries {
    async fn verify(
        &self,
        repository: &str,
        digest: &str,
        platform: &str,
    ) -> Result<Verification, RegistryError> {
        let platform: crate::Platform = platform.parse().map_err(|e| RegistryError {
            message: format!("platform {platform:?}: {e}"),
            label: "bad_platform",
            transient: false,
        })?;
        match crate::Registries::verify(self, repository, digest, &platform).await {
            Ok(v) => Ok(Verification {
                digest: v.digest,
                repository: v.repository,
                content_verified: v.content_verified,
                platform: v.platform,
                platform_digest: v.platform_digest,
                media_type: v.media_type,
                registry: v.registry,
            }),
            Err(e) => Err(port_error(e)),
        }
    }

    async fn signatures(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Signatures, RegistryError> {
        crate::Registries::signatures(self, repository, digest)
            .await
            .map_err(port_error)
    }
}

fn port_error(e: crate::Error) -> RegistryError {
    RegistryError {
        message: e.to_string(),
        label: e.metric_label(),
        transient: e.is_transient(),
    }
}
