//! An in-memory registry: the digests that exist in each repository, their signatures, and
//! failures on request (a queue shared by verifications and signature reads).
//! A digest it does not hold answers as the edge does for a manifest the registry lacks: a
//! permanent error labelled `not_found`.

use sextant_core::ports::registry::{Registry, RegistryError, Signatures, Verification};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

#[derive(Default)]
pub struct FakeRegistry {
    held: Mutex<BTreeSet<(String, String)>>,
    signed: Mutex<BTreeMap<(String, String), Signatures>>,
    faults: Mutex<VecDeque<RegistryError>>,
    calls: Mutex<Vec<(String, String)>>,
}

impl FakeRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// `repository` holds `digest` (for every platform asked).
    pub fn push(&self, repository: &str, digest: &str) {
        lock(&self.held).insert((repository.to_string(), digest.to_string()));
    }

    /// `repository@digest` carries these signatures (an unsigned digest carries none).
    pub fn sign(&self, repository: &str, digest: &str, signatures: Signatures) {
        lock(&self.signed).insert((repository.to_string(), digest.to_string()), signatures);
    }

    /// The next verification fails with `e` (a queue: one fault per call).
    pub fn fail(&self, e: RegistryError) {
        lock(&self.faults).push_back(e);
    }

    /// A registry that does not answer, as the edge says it (`Error::Unreachable`).
    pub fn unavailable() -> RegistryError {
        RegistryError {
            message: "registry.example/hash-service: cannot reach the registry: connection refused"
                .into(),
            label: "unreachable",
            transient: true,
        }
    }

    /// The (repository, digest) pairs asked, in order.
    pub fn calls(&self) -> Vec<(String, String)> {
        lock(&self.calls).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry for FakeRegistry {
    async fn verify(
        &self,
        repository: &str,
        digest: &str,
        platform: &str,
    ) -> Result<Verification, RegistryError> {
        lock(&self.calls).push((repository.to_string(), digest.to_string()));
        if let Some(e) = lock(&self.faults).pop_front() {
            return Err(e);
        }
        if !lock(&self.held).contains(&(repository.to_string(), digest.to_string())) {
            return Err(RegistryError {
                message: format!("{repository}@{digest}: manifest unknown (HTTP 404)"),
                label: "not_found",
                transient: false,
            });
        }
        Ok(Verification {
            digest: digest.to_string(),
            repository: repository.to_string(),
            content_verified: true,
            platform: Some(platform.to_string()),
            platform_digest: None,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            registry: repository.split('/').next().unwrap_or_default().to_string(),
        })
    }

    async fn signatures(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Signatures, RegistryError> {
        lock(&self.calls).push((repository.to_string(), digest.to_string()));
        if let Some(e) = lock(&self.faults).pop_front() {
            return Err(e);
        }
        Ok(lock(&self.signed)
            .get(&(repository.to_string(), digest.to_string()))
            .cloned()
            .unwrap_or_default())
    }
}
