//! A digest's signatures in an OCI registry, fetched and left for the caller to verify:
//! - Sigstore bundles among its referrers: the OCI 1.1 referrers API, or the referrers tag
//!   schema (`sha256-<hex>`, an index) where the registry has no such API, as distribution 2.8;
//! - cosign's classic `sha256-<hex>.sig` image, whose simple-signing layers carry their
//!   signatures in an annotation.
//!
//! Every manifest fetched by digest and every blob is hashed here, as the verification's are.

use super::{reference, Fetch, Oci};
use crate::error::{Error, Result};
use crate::types::Digest;
use oci_client::Reference;
use serde::Deserialize;
use sextant_core::ports::registry::{Signatures, SimpleSigned};
use std::collections::BTreeMap;

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The most referrers read for one digest: a bound on the work a crowded index can cause.
const MAX_REFERRERS: usize = 32;

#[derive(Deserialize)]
struct ArtifactManifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl Oci {
    pub(crate) async fn signatures(&self, repository: &str, digest: &Digest) -> Result<Signatures> {
        let reference = reference(repository, digest)?;
        let (client, auth) = self.client_and_auth(repository, &reference)?;
        let fetch = self.fetch(repository, &client, &auth);
        let mut out = Signatures::default();
        for d in fetch.bundle_referrers(&reference, digest).await? {
            for layer in fetch.layers(&reference, &d).await? {
                if layer.media_type.starts_with(BUNDLE) {
                    out.bundles.push(fetch.layer(&reference, &layer).await?);
                }
            }
        }
        let tag = format!("{}.sig", digest.as_str().replace(':', "-"));
        let sig = Reference::with_tag(
            reference.resolve_registry().to_string(),
            reference.repository().to_string(),
            tag,
        );
        let manifest = match fetch.tagged(&sig, digest).await {
            Ok(bytes) => bytes,
            Err(Error::NotFound { .. }) => return Ok(out),
            Err(e) => return Err(e),
        };
        for layer in parse(&fetch, &manifest)? {
            let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION).cloned() else {
                continue;
            };
            if layer.media_type == SIMPLE_SIGNING {
                let payload = fetch.layer(&reference, &layer).await?;
                out.simple.push(SimpleSigned { payload, signature });
            }
        }
        Ok(out)
    }
}

fn parse(fetch: &Fetch<'_>, bytes: &[u8]) -> Result<Vec<Layer>> {
    serde_json::from_slice::<ArtifactManifest>(bytes)
        .map(|m| m.layers)
        .map_err(|e| fetch.bad_manifest(format!("a signature's manifest: {e}")))
}

impl Fetch<'_> {
    /// The digests of the referrers that are Sigstore bundles (at most [`MAX_REFERRERS`]).
    async fn bundle_referrers(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Vec<Digest>> {
        let bytes = self
            .retried(digest, || async {
                let index = self.client.pull_referrers(reference, None).await?;
                serde_json::to_vec(&index).map_err(|e| {
                    oci_client::errors::OciDistributionError::ManifestParsingError(e.to_string())
                })
            })
            .await?;
        let index: oci_client::manifest::OciImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| self.bad_manifest(format!("{digest}'s referrers: {e}")))?;
        let mut out = Vec::new();
        for entry in index.manifests.iter().take(MAX_REFERRERS) {
            if entry
                .artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(BUNDLE))
            {
                out.push(Digest::parse(&entry.digest).map_err(|_| {
                    self.bad_manifest(format!(
                        "{digest}'s referrer {:?} is not sha256",
                        entry.digest
                    ))
                })?);
            }
        }
        Ok(out)
    }

    /// A referrer's layers, its manifest hashed to its digest.
    async fn layers(&self, reference: &Reference, digest: &Digest) -> Result<Vec<Layer>> {
        let bytes = self
            .manifest(&reference.clone_with_digest(digest.to_string()), digest)
            .await?;
        parse(self, &bytes)
    }

    /// A layer's bytes (bounded as a config's), hashed to its digest.
    async fn layer(&self, reference: &Reference, layer: &Layer) -> Result<Vec<u8>> {
        let digest = Digest::parse(&layer.digest).map_err(|_| {
            self.bad_manifest(format!("a layer digest {:?} is not sha256", layer.digest))
        })?;
        if layer.size > crate::manifest::MAX_CONFIG_BYTES {
            return Err(self.bad_manifest(format!(
                "{digest}: a signature layer of {} bytes",
                layer.size
            )));
        }
        self.blob(reference, &digest).await
    }

    /// A manifest by tag (not hashed: a tag names no content).
    async fn tagged(&self, reference: &Reference, about: &Digest) -> Result<Vec<u8>> {
        self.retried(about, || async {
            self.client
                .pull_manifest_raw(reference, self.auth, crate::manifest::ACCEPTED)
                .await
                .map(|(bytes, _)| bytes.to_vec())
        })
        .await
    }
}
