//! Any OCI distribution registry, through `oci-client` (its bearer-token flow, or basic auth from
//! the credentials file). A manifest is fetched by digest and its bytes hashed here, whatever
//! `Docker-Content-Digest` says; an index leads to the platform's child, whose bytes are hashed
//! too; a single image's config blob is fetched, hashed and its platform read.

use crate::credentials::Credentials;
use crate::error::{chain, Error, Result};
use crate::manifest::{self, Manifest};
use crate::types::{sha256_of, Digest, Platform, Verified};
use crate::Observe;
use futures::StreamExt as _;
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sextant_core::backoff::Backoff;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

mod signatures;

pub(crate) const LABEL: &str = "oci";

/// Attempts of one request when the answer is transient (unreachable, 429, 5xx).
const ATTEMPTS: u32 = 3;
/// Waits between them: 200 ms doubling (the attempt count bounds it).
const BACKOFF: Backoff = Backoff::uncapped(Duration::from_millis(200));

pub(crate) struct Oci {
    insecure: Vec<String>,
    credentials_file: Option<PathBuf>,
    timeout: Duration,
    /// The client for the credentials last read: oci-client keeps the first credentials it sees
    /// per registry, so new ones (a rotated Secret) need a new client (and token cache).
    client: Mutex<Option<(Credentials, Client)>>,
    observe: Observe,
}

impl Oci {
    pub(crate) fn new(
        insecure: Vec<String>,
        credentials_file: Option<PathBuf>,
        timeout: Duration,
        observe: Observe,
    ) -> Oci {
        Oci {
            insecure,
            credentials_file,
            timeout,
            client: Mutex::new(None),
            observe,
        }
    }

    /// The client and credentials of this verification; the file is read each time.
    fn client(&self, repository: &str) -> Result<(Client, Credentials)> {
        let credentials = match &self.credentials_file {
            Some(file) => Credentials::read(file)?,
            None => Credentials::default(),
        };
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((held, client)) = slot.as_ref() {
            if *held == credentials {
                return Ok((client.clone(), credentials));
            }
        }
        crate::install_crypto();
        let config = oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(self.insecure.clone()),
            read_timeout: Some(self.timeout),
            connect_timeout: Some(self.timeout),
            ..Default::default()
        };
        let client = Client::try_from(config).map_err(|e| Error::Registry {
            repository: repository.into(),
            code: "client".into(),
            message: format!("cannot build the HTTP client: {e}"),
        })?;
        *slot = Some((credentials.clone(), client.clone()));
        Ok((client, credentials))
    }

    /// The client, and the credentials the file holds for the reference's registry.
    fn client_and_auth(
        &self,
        repository: &str,
        reference: &Reference,
    ) -> Result<(Client, RegistryAuth)> {
        let (client, credentials) = self.client(repository)?;
        let auth = match credentials.for_host(reference.registry()) {
            Some((user, password)) => RegistryAuth::Basic(user.into(), password.into()),
            None => RegistryAuth::Anonymous,
        };
        Ok((client, auth))
    }

    /// One verification's requests, with this client and credentials.
    fn fetch<'a>(
        &'a self,
        repository: &'a str,
        client: &'a Client,
        auth: &'a RegistryAuth,
    ) -> Fetch<'a> {
        Fetch {
            client,
            auth,
            repository,
            timeout: self.timeout,
            observe: &self.observe,
        }
    }

    pub(crate) async fn verify(
        &self,
        repository: &str,
        digest: &Digest,
        platform: &Platform,
    ) -> Result<Verified> {
        let reference = reference(repository, digest)?;
        let (client, auth) = self.client_and_auth(repository, &reference)?;
        let fetch = self.fetch(repository, &client, &auth);
        let bytes = fetch.manifest(&reference, digest).await?;
        let parsed = manifest::parse(&bytes, None)
            .map_err(|e| fetch.bad_manifest(format!("{digest}: {e}")))?;
        let mut verified = Verified {
            repository: repository.to_string(),
            digest: digest.to_string(),
            media_type: parsed.media_type().to_string(),
            content_verified: true,
            platform: Some(platform.to_string()),
            platform_digest: None,
            registry: LABEL.into(),
        };
        match parsed {
            Manifest::Index { entries, .. } => {
                let child = fetch
                    .platform_child(&reference, digest, &entries, platform)
                    .await?;
                verified.platform_digest = Some(child.to_string());
            }
            Manifest::Image { config, .. } => {
                fetch
                    .image_config(&reference, digest, &config, platform)
                    .await?;
            }
        }
        Ok(verified)
    }
}

