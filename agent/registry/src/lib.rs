//! `sextant-registry`: checks that an image digest really is in a registry before Sextant
//! proposes it. For any OCI distribution registry (through `oci-client`): the manifest's bytes
//! hash to the digest, and the platform is there (an index's child, whose bytes are checked too,
//! or a single image's config). For Amazon ECR (through `aws-sdk-ecr`): `DescribeImages`, then
//! `BatchGetImage`'s manifest, hashed the same way. Each refusal is a typed [`Error`] with its
//! metric label; each request is reported to an [`Observer`].
//!
//! ```no_run
//! # async fn f() -> Result<(), sextant_registry::Error> {
//! use sextant_registry::{Config, Registries};
//! let registries = Registries::new(Config::default(), None);
//! let v = registries
//!     .verify(
//!         "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hash-service",
//!         "sha256:6367c48dd193d56ea7b0baad25b19455e529f5ee6367c48dd193d56ea7b0baad",
//!         &"linux/amd64".parse().unwrap(),
//!     )
//!     .await?;
//! assert!(v.content_verified);
//! # Ok(()) }
//! ```

pub mod aws;
mod credentials;
mod ecr;
mod error;
mod manifest;
mod oci;
mod port;
mod types;

pub use error::{CredentialsError, Error, Result};
pub use types::{ParsePlatformError, Platform, Verified};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use types::Digest;

/// Told of every request to a registry: `registry` is `oci` or `ecr`; `code` the HTTP status
/// (`200`, `404`, `401`, …), the ECR exception's name (`ImageNotFoundException`), or `error` when
/// no answer came.
pub trait Observer: Send + Sync {
    fn request(&self, registry: &str, code: &str);
}

#[derive(Clone, Default)]
pub(crate) struct Observe(Option<Arc<dyn Observer>>);

impl Observe {
    pub(crate) fn request(&self, registry: &str, code: &str) {
        if let Some(o) = &self.0 {
            o.request(registry, code);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Registries (`host[:port]`, exactly as in the repository) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Where ECR API calls go instead of AWS (a stand-in such as moto: its digests are not
    /// sha256 of the manifest, so ECR answers from there are not content-verified).
    pub ecr_endpoint: Option<String>,
    /// A docker `config.json` with `auths` for OCI registries; read at each verification.
    pub credentials_file: Option<PathBuf>,
    /// The longest one request may take (connecting, or waiting for an answer).
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            insecure: Vec::new(),
            ecr_endpoint: None,
            credentials_file: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Every registry Sextant can verify in: ECR for `<account>.dkr.ecr.<region>.amazonaws.com/…`,
/// the OCI distribution API for any other host.
pub struct Registries {
    oci: oci::Oci,
    ecr: ecr::Ecr,
}

impl Registries {
    pub fn new(config: Config, observer: Option<Arc<dyn Observer>>) -> Registries {
        let observe = Observe(observer);
        Registries {
            oci: oci::Oci::new(
                config.insecure,
                config.credentials_file,
                config.timeout,
                observe.clone(),
            ),
            ecr: ecr::Ecr::new(config.ecr_endpoint, config.timeout, observe),
        }
    }

    /// Whether `repository@digest` is in its registry, is the bytes the digest names, and holds
    /// an image for `platform`.
    pub async fn verify(
        &self,
        repository: &str,
        digest: &str,
        platform: &Platform,
    ) -> Result<Verified> {
        let digest = Digest::parse(digest)?;
        let result = match ecr::parse_repository(repository) {
            Some(ecr) => self.ecr.verify(repository, &ecr?, &digest, platform).await,
            None => self.oci.verify(repository, &digest, platform).await,
        };
        match &result {
            Ok(v) => tracing::debug!(
                repository,
                %digest,
                content_verified = v.content_verified,
                platform_digest = v.platform_digest.as_deref(),
                "registry verified the digest"
            ),
            Err(e) => {
                tracing::debug!(repository, %digest, error = %e, "registry refused the digest")
            }
        }
        result
    }
}

impl Registries {
    /// The Sigstore bundles and cosign signatures attached to `repository@digest`, unverified.
    /// Only OCI registries are read: signatures in ECR are not fetched yet.
    pub async fn signatures(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<sextant_core::ports::registry::Signatures> {
        let digest = Digest::parse(digest)?;
        match ecr::parse_repository(repository) {
            Some(_) => Err(Error::Registry {
                repository: repository.into(),
                code: "unsupported".into(),
                message: "signatures are not read from ECR yet; verify signatures of images in an OCI registry"
                    .into(),
            }),
            None => self.oci.signatures(repository, &digest).await,
        }
    }
}

/// rustls with ring, process-wide, for oci-client's reqwest (built with no provider of its own,
/// so that aws-lc is not built): a no-op when one is installed already.
pub(crate) fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
