//! Amazon ECR, through `aws-sdk-ecr`: `DescribeImages` says whether the digest is there
//! (`ImageNotFoundException`), `BatchGetImage` gives its manifest, whose bytes are hashed. The
//! credentials are the default chain's: in a cluster, IRSA's web identity (`AWS_ROLE_ARN`,
//! `AWS_WEB_IDENTITY_TOKEN_FILE`).
//!
//! What the bytes prove: AWS computes an image's digest as the sha256 of its manifest and
//! `BatchGetImage` answers the manifest as pushed, so from AWS itself bytes that do not hash to
//! the digest are refused (`Mismatch`). A stand-in at `ecr_endpoint` (moto) makes up its digests
//! (README: "ECR and moto"): there, such bytes are accepted with `content_verified: false`.
//!
//! The platform is checked where the manifest says it: an index's entries. A single image's
//! platform is in its config blob, which the ECR API only hands out as a presigned S3 URL
//! (`GetDownloadUrlForLayer`, which moto does not implement): it is not checked, and `platform`
//! is `None`.

use crate::error::{chain, Error, Result};
use crate::manifest::{self, Manifest};
use crate::types::{sha256_of, Digest, Platform, Verified};
use crate::Observe;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::ImageIdentifier;
use std::collections::HashMap;
use std::time::Duration;

pub(crate) const LABEL: &str = "ecr";

/// An ECR repository: `<account>.dkr.ecr.<region>.amazonaws.com/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EcrRepository {
    pub account: String,
    pub region: String,
    pub name: String,
}

/// `Some` when the repository's host is ECR's (then whether it is a good one), `None` for any
/// other registry.
pub(crate) fn parse_repository(repository: &str) -> Option<Result<EcrRepository>> {
    let (host, name) = repository.split_once('/')?;
    let labels: Vec<&str> = host.split('.').collect();
    let (account, region) = match labels.as_slice() {
        [account, "dkr", "ecr" | "ecr-fips", region, "amazonaws", "com"]
        | [account, "dkr", "ecr" | "ecr-fips", region, "amazonaws", "com", "cn"] => {
            (*account, *region)
        }
        _ => return None,
    };
    let bad = |message: &str| {
        Some(Err(Error::BadRepository {
            repository: repository.into(),
            message: message.into(),
        }))
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return bad("an ECR host starts with the 12-digit account id");
    }
    let component = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    };
    if !name.split('/').all(component) {
        return bad("an ECR repository name is lowercase letters, digits, . _ - and /, without a tag or digest");
    }
    Some(Ok(EcrRepository {
        account: account.into(),
        region: region.into(),
        name: name.into(),
    }))
}

/// Whether the manifest ECR answered is the digest's: `Ok(true)` when its bytes hash to it;
/// from a stand-in (moto), `Ok(false)`; from AWS, a `Mismatch`.
pub(crate) fn content(
    repository: &str,
    digest: &Digest,
    bytes: &[u8],
    stand_in: bool,
) -> Result<bool> {
    if digest.matches(bytes) {
        Ok(true)
    } else if stand_in {
        Ok(false)
    } else {
        Err(Error::Mismatch {
            repository: repository.into(),
            digest: digest.to_string(),
            actual: sha256_of(bytes),
        })
    }
}

pub(crate) struct Ecr {
    endpoint: Option<String>,
    timeout: Duration,
    /// One client per region, made at its first use.
    clients: tokio::sync::Mutex<HashMap<String, aws_sdk_ecr::Client>>,
    observe: Observe,
}

impl Ecr {
    pub(crate) fn new(endpoint: Option<String>, timeout: Duration, observe: Observe) -> Ecr {
        Ecr {
            endpoint,
            timeout,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            observe,
        }
    }

