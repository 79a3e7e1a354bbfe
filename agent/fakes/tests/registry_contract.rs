//! One list of expectations of the registry port, run against the in-memory fake and against the
//! real edge (`sextant-registry` over CNCF distribution, Debian's `docker-registry`, on
//! 127.0.0.1): what the promotion loop's table tests rely on — a pushed digest verifies, one the
//! registry lacks is a permanent `not_found`, a registry that does not answer is transient and
//! labelled `unreachable` — answered alike by both.

use registry_testkit::Distribution;
use sextant_core::ports::registry::{Registry, RegistryError, Verification};
use sextant_fakes::FakeRegistry;
use sextant_registry::{Config, Registries};
use std::time::Duration;

const PLATFORM: &str = "linux/amd64";

/// A well-formed digest of nothing pushed.
fn absent() -> String {
    registry_testkit::image::sha256(b"no image has these bytes")
}

/// A `host:port` nobody listens on.
fn closed() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// What each side answered, for one list of expectations.
struct Answers {
    pushed: Result<Verification, RegistryError>,
    absent: Result<Verification, RegistryError>,
    down: Result<Verification, RegistryError>,
    repository: String,
    digest: String,
}

fn expect(side: &str, a: Answers) {
    let v = a
        .pushed
        .unwrap_or_else(|e| panic!("{side}: a pushed digest verifies: {e:?}"));
    assert_eq!(v.digest, a.digest, "{side}");
    assert_eq!(v.repository, a.repository, "{side}");
    assert_eq!(v.platform.as_deref(), Some(PLATFORM), "{side}");
    assert!(
        v.content_verified,
        "{side}: an OCI registry's bytes are hashed"
    );

    let e = a.absent.expect_err("a digest the registry lacks");
    assert_eq!(
        (e.label, e.transient),
        ("not_found", false),
        "{side}: {e:?}"
    );
    assert!(
        e.message.contains(&absent()),
        "{side}: names the digest: {e:?}"
    );

    let e = a.down.expect_err("a registry that does not answer");
    assert_eq!(
        (e.label, e.transient),
        ("unreachable", true),
        "{side}: {e:?}"
    );
}

#[tokio::test]
async fn the_fake_and_the_oci_edge_answer_alike() {
    let registry = Distribution::start();
    let digest = registry.push_image("hash-service", PLATFORM).await;
    let repository = registry.repository("hash-service");
    let down = format!("{}/hash-service", closed());
    let edge = Registries::new(
        Config {
            insecure: vec![registry.host(), down.split('/').next().unwrap().to_string()],
            timeout: Duration::from_secs(5),
            ..Config::default()
        },
        None,
    );
    expect(
        "edge",
        Answers {
            pushed: Registry::verify(&edge, &repository, &digest, PLATFORM).await,
            absent: Registry::verify(&edge, &repository, &absent(), PLATFORM).await,
            down: Registry::verify(&edge, &down, &digest, PLATFORM).await,
            repository: repository.clone(),
            digest: digest.clone(),
        },
    );

    let fake = FakeRegistry::new();
    fake.push(&repository, &digest);
    let pushed = fake.verify(&repository, &digest, PLATFORM).await;
    let absent_answer = fake.verify(&repository, &absent(), PLATFORM).await;
    fake.fail(FakeRegistry::unavailable());
    let down_answer = fake.verify(&down, &digest, PLATFORM).await;
    expect(
        "fake",
        Answers {
            pushed,
            absent: absent_answer,
            down: down_answer,
            repository,
            digest,
        },
    );
}
