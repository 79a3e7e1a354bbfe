//! Signature verification benchmark, on 127.0.0.1: CNCF distribution (`docker-registry`) holding
//! `DIGESTS` images signed keyless (sigstore-js against @sigstore/mock, the bundle attached by
//! the referrers tag schema) and `DIGESTS` signed with a key (Python's cryptography, cosign's
//! `.sig` image). Measured per digest:
//! - the baseline, in the same run: the bare registry verification of the digest (`verify`:
//!   its manifest and config fetched and hashed), which every promotion makes;
//! - keyless: the digest's signatures fetched (`signatures`: referrers, the bundle's manifest
//!   and blob, the absent `.sig`) and verified (`sextant_signature::verify`);
//! - keyed: the same for a key-pair signature;
//! - the verification alone, without the fetches (CPU only), for each.
//!
//! Needs `make tools` (node, the signers). Run with `cargo bench -p sextant-registry --bench
//! signatures`.

use registry_testkit::signers::{self, ISSUER, WORKFLOW};
use registry_testkit::Distribution;
use sextant_registry::{Config, Platform, Registries};
use sextant_signature::{verify, Policy, PublicKey, Signer, Subject, TrustRoot};
use std::time::{Duration, Instant};

const DIGESTS: usize = 30;
const NAME: &str = "hash-service";

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

async fn bench() {
    let registry = Distribution::start();
    let repository = registry.repository(NAME);
    let (mut keyless, mut keyed) = (Vec::new(), Vec::new());
    for _ in 0..DIGESTS {
        keyless.push(registry.push_image(NAME, "linux/amd64").await);
        keyed.push(registry.push_image(NAME, "linux/amd64").await);
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    let root = dir.path().join("trusted_root.json");
    let jobs: Vec<_> = keyless
        .iter()
        .map(|d| signers::job(&repository, d, serde_json::json!({})))
        .collect();
    signers::sigstore(&jobs, &root);
    let (private, public) = (dir.path().join("cosign.key"), dir.path().join("cosign.pub"));
    for d in &keyed {
        signers::keyed(
            &repository,
            d,
            &public,
            signers::Keyed {
                private_key: Some(&private),
                push: true,
                ..Default::default()
            },
        );
    }
    let trust = TrustRoot::read(&root).expect("trusted root");
    let keyless_policy = Policy {
        signer: Signer::Keyless {
            issuer: ISSUER.into(),
            subject: Subject::Exact(WORKFLOW.into()),
        },
        attestations: Vec::new(),
    };
    let key = PublicKey::from_pem(&std::fs::read_to_string(&public).expect("key")).expect("key");
    let keyed_policy = Policy {
        signer: Signer::Key(key),
        attestations: Vec::new(),
    };
    let registries = Registries::new(
        Config {
            insecure: vec![registry.host()],
            ..Config::default()
        },
        None,
    );
    let platform: Platform = "linux/amd64".parse().expect("platform");

    // One of each first: the clients' connections and the registry's caches are warm for all.
    registries
        .verify(&repository, &keyless[0], &platform)
        .await
        .expect("verified");
    registries
        .signatures(&repository, &keyless[0])
        .await
        .expect("read");

    let mut t = Timings::default();
    for (kl, kd) in keyless.iter().zip(&keyed) {
        let start = Instant::now();
        registries
            .verify(&repository, kl, &platform)
            .await
            .expect("verified");
        t.baseline.push(start.elapsed());

        for (digest, policy, total, alone) in [
            (kl, &keyless_policy, &mut t.keyless, &mut t.keyless_alone),
            (kd, &keyed_policy, &mut t.keyed, &mut t.keyed_alone),
        ] {
            let start = Instant::now();
            let found = registries
                .signatures(&repository, digest)
                .await
                .expect("signatures read");
            let fetched = start.elapsed();
            verify(digest, &found, policy, Some(&trust), now()).expect("verified");
            total.push(start.elapsed());
            alone.push(start.elapsed() - fetched);
        }
    }
    t.report();
}

#[derive(Default)]
struct Timings {
    baseline: Vec<Duration>,
    keyless: Vec<Duration>,
    keyed: Vec<Duration>,
    keyless_alone: Vec<Duration>,
    keyed_alone: Vec<Duration>,
}

impl Timings {
    fn report(self) {
        let p = |v: &[Duration], q: f64| {
            let mut v = v.to_vec();
            v.sort();
            v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
        };
        let base = p(&self.baseline, 0.5);
        println!("signature verification benchmark: docker-registry on 127.0.0.1, {DIGESTS} digests of each kind");
        for (what, v) in [
            ("baseline: registry verification (verify)", &self.baseline),
            ("keyless: fetch + verify the bundle", &self.keyless),
            ("keyed: fetch + verify the .sig", &self.keyed),
            ("keyless: verify alone (no fetch)", &self.keyless_alone),
            ("keyed: verify alone (no fetch)", &self.keyed_alone),
        ] {
            println!(
                "  {what:<44} p50 {:>7.3} ms  p95 {:>7.3} ms  p50/baseline {:.2}x",
                p(v, 0.5),
                p(v, 0.95),
                p(v, 0.5) / base
            );
        }
    }
}
