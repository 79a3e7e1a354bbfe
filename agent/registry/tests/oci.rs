//! Verification against a real OCI registry: CNCF distribution (Debian's `docker-registry`) on
//! 127.0.0.1, holding images and indexes the tests push through its HTTP API; and, for the
//! bytes no real registry serves wrongly, a lying one.

mod common;

use common::{absent_digest, insecure, platform, verifier};
use registry_testkit::image::{self, Image};
use registry_testkit::{Distribution, LyingRegistry};
use sextant_registry::{Config, Error};
use std::time::Duration;

#[tokio::test]
async fn verifies_a_single_image_by_its_bytes_and_its_configs_platform() {
    let registry = Distribution::start();
    let digest = registry.push_image("hash-service", "linux/amd64").await;
    let (v, seen) = verifier(insecure(&[registry.host()]));
    let repository = registry.repository("hash-service");

    let got = v
        .verify(&repository, &digest, &platform("linux/amd64"))
        .await
        .unwrap();

    assert_eq!(got.repository, repository);
    assert_eq!(got.digest, digest);
    assert_eq!(got.media_type, image::OCI_MANIFEST);
    assert!(got.content_verified);
    assert_eq!(got.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(got.platform_digest, None);
    assert_eq!(got.registry, "oci");
    assert_eq!(
        seen.codes(),
        ["200", "200"],
        "the manifest, then its config"
    );
    assert_eq!(seen.registries(), ["oci", "oci"]);
}

#[tokio::test]
async fn verifies_an_index_through_its_linux_amd64_child() {
    let registry = Distribution::start();
    let amd64 = registry.push_image("hash-service", "linux/amd64").await;
    let arm64 = registry.push_image("hash-service", "linux/arm64/v8").await;
    let index = registry
        .push_index(
            "hash-service",
            &[("linux/arm64/v8", &arm64), ("linux/amd64", &amd64)],
        )
        .await;
    let (v, seen) = verifier(insecure(&[registry.host()]));
    let repository = registry.repository("hash-service");

    let got = v
        .verify(&repository, &index, &platform("linux/amd64"))
        .await
        .unwrap();
    assert_eq!(got.digest, index);
    assert_eq!(got.media_type, image::OCI_INDEX);
    assert!(got.content_verified);
    assert_eq!(got.platform_digest.as_deref(), Some(amd64.as_str()));
    assert_eq!(seen.codes(), ["200", "200"], "the index, then the child");

    let arm = v
        .verify(&repository, &index, &platform("linux/arm64/v8"))
        .await
        .unwrap();
    assert_eq!(arm.platform_digest.as_deref(), Some(arm64.as_str()));
}

#[tokio::test]
async fn refuses_a_digest_that_is_not_in_the_registry() {
    let registry = Distribution::start();
    registry.push_image("hash-service", "linux/amd64").await;
    let (v, seen) = verifier(insecure(&[registry.host()]));
    let repository = registry.repository("hash-service");
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
    assert_eq!(e.metric_label(), "not_found");
    assert!(!e.is_transient());
    assert_eq!(seen.codes(), ["404"], "an answer, not retried");
}

#[tokio::test]
async fn refuses_a_manifest_whose_bytes_do_not_hash_to_the_digest() {
    // A real registry cannot be made to serve such bytes: this one answers any digest with one
    // image's manifest, and claims the digest asked for in Docker-Content-Digest.
    let served = Image::new("hash-service", "linux/amd64");
    let liar = LyingRegistry::start(served.manifest.clone(), image::OCI_MANIFEST);
    let (v, seen) = verifier(insecure(&[liar.host()]));
    let repository = format!("{}/hash-service", liar.host());
    let asked = absent_digest();

    let e = v
        .verify(&repository, &asked, &platform("linux/amd64"))
        .await
        .unwrap_err();

    assert_eq!(
        e,
        Error::Mismatch {
            repository: repository.clone(),
            digest: asked.clone(),
            actual: served.digest(),
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{repository}@{asked}: the registry answered bytes whose sha256 is {}, not the digest asked for; refusing them",
            served.digest()
        )
    );
    assert_eq!(e.metric_label(), "mismatch");
    assert_eq!(liar.requests(), 1, "asked once: a mismatch is not retried");
    assert_eq!(seen.codes(), ["200"]);
}

#[tokio::test]
async fn refuses_a_single_image_of_another_platform() {
    let registry = Distribution::start();
    let digest = registry.push_image("hash-service", "linux/arm64/v8").await;
    let (v, _) = verifier(insecure(&[registry.host()]));
    let repository = registry.repository("hash-service");

    let e = v
        .verify(&repository, &digest, &platform("linux/amd64"))
        .await
        .unwrap_err();

    assert_eq!(
        e,
        Error::WrongPlatform {
            repository: repository.clone(),
            digest: digest.clone(),
            wanted: "linux/amd64".into(),
            found: vec!["linux/arm64/v8".into()],
        }
    );
    assert_eq!(
        e.to_string(),
        format!("{repository}@{digest} has no image for linux/amd64; it has linux/arm64/v8")
    );
}

#[tokio::test]
async fn refuses_an_index_without_the_platform() {
    let registry = Distribution::start();
    let arm64 = registry.push_image("hash-service", "linux/arm64/v8").await;
    let s390x = registry.push_image("hash-service", "linux/s390x").await;
    let index = registry
        .push_index(
            "hash-service",
            &[("linux/arm64/v8", &arm64), ("linux/s390x", &s390x)],
        )
        .await;
    let (v, seen) = verifier(insecure(&[registry.host()]));
    let repository = registry.repository("hash-service");

    let e = v
        .verify(&repository, &index, &platform("linux/amd64"))
        .await
        .unwrap_err();

    assert_eq!(
        e.to_string(),
        format!(
            "{repository}@{index} has no image for linux/amd64; it has linux/arm64/v8, linux/s390x"
        )
    );
    assert_eq!(e.metric_label(), "wrong_platform");
    assert_eq!(seen.codes(), ["200"], "no child fetched");
}

#[tokio::test]
async fn refuses_when_the_registry_is_down_and_says_it_may_pass_later() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let (v, seen) = verifier(insecure(std::slice::from_ref(&host)));
    let repository = format!("{host}/hash-service");

    let e = v
        .verify(&repository, &absent_digest(), &platform("linux/amd64"))
        .await
        .unwrap_err();

    assert_eq!(e.metric_label(), "unreachable");
    let message = e.to_string();
    assert!(
        message.starts_with(&format!("{repository}: cannot reach the registry: ")),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
    assert!(e.is_transient());
    assert_eq!(seen.codes(), ["error", "error", "error"], "three attempts");
}

#[tokio::test]
async fn refuses_a_registry_that_never_answers_after_the_timeout() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    let (v, seen) = verifier(Config {
        insecure: vec![host.clone()],
        timeout: Duration::from_millis(300),
        ..Config::default()
    });

    let e = v
        .verify(
            &format!("{host}/hash-service"),
            &absent_digest(),
            &platform("linux/amd64"),
        )
        .await
        .unwrap_err();

    assert_eq!(e.metric_label(), "unreachable", "{e}");
    assert!(e.is_transient());
    assert_eq!(seen.codes().len(), 3);
    drop(silent);
}

