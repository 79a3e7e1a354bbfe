//! Signatures made by independent implementations, not by this crate: sigstore-js against
//! @sigstore/mock's Fulcio, Rekor and timestamp authority (keyless), and Python's cryptography
//! (keyed cosign). Each refusal is checked with its message.

use serde_json::{json, Value};
use sextant_signature::{
    time, verify, Artifacts, Policy, PublicKey, Refusal, Signer, SimpleSignature, Subject,
    TrustRoot,
};
use std::path::Path;
use std::sync::OnceLock;

use registry_testkit::signers::{self, ISSUER, STRANGER as OTHER, WORKFLOW};

const IMAGE: &str = "registry.example/hash-service";
const SBOM: &str = "https://cyclonedx.org/bom";

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// Every keyless bundle of these tests, made in one run of the signer (so under one trust
/// root), and that root; a second run's root (another CA, log and timestamp authority).
struct Signed {
    dir: tempfile::TempDir,
    trust: TrustRoot,
    stranger: TrustRoot,
}

fn sign(jobs: &[(&str, Value)], dir: &Path) -> TrustRoot {
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|(name, extra)| {
            let mut j = signers::job(IMAGE, &digest(1), extra.clone());
            j["out"] = json!(dir.join(format!("{name}.json")));
            j
        })
        .collect();
    let root = dir.join("trusted_root.json");
    signers::sigstore(&jobs, &root);
    TrustRoot::read(&root).unwrap()
}

fn signed() -> &'static Signed {
    static S: OnceLock<Signed> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let trust = sign(
            &[
                ("good", json!({})),
                ("tsa_only", json!({"witnesses": ["tsa"]})),
                ("tlog_only", json!({"witnesses": ["tlog"]})),
                ("no_witness", json!({"witnesses": []})),
                ("other_identity", json!({"identity": OTHER})),
                (
                    "other_issuer",
                    json!({"issuer": "https://accounts.google.com"}),
                ),
                ("other_digest", json!({"subject": digest(2)})),
                (
                    "expired",
                    json!({"witnesses": [], "signedAt": "2020-01-01T00:00:00Z"}),
                ),
                ("sbom", json!({"predicateType": SBOM})),
            ],
            dir.path(),
        );
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let stranger = sign(&[("good", json!({}))], &other);
        Signed {
            trust,
            stranger,
            dir,
        }
    })
}

fn bundle(name: &str) -> Vec<u8> {
    std::fs::read(signed().dir.path().join(format!("{name}.json"))).unwrap()
}

fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&bundle(name)).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn keyless(subject: Subject, attestations: &[&str]) -> Policy {
    Policy {
        signer: Signer::Keyless {
            issuer: ISSUER.into(),
            subject,
        },
        attestations: attestations.iter().map(|s| s.to_string()).collect(),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn check(bundles: Vec<Vec<u8>>, policy: &Policy, trust: &TrustRoot) -> Result<String, Refusal> {
    let artifacts = Artifacts {
        bundles,
        simple: Vec::new(),
    };
    verify(&digest(1), &artifacts, policy, Some(trust), now()).map(|v| v.signer)
}

#[test]
fn keyless_bundles_by_the_wanted_workflow_verify_with_either_witness() {
    let s = signed();
    let exact = keyless(Subject::Exact(WORKFLOW.into()), &[]);
    let pattern = keyless(
        Subject::Pattern(
            regex::Regex::new(
                r"https://github\.com/acme/sextant/\.github/workflows/app\.yml@refs/heads/main",
            )
            .unwrap(),
        ),
        &[],
    );
    for name in ["good", "tsa_only", "tlog_only", "no_witness"] {
        for policy in [&exact, &pattern] {
            let signer = check(vec![bundle(name)], policy, &s.trust)
                .unwrap_or_else(|r| panic!("{name}: {r}"));
            assert_eq!(signer, format!("{WORKFLOW} (issuer {ISSUER})"), "{name}");
        }
    }
    // A pattern matches the whole name, not a part of it.
    let partial = keyless(
        Subject::Pattern(regex::Regex::new("acme/sextant").unwrap()),
        &[],
    );
    let r = check(vec![bundle("good")], &partial, &s.trust).unwrap_err();
    assert_eq!(r.label(), "other_identity", "{r}");
}

#[test]
fn each_refusal_says_why() {
    let s = signed();
    let policy = keyless(Subject::Exact(WORKFLOW.into()), &[]);
    let payload_of = |name: &str| -> Value {
        serde_json::from_slice::<Value>(&bundle(name)).unwrap()["dsseEnvelope"]["payload"].clone()
    };
    let other_payload = payload_of("other_digest");
    let other_tsa: Value = serde_json::from_slice::<Value>(&bundle("tsa_only")).unwrap()
        ["verificationMaterial"]["timestampVerificationData"]
        .clone();
    let names_other = format!("it names {}, not {}", digest(2), digest(1));
    let rows: Vec<(&str, Vec<u8>, &TrustRoot, &str, &str)> = vec![
        (
            "another identity",
            bundle("other_identity"),
            &s.trust,
            "other_identity",
            OTHER,
        ),
        (
            "another issuer",
            bundle("other_issuer"),
            &s.trust,
            "other_identity",
            "issuer https://accounts.google.com",
        ),
        (
            "over another digest",
            bundle("other_digest"),
            &s.trust,
            "other_digest",
            &names_other,
        ),
        (
            "expired, no timestamp",
            bundle("expired"),
            &s.trust,
            "outside_validity",
            "now, without a verified timestamp",
        ),
        (
            "another trust root",
            bundle("good"),
            &s.stranger,
            "untrusted",
            "no certificate authority of the trusted root issued it",
        ),
        // The envelope's payload swapped for another statement: the signature no longer holds.
        (
            "a payload it did not sign",
            edited("good", |v| {
                v["dsseEnvelope"]["payload"] = other_payload.clone()
            }),
            &s.trust,
            "bad_signature",
            "does not verify with its certificate's key",
        ),
        (
            "a log time moved",
            edited("tlog_only", |v| {
                let e = &mut v["verificationMaterial"]["tlogEntries"][0];
                e["integratedTime"] = json!((e["integratedTime"]
                    .as_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    + 1)
                .to_string());
            }),
            &s.trust,
            "bad_timestamp",
            "signed entry timestamp does not verify",
        ),
        (
            "another signature's timestamp",
            edited("good", |v| {
                v["verificationMaterial"]["timestampVerificationData"] = other_tsa.clone()
            }),
            &s.trust,
            "bad_timestamp",
            "over something other than this signature",
        ),
        (
            "not JSON",
            b"{".to_vec(),
            &s.trust,
            "malformed",
            "Sigstore bundle",
        ),
    ];
    for (name, b, trust, label, says) in rows {
        let r = check(vec![b], &policy, trust).expect_err(name);
        assert_eq!(r.label(), label, "{name}: {r}");
        assert!(r.to_string().contains(says), "{name}: {r}");
    }
    let r = verify(
        &digest(1),
        &Artifacts::default(),
        &policy,
        Some(&s.trust),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        r.to_string(),
        format!(
            "unsigned: the registry holds no Sigstore bundle and no cosign signature for {}",
            digest(1)
        )
    );
}

#[test]
fn an_expired_certificate_stands_when_a_timestamp_shows_it_signed_in_time() {
    let s = signed();
    let policy = keyless(Subject::Exact(WORKFLOW.into()), &[]);
    // An hour on, the ten-minute certificate has expired; the log and the timestamp authority
    // still vouch for the moment it signed.
    let later = now() + 3600;
    let artifacts = Artifacts {
        bundles: vec![bundle("good")],
        simple: Vec::new(),
    };
    let v = verify(&digest(1), &artifacts, &policy, Some(&s.trust), later).unwrap();
    assert!(v.signed_at.is_some_and(|t| t <= now()), "{v:?}");
    let bare = Artifacts {
        bundles: vec![bundle("no_witness")],
        simple: Vec::new(),
    };
    let r = verify(&digest(1), &bare, &policy, Some(&s.trust), later).unwrap_err();
    assert_eq!(r.label(), "outside_validity", "{r}");
    assert!(r.to_string().contains(&time::rfc3339(later)), "{r}");
}

#[test]
fn a_required_attestation_must_be_there_and_by_the_signer() {
    let s = signed();
    let policy = keyless(Subject::Exact(WORKFLOW.into()), &[SBOM]);
    let r = check(vec![bundle("good")], &policy, &s.trust).unwrap_err();
    assert_eq!(
        r.to_string(),
        "no verified https://cyclonedx.org/bom attestation by the signer (verified: https://sigstore.dev/cosign/sign/v1)"
    );
    check(vec![bundle("good"), bundle("sbom")], &policy, &s.trust).unwrap();
    // An SBOM by someone else does not count.
    let r = check(
        vec![bundle("good"), bundle("other_identity")],
        &policy,
        &s.trust,
    )
    .unwrap_err();
    assert_eq!(r.label(), "missing_attestation", "{r}");
    // Of several refused, the nearest to verifying is told.
    let r = check(
        vec![bundle("other_identity"), bundle("other_digest")],
        &policy,
        &s.trust,
    )
    .unwrap_err();
    assert_eq!(r.label(), "other_digest", "{r}");
}

/// Python's cryptography signs cosign's simple-signing payload; `payload_digest` names another.
fn keyed(payload_digest: Option<String>) -> (PublicKey, SimpleSignature) {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("cosign.pub");
    let (payload, signature) = signers::keyed(
        IMAGE,
        &digest(1),
        &public,
        signers::Keyed {
            payload_digest: payload_digest.as_deref(),
            ..Default::default()
        },
    )
    .unwrap();
    let key = PublicKey::from_pem(&std::fs::read_to_string(public).unwrap()).unwrap();
    (key, SimpleSignature { payload, signature })
}

#[test]
fn a_keyed_cosign_signature_verifies_with_its_public_key_only() {
    let (key, sig) = keyed(None);
    let policy = Policy {
        signer: Signer::Key(key.clone()),
        attestations: Vec::new(),
    };
    let artifacts = Artifacts {
        bundles: Vec::new(),
        simple: vec![sig.clone()],
    };
    let v = verify(&digest(1), &artifacts, &policy, None, now()).unwrap();
    assert_eq!(v.signer, format!("the key {}", key.fingerprint()));
    // Another key: a bad signature.
    let (other, _) = keyed(None);
    let wrong = Policy {
        signer: Signer::Key(other),
        attestations: Vec::new(),
    };
    let r = verify(&digest(1), &artifacts, &wrong, None, now()).unwrap_err();
    assert_eq!(r.label(), "bad_signature", "{r}");
    // The same key over a payload that names another digest.
    let (k2, s2) = keyed(Some(digest(2)));
    let p2 = Policy {
        signer: Signer::Key(k2),
        attestations: Vec::new(),
    };
    let r = verify(
        &digest(1),
        &Artifacts {
            bundles: Vec::new(),
            simple: vec![s2],
        },
        &p2,
        None,
        now(),
    )
    .unwrap_err();
    assert_eq!(r.label(), "other_digest", "{r}");
    // A keyless policy does not take a key's signature.
    let s = signed();
    let r = verify(
        &digest(1),
        &artifacts,
        &keyless(Subject::Exact(WORKFLOW.into()), &[]),
        Some(&s.trust),
        now(),
    )
    .unwrap_err();
    assert_eq!(r.label(), "unsigned", "{r}");
}
