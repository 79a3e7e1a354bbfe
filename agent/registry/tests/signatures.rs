//! A digest's signatures read from a real OCI registry (CNCF distribution 2.8, which has no
//! referrers API: the bundles are found by the referrers tag schema), attached there by
//! independent signers: sigstore-js through @sigstore/oci, and Python's cryptography pushing
//! cosign's `.sig` image. What is read verifies with `sextant-signature`.

mod common;

use common::{insecure, verifier};
use registry_testkit::signers::{self, WORKFLOW};
use registry_testkit::Distribution;
use serde_json::json;
use sextant_signature::{verify, Policy, PublicKey, Signer, Subject, TrustRoot};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn bundles_among_the_referrers_and_a_cosign_sig_image_are_read_and_verify() {
    let registry = Distribution::start();
    let repository = registry.repository("hash-service");
    let signed = registry.push_image("hash-service", "linux/amd64").await;
    let unsigned = registry.push_image("hash-service", "linux/amd64").await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trusted_root.json");
    signers::sigstore(
        &[
            signers::job(&repository, &signed, json!({})),
            signers::job(
                &repository,
                &signed,
                json!({"predicateType": "https://cyclonedx.org/bom"}),
            ),
        ],
        &root,
    );
    let public = dir.path().join("cosign.pub");
    signers::keyed(
        &repository,
        &signed,
        &public,
        signers::Keyed {
            push: true,
            ..Default::default()
        },
    );
    let (v, seen) = verifier(insecure(&[registry.host()]));

    let got = v.signatures(&repository, &signed).await.unwrap();
    assert_eq!((got.bundles.len(), got.simple.len()), (2, 1), "{got:?}");
    let none = v.signatures(&repository, &unsigned).await.unwrap();
    assert_eq!((none.bundles.len(), none.simple.len()), (0, 0));
    assert!(
        seen.codes().iter().any(|c| c == "404"),
        "{:?}",
        seen.codes()
    );

    let trust = TrustRoot::read(&root).unwrap();
    let keyless = Policy {
        signer: Signer::Keyless {
            issuer: signers::ISSUER.into(),
            subject: Subject::Exact(WORKFLOW.into()),
        },
        attestations: vec!["https://cyclonedx.org/bom".into()],
    };
    let ok = verify(&signed, &got, &keyless, Some(&trust), now()).unwrap();
    assert!(ok.signer.starts_with(WORKFLOW), "{ok:?}");
    let key = PublicKey::from_pem(&std::fs::read_to_string(&public).unwrap()).unwrap();
    let keyed = Policy {
        signer: Signer::Key(key),
        attestations: Vec::new(),
    };
    verify(&signed, &got, &keyed, None, now()).unwrap();
    let r = verify(&unsigned, &none, &keyless, Some(&trust), now()).unwrap_err();
    assert_eq!(r.label(), "unsigned", "{r}");
}

#[tokio::test]
async fn signatures_in_ecr_are_refused_as_not_read_yet() {
    let (v, _) = verifier(insecure(&[]));
    let e = v
        .signatures(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hash-service",
            &format!("sha256:{}", "ab".repeat(32)),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not read from ECR yet"), "{e}");
    assert!(!e.is_transient());
}