    async fn client(&self, region: &str) -> aws_sdk_ecr::Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(region) {
            return c.clone();
        }
        let config = crate::aws::sdk_config(region, self.timeout, self.endpoint.as_deref()).await;
        let client = aws_sdk_ecr::Client::new(&config);
        clients.insert(region.to_string(), client.clone());
        client
    }

    pub(crate) async fn verify(
        &self,
        repository: &str,
        ecr: &EcrRepository,
        digest: &Digest,
        platform: &Platform,
    ) -> Result<Verified> {
        let client = self.client(&ecr.region).await;
        let stand_in = self.endpoint.is_some();
        let described = client
            .describe_images()
            .registry_id(&ecr.account)
            .repository_name(&ecr.name)
            .image_ids(image_id(digest))
            .send()
            .await;
        self.observed(repository, digest, described)?;
        let (bytes, declared) = self.manifest(&client, repository, ecr, digest).await?;
        let mut content_verified = content(repository, digest, &bytes, stand_in)?;
        let parsed = manifest::parse(&bytes, declared.as_deref()).map_err(|e| Error::Registry {
            repository: repository.into(),
            code: "manifest".into(),
            message: format!("{digest}: {e}"),
        })?;
        let mut verified = Verified {
            repository: repository.to_string(),
            digest: digest.to_string(),
            media_type: parsed.media_type().to_string(),
            content_verified,
            platform: None,
            platform_digest: None,
            registry: LABEL.into(),
        };
        if let Manifest::Index { entries, .. } = parsed {
            let entry =
                manifest::pick(&entries, platform).map_err(|found| Error::WrongPlatform {
                    repository: repository.into(),
                    digest: digest.to_string(),
                    wanted: platform.to_string(),
                    found,
                })?;
            let child = Digest::parse(&entry.digest).map_err(|_| Error::Registry {
                repository: repository.into(),
                code: "manifest".into(),
                message: format!(
                    "{digest}: the index's entry for {platform} has the digest {:?}, not sha256",
                    entry.digest
                ),
            })?;
            let (bytes, _) = self.manifest(&client, repository, ecr, &child).await?;
            content_verified &= content(repository, &child, &bytes, stand_in)?;
            verified.content_verified = content_verified;
            verified.platform = Some(platform.to_string());
            verified.platform_digest = Some(child.to_string());
        }
        Ok(verified)
    }

    /// `BatchGetImage` of one digest: the manifest as ECR holds it, and its media type.
    async fn manifest(
        &self,
        client: &aws_sdk_ecr::Client,
        repository: &str,
        ecr: &EcrRepository,
        digest: &Digest,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let got = client
            .batch_get_image()
            .registry_id(&ecr.account)
            .repository_name(&ecr.name)
            .image_ids(image_id(digest))
            // Asked for every type, ECR answers the manifest as pushed, not converted.
            .set_accepted_media_types(Some(
                manifest::ACCEPTED.iter().map(|s| s.to_string()).collect(),
            ))
            .send()
            .await;
        let got = self.observed(repository, digest, got)?;
        let not_found = || Error::NotFound {
            repository: repository.into(),
            digest: digest.to_string(),
        };
        if let Some(image) = got.images().first() {
            let text = image.image_manifest().ok_or_else(not_found)?;
            return Ok((
                text.as_bytes().to_vec(),
                image.image_manifest_media_type().map(str::to_string),
            ));
        }
        match got.failures().first() {
            Some(f)
                if f.failure_code()
                    .is_some_and(|c| c.as_str() != "ImageNotFound") =>
            {
                Err(Error::Registry {
                    repository: repository.into(),
                    code: f
                        .failure_code()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_default(),
                    message: f.failure_reason().unwrap_or_default().to_string(),
                })
            }
            _ => Err(not_found()),
        }
    }

    /// Records one API call (`200`, the exception's name, or `error` for no answer) and types
    /// its failure.
    fn observed<T, E>(
        &self,
        repository: &str,
        digest: &Digest,
        result: std::result::Result<T, SdkError<E, aws_sdk_ecr::config::http::HttpResponse>>,
    ) -> Result<T>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match result {
            Ok(v) => {
                self.observe.request(LABEL, "200");
                Ok(v)
            }
            Err(e) => {
                let typed = typed(repository, digest, &e);
                let code = match &e {
                    SdkError::ServiceError(s) => s.err().code().unwrap_or("error").to_string(),
                    SdkError::ResponseError(r) => r.raw().status().as_u16().to_string(),
                    _ => "error".to_string(),
                };
                self.observe.request(LABEL, &code);
                Err(typed)
            }
        }
    }
}

/// The image one digest names, as both `DescribeImages` and `BatchGetImage` take it.
fn image_id(digest: &Digest) -> ImageIdentifier {
    ImageIdentifier::builder()
        .image_digest(digest.as_str())
        .build()
}

