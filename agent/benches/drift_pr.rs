//! Drift pull-request benchmark, all on 127.0.0.1: the fake GitHub holding a prod-like
//! repository (served to the agent by `git daemon`), the test API server, and `sextant run` under
//! `drift.policy: pull-request` with `pullRequest.delay: 0s`. Each round `kubectl scale`s the
//! hash-service Deployment to a new count and measures, from the start of the command:
//! - detection (`sextant_drift_detected_total` rises, or the watch's drift object changes);
//! - the pull request carrying the new count (opened the first round, updated after): the
//!   provenance renders, the edit, the proof and the forge's writes.
//!
//! The drift → PR figure is the difference. Run with `cargo bench -p sextant --bench drift_pr`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::agent::{eventually, Agent};
use support::pr::{prod_environment, World};

const ROUNDS: usize = 10;

fn main() {
    let world = World::new(&prod_environment(""));
    let agent = Agent::start(&world.env("bench"));
    let wait = Duration::from_secs(120);
    eventually(wait, "prod applied and watched", || {
        (agent.status()["environments"]["prod"]["drift"]["state"] == "in-sync").then_some(())
    });
    let mut detected = Vec::new();
    let mut proposed = Vec::new();
    for i in 0..ROUNDS {
        let replicas = 4 + i;
        let t = Instant::now();
        world.scale(replicas);
        let seen = eventually(wait, "the drift detected", || {
            let status = agent.status();
            let objects = status["environments"]["prod"]["drift"]["objects"].as_array()?;
            (!objects.is_empty()).then(|| t.elapsed())
        });
        // Detection is read back from /status, which the drift watch updates as it detects.
        let title = format!("drift(prod/hash-service): replicaCount 3 → {replicas}");
        let done = eventually(wait, "the pull request with the new count", || {
            world
                .open_pulls()
                .into_iter()
                .any(|p| p.title == title)
                .then(|| t.elapsed())
        });
        detected.push(seen);
        proposed.push(done.saturating_sub(seen));
    }
    detected.sort();
    proposed.sort();
    let p = |v: &[Duration], q: f64| {
        v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
    };
    println!("drift pull-request benchmark: fake GitHub + git daemon + test API server + `sextant run` (prod-like, pull-request, delay 0s), 127.0.0.1");
    println!(
        "  kubectl scale → detected, {ROUNDS} rounds: p50 {:.0} ms, p95 {:.0} ms (kubectl's own run included)",
        p(&detected, 0.5),
        p(&detected, 0.95)
    );
    println!(
        "  detected → pull request opened (round 1) or updated (rounds 2–{ROUNDS}): p50 {:.0} ms, p95 {:.0} ms (target p50 < 2000 ms)",
        p(&proposed, 0.5),
        p(&proposed, 0.95)
    );
    println!(
        "  pull requests in the fake: {} (one per release)",
        world.fake.pulls().len()
    );
}
