//! Signed promotion end to end, all on 127.0.0.1: the promotion world of `promotion.rs` (two
//! test API servers, an agent in each, `git daemon`, the fake GitHub, the real registry), with
//! prod's image verified by signature. The signatures are made by independent implementations
//! and attached in the real registry: sigstore-js against @sigstore/mock (keyless, the trusted
//! root it writes given to both agents) and Python's cryptography (a keyed cosign `.sig`).

mod support;

use registry_testkit::signers::{self, ISSUER, STRANGER, WORKFLOW};
use serde_json::json;
use support::agent::{eventually, Agent, WAIT};
use support::promo::{promotion, values, Promo, PROD_VALUES};

fn gate(agent: &Agent) -> serde_json::Value {
    agent.status()["environments"]["dev"]["promotions"][0].clone()
}

fn runs(server: &sextant_testkit::TestServer, digest: &str) -> bool {
    Promo::image(server).is_some_and(|i| i.ends_with(digest))
}

/// prod's promotion block, its image verified with `signature` (YAML flow).
fn signed(repository: &str, signature: &str) -> String {
    promotion("pull-request", "1s", repository, "").replace(
        &format!("repository: \"{repository}\"}}"),
        &format!("repository: \"{repository}\", verify: {{signature: {signature}}}}}"),
    )
}

/// dev's gate leaves its last state and reads `unverified` for `digest`, with `why` in it.
fn unverified(dev: &Agent, digest: &str, why: &str) {
    let g = eventually(WAIT, why, || {
        let g = gate(dev);
        (g["digest"] == digest && g["state"] == "unverified").then_some(g)
    });
    assert!(g["message"].as_str().unwrap().contains(why), "{g}");
    assert!(
        g["signature"].as_str().unwrap().starts_with("refused: "),
        "{g}"
    );
}

#[test]
fn only_a_digest_signed_by_the_workflow_is_proposed_and_prod_refuses_an_unsigned_one_committed_by_hand(
) {
    let keyless = format!("{{keyless: {{issuer: \"{ISSUER}\", subject: \"{WORKFLOW}\"}}}}");
    let world = Promo::new(5, |repo| signed(repo, &keyless));
    let image = world.registry.repository("hash-service");
    let [running, good, stranger, unsigned, copied] =
        <[String; 5]>::try_from(world.images.clone()).unwrap();
    let root = world.dir.path().join("trusted_root.json");
    signers::sigstore(
        &[
            signers::job(&image, &running, json!({})),
            signers::job(&image, &good, json!({})),
            signers::job(&image, &stranger, json!({"identity": STRANGER})),
            // The workflow's signature over `good`, attached beside `copied`.
            signers::job(&image, &copied, json!({"subject": good})),
        ],
        &root,
    );
    let trust = |name| {
        let mut env = world.env(if name == "dev-0" { "dev" } else { "prod" }, name);
        env.insert("SEXTANT_REGISTRY_TRUST_ROOT", root.display().to_string());
        env
    };
    let dev = Agent::start(&trust("dev-0"));
    let prod = Agent::start(&trust("prod-0"));
    eventually(WAIT, "both clusters running the signed first image", || {
        (runs(&world.dev, &running) && runs(&world.prod, &running)).then_some(())
    });

    world.bump_dev(&stranger);
    unverified(
        &dev,
        &stranger,
        &format!("signed by another identity: {STRANGER}"),
    );
    world.bump_dev(&unsigned);
    unverified(
        &dev,
        &unsigned,
        "unsigned: the registry holds no Sigstore bundle",
    );
    world.bump_dev(&copied);
    unverified(
        &dev,
        &copied,
        &format!("the signature is over another digest: it names {good}"),
    );
    assert!(world.fake.pulls().is_empty(), "nothing opened");
    for result in ["other_identity", "unsigned", "other_digest"] {
        let series = format!(
            "sextant_promotion_verifications_total{{registry=\"oci\",result=\"{result}\"}}"
        );
        assert!(dev.metric(&series) >= 1.0, "{series}");
    }

    world.bump_dev(&good);
    let pr = eventually(
        WAIT,
        "the promotion pull request of the signed digest",
        || world.open_pulls("sextant-promotion").into_iter().next(),
    );
    let body = pr.body.unwrap_or_default();
    assert!(
        body.contains(&format!(
            "| signature | signed by {WORKFLOW} (issuer {ISSUER}) at "
        )),
        "{body}"
    );
    assert_eq!(world.fake.pulls().len(), 1);

    // Past the pull request: an unsigned digest committed to prod by hand is not applied.
    let by_hand = world
        .fake
        .seed(
            "main",
            &[(PROD_VALUES, values(&unsigned, 2).as_bytes())],
            "prod: hotfix",
        )
        .unwrap();
    let error = eventually(WAIT, "prod refusing the unsigned digest", || {
        let e = prod.status()["environments"]["prod"]["last_error"].clone();
        (e["revision"] == by_hand.as_str()).then_some(e)
    });
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "release hash-service: the promoted digest {unsigned} is not applied: its signature does not verify: unsigned"
        )),
        "{message}"
    );
    assert_eq!(
        (error["stage"].as_str(), error["error"].as_str()),
        (Some("plan"), Some("signature_unverified"))
    );
    assert!(
        runs(&world.prod, &running),
        "prod still runs the signed digest"
    );
}

#[test]
fn a_keyed_cosign_signature_made_by_python_verifies_with_its_public_key_and_is_proposed() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = (dir.path().join("cosign.key"), dir.path().join("cosign.pub"));
    let sign = |image: &str, digest: &str, push: bool| {
        signers::keyed(
            image,
            digest,
            &public,
            signers::Keyed {
                private_key: Some(&private),
                push,
                ..Default::default()
            },
        )
    };
    // The key pair, made before the repository that names its public key.
    sign(
        "registry.example/none",
        &format!("sha256:{}", "0".repeat(64)),
        false,
    );
    let pem = std::fs::read_to_string(&public)
        .unwrap()
        .replace('\n', "\\n");
    let world = Promo::new(2, |repo| signed(repo, &format!("{{key: \"{pem}\"}}")));
    let image = world.registry.repository("hash-service");
    let (running, new) = (world.images[0].clone(), world.images[1].clone());
    for d in [&running, &new] {
        sign(&image, d, true);
    }
    let dev = Agent::start(&world.env("dev", "dev-0"));
    let _prod = Agent::start(&world.env("prod", "prod-0"));
    eventually(WAIT, "both clusters running the signed first image", || {
        (runs(&world.dev, &running) && runs(&world.prod, &running)).then_some(())
    });
    world.bump_dev(&new);
    let pr = eventually(WAIT, "the promotion pull request", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    let body = pr.body.unwrap_or_default();
    assert!(
        body.contains("| signature | signed by the key sha256:"),
        "{body}"
    );
    assert_eq!(
        gate(&dev)["signature"]
            .as_str()
            .map(|s| s.starts_with("signed by the key")),
        Some(true)
    );
    world.fake.merge(pr.number).unwrap();
    eventually(
        WAIT,
        "prod verifying and running the promoted digest",
        || runs(&world.prod, &new).then_some(()),
    );
}
