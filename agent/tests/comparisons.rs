//! One comparison per object per pass, counted: alone in its test binary, because the core's
//! counter is process-wide.

mod support;

use sextant::apply::cluster::KubeCluster;
use sextant::apply::sync::{sync, SyncOptions};
use sextant_testkit::{Options, TestServer};
use std::time::Duration;
use support::*;

/// One comparison per object per pass (`compare::Comparison`): a sync of the repository's
/// `local` environment compares each object once — for the skip decision and what it writes —
/// and so does `sextant diff` and the drift report. Counted by the core's own process-wide
/// counter: this test is alone in its binary, so no other test adds to it under `cargo test`
/// (which runs a binary's tests as threads of one process) or nextest.
#[tokio::test]
async fn a_pass_over_the_local_environment_compares_each_object_once() {
    let server = TestServer::start(Options::default()).expect("test API server");
    let cache = tempfile::tempdir().unwrap();
    let (env, plan) =
        sextant::plan_environment(&renderer(cache.path()), &workspace(), "local").unwrap();
    let objects = plan.objects().filter(|o| o.hook.is_none()).count() as u64;
    assert!(objects > 5, "the local environment has objects: {objects}");
    let cluster = KubeCluster::new(server.client().unwrap());
    let opts = SyncOptions {
        wave_timeout: Duration::from_secs(10),
        poll_interval: Duration::from_millis(50),
        ..SyncOptions::for_environment(&env)
    };
    let mut counts = Vec::new();
    for pass in ["first sync (creates)", "second sync (unchanged)"] {
        let before = sextant::compare::made();
        let result = sync(&cluster, &env, &plan, &opts).await;
        assert!(result.succeeded, "{pass}: {:?}", result.error);
        counts.push((pass, sextant::compare::made() - before));
    }
    let before = sextant::compare::made();
    let diffs = sextant::apply::diff::diff(&cluster, &env, &plan, 4, &Default::default())
        .await
        .unwrap();
    assert!(diffs.is_empty(), "in sync after the sync: {diffs:?}");
    counts.push(("diff", sextant::compare::made() - before));
    let before = sextant::compare::made();
    let drift = sextant::apply::diff::drift(&cluster, &env, &plan, 4)
        .await
        .unwrap();
    assert!(drift.is_empty(), "no drift after the sync: {drift:?}");
    counts.push(("drift", sextant::compare::made() - before));
    for (pass, n) in counts {
        assert_eq!(n, objects, "{pass}: comparisons per pass, one per object");
    }
}
