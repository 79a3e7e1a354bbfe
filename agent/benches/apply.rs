//! Apply benchmark: a 500-object environment against the test API server (over HTTP, on
//! 127.0.0.1), first apply and a no-change re-apply, reported as a ratio measured in one run
//! (target: the re-apply costs ≤ 10% of the first, with zero writes).
//!
//! Run with `cargo bench -p sextant --bench apply`.

#[path = "../tests/support/mod.rs"]
mod support;

use sextant::apply::cluster::KubeCluster;
use sextant::apply::sync::{sync, SyncOptions};
use sextant::render::{cache::RenderCache, helm::Helm, Renderer, Settings};
use sextant_testkit::{Options, TestServer};
use std::path::Path;
use std::time::{Duration, Instant};
use support::write_file;

const OBJECTS: usize = 500;
const RUNS: usize = 3;

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let helm = workspace.join(".tools/bin/helm");
    assert!(helm.is_file(), "run `make tools` first");
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    write_file(
        root,
        "charts/many/Chart.yaml",
        "apiVersion: v2\nname: many\nversion: 0.1.0\n",
    );
    write_file(
        root,
        "charts/many/templates/cms.yaml",
        &format!("{{{{- range $i := until {OBJECTS} }}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{{{ $i }}}}\n  annotations:\n    sextant.io/sync-wave: \"{{{{ mod $i 5 }}}}\"\ndata:\n  index: \"{{{{ $i }}}}\"\n  payload: {{{{ repeat 200 \"x\" | quote }}}}\n{{{{- end }}}}\n"),
    );
    write_file(
        root,
        "environments/bench/environment.yaml",
        "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: bench\nspec:\n  releases:\n    - {name: many, namespace: bench, chart: charts/many}\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let renderer = Renderer::new(
        Helm::new(helm),
        RenderCache::new(cache.path()),
        Settings::default(),
    );
    let (env, plan) = sextant::plan_environment(&renderer, root, "bench").unwrap();
    assert_eq!(plan.objects().count(), OBJECTS);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    for latency in [None, Some(Duration::from_millis(1))] {
        measure(&runtime, &env, &plan, latency);
    }
}

/// First apply and no-change re-apply against a fresh server; `latency` is added to every request
/// the server answers (a real API server's writes cost milliseconds, the test server's ~0.2 ms).
fn measure(
    runtime: &tokio::runtime::Runtime,
    env: &sextant::environment::Environment,
    plan: &sextant::plan::Plan,
    latency: Option<Duration>,
) {
    let (mut first, mut again, mut writes_again) = (vec![], vec![], 0);
    for _ in 0..RUNS {
        let server = TestServer::start(Options::default()).unwrap();
        if let Some(by) = latency {
            server.inject(sextant_testkit::Fault::delay(
                sextant_testkit::Match::default(),
                by,
            ));
        }
        let opts = SyncOptions {
            poll_interval: Duration::from_millis(20),
            ..SyncOptions::for_environment(env)
        };
        runtime.block_on(async {
            let cluster = KubeCluster::new(server.client().unwrap());
            let t = Instant::now();
            let r = sync(&cluster, env, plan, &opts).await;
            first.push(t.elapsed());
            assert!(r.succeeded, "{}", r.to_table());
            server.clear_requests();
            // A new cluster handle: nothing remembered but what the server holds.
            let cluster = KubeCluster::new(server.client().unwrap());
            let t = Instant::now();
            let r = sync(&cluster, env, plan, &opts).await;
            again.push(t.elapsed());
            assert!(r.succeeded);
            writes_again += server.requests().iter().filter(|r| r.is_write()).count();
        });
    }
    first.sort();
    again.sort();
    let (f, a) = (first[RUNS / 2], again[RUNS / 2]);
    let added = latency.map_or("none".to_string(), |d| {
        format!("{} ms per request", d.as_millis())
    });
    println!("apply benchmark: {OBJECTS} ConfigMaps in 5 waves, test API server on 127.0.0.1, added latency {added}, median of {RUNS} runs");
    println!(
        "  first apply            {:8.1} ms",
        f.as_secs_f64() * 1000.0
    );
    println!(
        "  no-change re-apply     {:8.1} ms   writes: {writes_again}",
        a.as_secs_f64() * 1000.0
    );
    println!(
        "  ratio re-apply / first: {:.3} (target <= 0.10, zero writes)",
        a.as_secs_f64() / f.as_secs_f64()
    );
}