/// `host/path` and a digest as oci-client's reference; a tag or a digest in the repository is
/// refused (the digest is given apart).
fn reference(repository: &str, digest: &Digest) -> Result<Reference> {
    let bad = |message: String| Error::BadRepository {
        repository: repository.into(),
        message,
    };
    if repository.contains('@') {
        return Err(bad("give the repository without a digest".into()));
    }
    let reference: Reference = format!("{repository}@{digest}")
        .parse()
        .map_err(|e| bad(format!("{e}")))?;
    if reference.tag().is_some() {
        return Err(bad("give the repository without a tag".into()));
    }
    Ok(reference)
}

/// One verification's requests: each attempt is bounded, observed and retried when transient.
struct Fetch<'a> {
    client: &'a Client,
    auth: &'a RegistryAuth,
    repository: &'a str,
    timeout: Duration,
    observe: &'a Observe,
}

impl Fetch<'_> {
    fn bad_manifest(&self, message: String) -> Error {
        Error::Registry {
            repository: self.repository.into(),
            code: "manifest".into(),
            message,
        }
    }

    fn wrong_platform(&self, digest: &Digest, platform: &Platform, found: Vec<String>) -> Error {
        Error::WrongPlatform {
            repository: self.repository.into(),
            digest: digest.to_string(),
            wanted: platform.to_string(),
            found,
        }
    }

    /// An index's image for `platform`: its digest, once its manifest is fetched, hashed and
    /// found to be an image.
    async fn platform_child(
        &self,
        reference: &Reference,
        digest: &Digest,
        entries: &[manifest::Entry],
        platform: &Platform,
    ) -> Result<Digest> {
        let entry = manifest::pick(entries, platform)
            .map_err(|found| self.wrong_platform(digest, platform, found))?;
        let child = Digest::parse(&entry.digest).map_err(|_| {
            self.bad_manifest(format!(
                "{digest}: the index's entry for {platform} has the digest {:?}, not sha256",
                entry.digest
            ))
        })?;
        let child_ref = reference.clone_with_digest(child.to_string());
        let bytes = self.manifest(&child_ref, &child).await?;
        match manifest::parse(&bytes, None) {
            Ok(Manifest::Image { .. }) => Ok(child),
            Ok(Manifest::Index { .. }) => Err(self.bad_manifest(format!(
                "{digest}: the entry for {platform}, {child}, is an index itself"
            ))),
            Err(e) => Err(self.bad_manifest(format!("{child}: {e}"))),
        }
    }

    /// An image's config, fetched (bounded in size) and checked against `platform`.
    async fn image_config(
        &self,
        reference: &Reference,
        digest: &Digest,
        config: &manifest::Descriptor,
        platform: &Platform,
    ) -> Result<()> {
        let config_digest = Digest::parse(&config.digest).map_err(|_| {
            self.bad_manifest(format!(
                "{digest}: its config digest {:?} is not sha256",
                config.digest
            ))
        })?;
        if config.size > manifest::MAX_CONFIG_BYTES {
            return Err(self.bad_manifest(format!(
                "{digest}: its config is {} bytes, more than an image config can be",
                config.size
            )));
        }
        let bytes = self.blob(reference, &config_digest).await?;
        manifest::check_config(&bytes, platform)
            .map_err(|found| self.wrong_platform(digest, platform, found))
    }

    /// The manifest's bytes, which must hash to `digest`.
    async fn manifest(&self, reference: &Reference, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = self
            .retried(digest, || async {
                self.client
                    .pull_manifest_raw(reference, self.auth, manifest::ACCEPTED)
                    .await
                    .map(|(bytes, _)| bytes.to_vec())
            })
            .await?;
        self.hashed(digest, bytes)
    }

    /// A blob's bytes (at most an image config's size), which must hash to `digest`.
    async fn blob(&self, reference: &Reference, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = self
            .retried(digest, || async {
                let mut stream = self
                    .client
                    .pull_blob_stream(reference, digest.as_str())
                    .await?;
                let mut out = Vec::new();
                while let Some(chunk) = stream.next().await {
                    out.extend_from_slice(&chunk?);
                    if out.len() as i64 > manifest::MAX_CONFIG_BYTES {
                        break; // more than a config can be: the hash below refuses it
                    }
                }
                Ok(out)
            })
            .await?;
        self.hashed(digest, bytes)
    }

    /// Our own check of the bytes, whatever the client or the registry's headers said.
    fn hashed(&self, digest: &Digest, bytes: Vec<u8>) -> Result<Vec<u8>> {
        if digest.matches(&bytes) {
            Ok(bytes)
        } else {
            Err(Error::Mismatch {
                repository: self.repository.into(),
                digest: digest.to_string(),
                actual: sha256_of(&bytes),
            })
        }
    }

    async fn retried<F, Fut>(&self, digest: &Digest, attempt: F) -> Result<Vec<u8>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = oci_client::errors::Result<Vec<u8>>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let (code, result) = match tokio::time::timeout(self.timeout, attempt()).await {
                Ok(Ok(bytes)) => ("200".to_string(), Ok(bytes)),
                Ok(Err(e)) => (status_of(&e), Err(typed(self.repository, digest, e))),
                Err(_) => (
                    "error".to_string(),
                    Err(Error::Unreachable {
                        repository: self.repository.into(),
                        message: format!("no answer within {:?}", self.timeout),
                    }),
                ),
            };
            self.observe.request(LABEL, &code);
            match result {
                Err(e) if e.is_transient() && tries < ATTEMPTS => {
                    tracing::debug!(repository = self.repository, error = %e, "registry request retried");
                    tokio::time::sleep(BACKOFF.delay(tries)).await;
                }
                other => return other,
            }
        }
    }
}