#[tokio::test]
async fn refuses_with_401_without_credentials_and_never_shows_them() {
    let registry = Distribution::start_with_basic_auth("sextant", "s3cr3t-pw");
    let digest = registry.push_image("hash-service", "linux/amd64").await;
    let repository = registry.repository("hash-service");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, user_password: &str| {
        use base64::Engine as _;
        let file = dir.path().join(name);
        let auth = base64::engine::general_purpose::STANDARD.encode(user_password);
        std::fs::write(
            &file,
            format!(
                r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
                registry.host()
            ),
        )
        .unwrap();
        file
    };

    let (anonymous, seen) = verifier(insecure(&[registry.host()]));
    let e = anonymous
        .verify(&repository, &digest, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{repository}: the registry refused access (HTTP 401); check the registry credentials"
        )
    );
    assert_eq!(e.metric_label(), "unauthorized");
    assert!(!e.is_transient());
    assert_eq!(seen.codes(), ["401"]);

    let wrong = Config {
        credentials_file: Some(write("wrong.json", "sextant:not-the-password")),
        ..insecure(&[registry.host()])
    };
    let e = verifier(wrong)
        .0
        .verify(&repository, &digest, &platform("linux/amd64"))
        .await
        .unwrap_err();
    assert_eq!(e.metric_label(), "unauthorized");
    let debug = format!("{e:?} {e}");
    assert!(
        !debug.contains("not-the-password") && !debug.contains("s3cr3t-pw"),
        "{debug}"
    );

    let right = Config {
        credentials_file: Some(write("right.json", "sextant:s3cr3t-pw")),
        ..insecure(&[registry.host()])
    };
    let got = verifier(right)
        .0
        .verify(&repository, &digest, &platform("linux/amd64"))
        .await
        .unwrap();
    assert!(got.content_verified);
}

#[tokio::test]
async fn refuses_a_bad_digest_or_repository_before_asking_the_registry() {
    let (v, seen) = verifier(insecure(&[]));
    for bad in [
        "sha256:ABC",
        "latest",
        &format!("sha256:{}", "A".repeat(64)),
        &format!("sha512:{}", "a".repeat(128)),
    ] {
        let e = v
            .verify("127.0.0.1:1/hash-service", bad, &platform("linux/amd64"))
            .await
            .unwrap_err();
        assert_eq!(e, Error::BadDigest { digest: bad.into() });
        assert_eq!(
            e.to_string(),
            format!("{bad:?} is not a digest: it must be sha256: and 64 lowercase hex digits")
        );
    }
    let e = v
        .verify(
            "127.0.0.1:1/hash-service:1.0",
            &absent_digest(),
            &platform("linux/amd64"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.metric_label(), "bad_repository");
    assert!(e.to_string().contains("without a tag"), "{e}");
    assert!(seen.codes().is_empty(), "no request made");
}
