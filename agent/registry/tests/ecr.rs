//! Verification against ECR's API, served by moto on 127.0.0.1. moto's digests are not the
//! manifests' sha256 (its own `PutImage` makes them up), so nothing moto answers by its own
//! digest is content-verified; a manifest put with its true sha256 as `imageDigest` is, as every
//! image in AWS's ECR is.

mod common;

use common::{absent_digest, platform, verifier};
use registry_testkit::image::{self, Image};
use registry_testkit::moto::{use_test_credentials, Moto};
use sextant_registry::{Config, Error};
use std::time::Duration;

fn against(moto: &Moto) -> Config {
    use_test_credentials();
    Config {
        ecr_endpoint: Some(moto.url()),
        timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

#[tokio::test]
async fn verifies_an_image_in_moto_without_claiming_its_content() {
    let moto = Moto::start();
    moto.create_repository("hash-service").await;
    let image = Image::new("hash-service", "linux/amd64");
    let digest = moto
        .put_image(
            "hash-service",
            &image.manifest,
            image::OCI_MANIFEST,
            "v1",
            None,
        )
        .await;
    assert_ne!(
        digest,
        image.digest(),
        "moto's digest is not the manifest's sha256"
    );
    let (v, seen) = verifier(against(&moto));
    let repository = Moto::repository("hash-service");

    let got = v
        .verify(&repository, &digest, &platform("linux/amd64"))
        .await
        .unwrap();

    assert_eq!(got.repository, repository);
    assert_eq!(got.digest, digest);
    assert_eq!(got.registry, "ecr");
    assert_eq!(got.media_type, image::OCI_MANIFEST);
    assert!(!got.content_verified, "moto's digest names no bytes");
    assert_eq!(
        got.platform, None,
        "a single image's config is not reachable through ECR's API"
    );
    assert_eq!(
        seen.codes(),
        ["200", "200"],
        "DescribeImages, BatchGetImage"
    );
    assert_eq!(seen.registries(), ["ecr", "ecr"]);
}

#[tokio::test]
async fn verifies_the_content_of_a_manifest_stored_under_its_sha256() {
    let moto = Moto::start();
    moto.create_repository("hash-service").await;
    let image = Image::new("hash-service", "linux/amd64");
    let digest = moto
        .put_image(
            "hash-service",
            &image.manifest,
            image::OCI_MANIFEST,
            "v1",
            Some(&image.digest()),
        )
        .await;
    assert_eq!(digest, image.digest());
    let (v, _) = verifier(against(&moto));

    let got = v
        .verify(
            &Moto::repository("hash-service"),
            &digest,
            &platform("linux/amd64"),
        )
        .await
        .unwrap();
    assert!(got.content_verified, "the bytes hash to the digest");
}

#[tokio::test]
async fn refuses_what_moto_answers_with_image_not_found() {
    let moto = Moto::start();
    moto.create_repository("hash-service").await;
    let (v, seen) = verifier(against(&moto));
    let repository = Moto::repository("hash-service");
    let missing = absent_digest();

    let e = v
        .verify(&repository, &missing, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        Error::NotFound {
            repository: repository.clone(),
            digest: missing.clone()
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{repository}@{missing} is not in the registry: build and push it, or fix the digest"
        )
    );
    assert_eq!(seen.codes(), ["ImageNotFoundException"]);

    let nowhere = Moto::repository("no-such-repository");
    let e = v
        .verify(&nowhere, &missing, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(e.metric_label(), "not_found");
    assert_eq!(
        seen.codes(),
        ["ImageNotFoundException", "RepositoryNotFoundException"]
    );
}

#[tokio::test]
async fn checks_the_platform_of_an_index_in_moto() {
    let moto = Moto::start();
    moto.create_repository("hash-service").await;
    let (amd, arm) = (
        Image::new("hash-service", "linux/amd64"),
        Image::new("hash-service", "linux/arm64/v8"),
    );
    let amd64 = moto
        .put_image(
            "hash-service",
            &amd.manifest,
            image::OCI_MANIFEST,
            "amd64",
            None,
        )
        .await;
    let arm64 = moto
        .put_image(
            "hash-service",
            &arm.manifest,
            image::OCI_MANIFEST,
            "arm64",
            None,
        )
        .await;
    let index_bytes = image::index(&[
        ("linux/arm64/v8", &arm64, arm.manifest.len()),
        ("linux/amd64", &amd64, amd.manifest.len()),
    ]);
    let index = moto
        .put_image("hash-service", &index_bytes, image::OCI_INDEX, "v1", None)
        .await;
    let (v, seen) = verifier(against(&moto));
    let repository = Moto::repository("hash-service");

    let got = v
        .verify(&repository, &index, &platform("linux/amd64"))
        .await
        .unwrap();
    assert_eq!(got.media_type, image::OCI_INDEX);
    assert_eq!(got.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(got.platform_digest.as_deref(), Some(amd64.as_str()));
    assert!(!got.content_verified);
    assert_eq!(
        seen.codes(),
        ["200", "200", "200"],
        "the index, then the child"
    );

    let e = v
        .verify(&repository, &index, &platform("linux/s390x"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{repository}@{index} has no image for linux/s390x; it has linux/arm64/v8, linux/amd64"
        )
    );
}

#[tokio::test]
async fn refuses_when_the_ecr_endpoint_is_down() {
    use_test_credentials();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (v, seen) = verifier(Config {
        ecr_endpoint: Some(format!("http://127.0.0.1:{port}")),
        timeout: Duration::from_secs(2),
        ..Config::default()
    });
    let repository = Moto::repository("hash-service");

    let e = v
        .verify(&repository, &absent_digest(), &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(e.metric_label(), "unreachable", "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("{repository}: cannot reach the registry: ")),
        "{e}"
    );
    assert!(e.is_transient());
    assert_eq!(
        seen.codes(),
        ["error"],
        "one call, the SDK's own retries inside it"
    );
}
