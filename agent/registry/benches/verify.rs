//! Registry verification benchmark, on 127.0.0.1: CNCF distribution (`docker-registry`) holding
//! `DIGESTS` single-platform images and `DIGESTS` indexes over them, pushed through its HTTP
//! API. Measured per digest:
//! - `verify` of an image: its manifest (hashed), its config (hashed, platform read);
//! - `verify` of an index: the index (hashed, entry picked), the linux/amd64 child (hashed);
//! - the baseline, in the same run: one bare reqwest GET of the image's manifest, no check.
//!
//! The ratio of the p50s says what the verification costs over the one request it cannot do
//! without. Run with `cargo bench -p sextant-registry --bench verify`.

use registry_testkit::Distribution;
use sextant_registry::{Config, Platform, Registries};
use std::time::{Duration, Instant};

const DIGESTS: usize = 50;
const NAME: &str = "hash-service";

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let registry = Distribution::start();
    let mut images = Vec::new();
    let mut indexes = Vec::new();
    for _ in 0..DIGESTS {
        let amd64 = registry.push_image(NAME, "linux/amd64").await;
        let arm64 = registry.push_image(NAME, "linux/arm64/v8").await;
        indexes.push(
            registry
                .push_index(NAME, &[("linux/arm64/v8", &arm64), ("linux/amd64", &amd64)])
                .await,
        );
        images.push(amd64);
    }
    let verifier = Registries::new(
        Config {
            insecure: vec![registry.host()],
            ..Config::default()
        },
        None,
    );
    let platform: Platform = "linux/amd64".parse().expect("platform");
    let repository = registry.repository(NAME);
    let http = reqwest::Client::new();
    let manifest_url = |d: &str| format!("http://{}/v2/{NAME}/manifests/{d}", registry.host());

    // One of each first: the clients' connections and the registry's caches are warm for all.
    verifier
        .verify(&repository, &images[0], &platform)
        .await
        .expect("verified");
    get(&http, &manifest_url(&images[0])).await;

    let (mut image, mut index, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    for (i, x) in images.iter().zip(&indexes) {
        let t = Instant::now();
        let v = verifier
            .verify(&repository, i, &platform)
            .await
            .expect("image verified");
        image.push(t.elapsed());
        assert!(v.content_verified);

        let t = Instant::now();
        let v = verifier
            .verify(&repository, x, &platform)
            .await
            .expect("index verified");
        index.push(t.elapsed());
        assert_eq!(v.platform_digest.as_deref(), Some(i.as_str()));

        let t = Instant::now();
        get(&http, &manifest_url(i)).await;
        baseline.push(t.elapsed());
    }
    let (image, index, baseline) = (sorted(image), sorted(index), sorted(baseline));
    let ms = |v: &[Duration], q: f64| {
        v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
    };
    println!("registry verification benchmark: docker-registry (CNCF distribution) on 127.0.0.1, {DIGESTS} digests of each kind");
    for (what, v) in [
        ("verify, image (manifest + config)", &image),
        ("verify, index (index + amd64 child)", &index),
        ("baseline: one reqwest GET of the manifest", &baseline),
    ] {
        println!(
            "  {what:<42} p50 {:>6.2} ms  p95 {:>6.2} ms",
            ms(v, 0.5),
            ms(v, 0.95)
        );
    }
    println!(
        "  ratio to the baseline, p50: image {:.1}x, index {:.1}x",
        ms(&image, 0.5) / ms(&baseline, 0.5),
        ms(&index, 0.5) / ms(&baseline, 0.5)
    );
}

async fn get(http: &reqwest::Client, url: &str) {
    let r = http
        .get(url)
        .header("accept", registry_testkit::image::OCI_MANIFEST)
        .send()
        .await
        .expect("GET the manifest");
    assert_eq!(r.status(), 200);
    r.bytes().await.expect("manifest bytes");
}

fn sorted(mut v: Vec<Duration>) -> Vec<Duration> {
    v.sort();
    v
}