fn typed<E>(
    repository: &str,
    digest: &Digest,
    e: &SdkError<E, aws_sdk_ecr::config::http::HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let repository = repository.to_string();
    match e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("unknown").to_string();
            let message = s.err().message().unwrap_or_default().to_string();
            match code.as_str() {
                "ImageNotFoundException" | "RepositoryNotFoundException" => Error::NotFound {
                    repository,
                    digest: digest.to_string(),
                },
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "MissingAuthenticationTokenException" => Error::Unauthorized {
                    repository,
                    message: format!("{code}: {message}"),
                },
                _ => Error::Registry {
                    repository,
                    code,
                    message,
                },
            }
        }
        SdkError::TimeoutError(_) => Error::Unreachable {
            repository,
            message: "no answer in time".into(),
        },
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Error::Unreachable {
            repository,
            message: chain(e),
        },
        _ => {
            let message = chain(e);
            // No credentials in the default chain fails here, before any request is sent.
            if message.contains("no credentials") || message.contains("credential provider") {
                Error::Unauthorized {
                    repository,
                    message,
                }
            } else {
                Error::Registry {
                    repository,
                    code: "error".into(),
                    message,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ecr_host_gives_the_account_the_region_and_the_name() {
        assert_eq!(
            parse_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/hash-service"),
            Some(Ok(EcrRepository {
                account: "123456789012".into(),
                region: "eu-west-1".into(),
                name: "team/hash-service".into(),
            }))
        );
        let cn = parse_repository("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app")
            .unwrap()
            .unwrap();
        assert_eq!(cn.region, "cn-north-1");
        assert_eq!(parse_repository("127.0.0.1:5000/app"), None);
        assert_eq!(
            parse_repository("public.ecr.aws/team/app"),
            None,
            "ECR Public speaks OCI"
        );
        assert_eq!(parse_repository("nginx"), None);
        for bad in [
            "12345.dkr.ecr.eu-west-1.amazonaws.com/app",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1.0",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/App",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/",
        ] {
            let e = parse_repository(bad).unwrap().unwrap_err();
            assert_eq!(e.metric_label(), "bad_repository", "{bad}");
        }
    }

    #[test]
    fn sdk_failures_become_refusals() {
        use aws_sdk_ecr::error::ConnectorError;
        use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
        type Failure = SdkError<DescribeImagesError, aws_sdk_ecr::config::http::HttpResponse>;
        let digest = Digest::parse(&sha256_of(b"x")).unwrap();
        let no_credentials = Failure::dispatch_failure(ConnectorError::other(
            "the credential provider was not enabled: no credentials found in chain.\n  Attempted:\n  Environment: not set".into(),
            None,
        ));
        let e = typed("r", &digest, &no_credentials);
        assert_eq!(e.metric_label(), "unauthorized");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
        let refused = Failure::dispatch_failure(ConnectorError::io("Connection refused".into()));
        assert_eq!(typed("r", &digest, &refused).metric_label(), "unreachable");
        let throttled = Failure::service_error(
            DescribeImagesError::generic(
                aws_sdk_ecr::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            ),
            aws_sdk_ecr::config::http::HttpResponse::new(400.try_into().unwrap(), "".into()),
        );
        let e = typed("r", &digest, &throttled);
        assert_eq!(
            e,
            Error::Registry {
                repository: "r".into(),
                code: "ThrottlingException".into(),
                message: "Rate exceeded".into(),
            }
        );
        assert!(e.is_transient());
    }

    #[test]
    fn bytes_that_do_not_hash_to_the_digest_are_refused_from_aws_and_unverified_from_a_stand_in() {
        let bytes = br#"{"schemaVersion":2}"#;
        let right = Digest::parse(&sha256_of(bytes)).unwrap();
        let other = Digest::parse(&sha256_of(b"other")).unwrap();
        assert_eq!(content("r", &right, bytes, false), Ok(true));
        assert_eq!(content("r", &right, bytes, true), Ok(true));
        assert_eq!(content("r", &other, bytes, true), Ok(false));
        assert_eq!(
            content("r", &other, bytes, false),
            Err(Error::Mismatch {
                repository: "r".into(),
                digest: other.to_string(),
                actual: right.to_string(),
            })
        );
    }
}