/// The HTTP status of a failed request, as far as oci-client keeps it (for an error body only
/// its code: the status the distribution spec gives that code).
fn status_of(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => "401".into(),
        OciDistributionError::ServerError { code, .. } => code.to_string(),
        OciDistributionError::RegistryError { envelope, .. } => {
            match envelope.errors.first().map(|e| &e.code) {
                Some(
                    OciErrorCode::BlobUnknown
                    | OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound,
                ) => "404",
                Some(OciErrorCode::Unauthorized) => "401",
                Some(OciErrorCode::Denied) => "403",
                Some(OciErrorCode::Toomanyrequests) => "429",
                _ => "400",
            }
            .into()
        }
        // The registry answered 200; the bytes were wrong.
        OciDistributionError::DigestError(_) => "200".into(),
        OciDistributionError::RequestError(r) => r
            .status()
            .map_or_else(|| "error".into(), |s| s.as_u16().to_string()),
        _ => "error".into(),
    }
}

fn typed(repository: &str, digest: &Digest, e: OciDistributionError) -> Error {
    let repository = repository.to_string();
    let not_found = || Error::NotFound {
        repository: repository.clone(),
        digest: digest.to_string(),
    };
    match e {
        OciDistributionError::UnauthorizedError { .. } => Error::Unauthorized {
            repository,
            message: "HTTP 401".into(),
        },
        OciDistributionError::AuthenticationFailure(_) => Error::Unauthorized {
            repository,
            message: "the token service refused the credentials".into(),
        },
        OciDistributionError::RegistryError { envelope, .. } => {
            let first = envelope.errors.first();
            match first.map(|e| &e.code) {
                Some(
                    OciErrorCode::BlobUnknown
                    | OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound,
                ) => not_found(),
                Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => Error::Unauthorized {
                    repository,
                    message: first.map(|e| e.message.clone()).unwrap_or_default(),
                },
                Some(OciErrorCode::Toomanyrequests) => Error::Registry {
                    repository,
                    code: "429".into(),
                    message: first.map(|e| e.message.clone()).unwrap_or_default(),
                },
                _ => Error::Registry {
                    repository,
                    code: "400".into(),
                    message: envelope.to_string(),
                },
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => not_found(),
        OciDistributionError::ServerError {
            code: code @ (401 | 403),
            ..
        } => Error::Unauthorized {
            repository,
            message: format!("HTTP {code}"),
        },
        OciDistributionError::ServerError { code, message, .. } => Error::Registry {
            repository,
            code: code.to_string(),
            message: short(&message),
        },
        OciDistributionError::DigestError(DigestError::VerificationError { actual, .. }) => {
            Error::Mismatch {
                repository,
                digest: digest.to_string(),
                actual,
            }
        }
        OciDistributionError::IoError(io) => match io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<DigestError>())
        {
            Some(DigestError::VerificationError { actual, .. }) => Error::Mismatch {
                repository,
                digest: digest.to_string(),
                actual: actual.clone(),
            },
            _ => Error::Unreachable {
                repository,
                message: chain(&io),
            },
        },
        OciDistributionError::RequestError(r) => match r.status() {
            Some(status) => Error::Registry {
                repository,
                code: status.as_u16().to_string(),
                message: chain(&r),
            },
            None => Error::Unreachable {
                repository,
                message: chain(&r),
            },
        },
        other => Error::Registry {
            repository,
            code: "error".into(),
            message: short(&other.to_string()),
        },
    }
}

/// A registry's error body, cut to one readable line.
fn short(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap()
    }

    #[test]
    fn a_repository_is_a_host_and_a_path_without_a_tag_or_digest() {
        let r = reference("127.0.0.1:5000/team/app", &digest()).unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "team/app");
        let hub = reference("nginx", &digest()).unwrap();
        assert_eq!(hub.registry(), "docker.io");
        assert_eq!(hub.repository(), "library/nginx");
        for (bad, why) in [
            ("127.0.0.1:5000/app:1.0", "without a tag"),
            ("127.0.0.1:5000/app@sha256:00", "without a digest"),
            ("127.0.0.1:5000/App", ""),
            ("", ""),
        ] {
            let e = reference(bad, &digest()).unwrap_err();
            assert_eq!(e.metric_label(), "bad_repository", "{bad}");
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn registry_error_codes_become_refusals_and_statuses() {
        let envelope = |code: &str| {
            serde_json::from_value::<oci_client::errors::OciEnvelope>(serde_json::json!({
                "errors": [{"code": code, "message": "m"}]
            }))
            .unwrap()
        };
        let registry_error = |code: &str| OciDistributionError::RegistryError {
            envelope: envelope(code),
            url: "http://r/v2/".into(),
        };
        assert_eq!(status_of(&registry_error("MANIFEST_UNKNOWN")), "404");
        assert_eq!(
            typed("r/app", &digest(), registry_error("MANIFEST_UNKNOWN")).metric_label(),
            "not_found"
        );
        assert_eq!(status_of(&registry_error("DENIED")), "403");
        assert_eq!(
            typed("r/app", &digest(), registry_error("DENIED")).metric_label(),
            "unauthorized"
        );
        let busy = typed("r/app", &digest(), registry_error("TOOMANYREQUESTS"));
        assert!(busy.is_transient(), "{busy:?}");
        let down = OciDistributionError::ServerError {
            code: 503,
            url: "http://r/v2/".into(),
            message: "down\n  for maintenance".into(),
        };
        assert_eq!(status_of(&down), "503");
        let e = typed("r/app", &digest(), down);
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "r/app: the registry answered 503: down for maintenance"
        );
    }
}
