//! Promotion benchmark, all on 127.0.0.1, in the world of `tests/promotion.rs`
//! (`support::promo::Promo`): the fake GitHub's repository served by `git daemon` to two
//! `sextant run` agents, dev's and prod's, each with its own test API server, and the real
//! registry (CNCF distribution) holding the pushed images; `soak: 1s`, pull-request mode.
//!
//! Every figure is read from the agents' own JSON logs (their timestamps, to the microsecond),
//! not from this process's polling:
//! - **promotion**, once per new digest committed to dev: dev's `promotion gate qualified` →
//!   `promotion pull request opened` (the registry's verification, the edit and the forge's
//!   writes; `verified in the registry` splits the two). The pull request is merged, so the
//!   next round opens one again. Baseline: dev's plain sync of that values change (its `sync
//!   finished` `seconds`, render to healthy).
//! - **rollback**, once per fresh bad digest (prod's test server's `fail_images`): promoted,
//!   merged, applied by prod, whose health gate fails (`sync failed`) → `rolled back to the last
//!   good rendering`. Its revert is merged before the next round. Baseline: prod's plain sync of
//!   a promoted digest in the promotion rounds (`sync finished` `seconds`).
//! - **metric breach**, in a second world whose prod verifies each promoted digest for a window
//!   (`promotion.verify`, window 10 s: a look every second) with a real Prometheus scraping a
//!   real hash-service process that serves 5 % errors: each fresh digest is promoted, merged and
//!   applied (`a promoted digest is applied: verifying it`), its first look sees the breach
//!   (`a promoted digest breached a metric check: rolling back now`), and prod rolls back
//!   (`rolled back to the last good rendering`). Same baseline as the rollback's.
//!
//! Run with `cargo bench -p sextant --bench promotion`.

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::agent::{eventually, Agent};
use support::promo::{promotion, Promo};

const PROMOTIONS: usize = 8;
const ROLLBACKS: usize = 5;
const BREACHES: usize = 5;
const WAIT: Duration = Duration::from_secs(120);

/// The agent's log lines so far, parsed.
fn lines(agent: &Agent) -> Vec<Value> {
    agent
        .logs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The first log line with `message` for which `pick` holds, once the agent has written it; if
/// it never does, the agent's last lines say why.
fn line(agent: &Agent, message: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = lines(agent)
            .into_iter()
            .find(|v| v["message"] == message && pick(v));
        if let Some(v) = found {
            return v;
        }
        if Instant::now() > deadline {
            let text = agent.log_text();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(40)..];
            panic!(
                "timed out waiting for {message:?}; the agent's last lines:\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A log line's timestamp, in microseconds since the epoch.
fn at(v: &Value) -> i64 {
    let ts = v["timestamp"].as_str().expect("a timestamp on every line");
    ts.parse::<k8s_openapi::jiff::Timestamp>()
        .expect("an RFC 3339 timestamp")
        .as_microsecond()
}

fn between(from: &Value, to: &Value) -> Duration {
    Duration::from_micros(u64::try_from(at(to) - at(from)).expect("the later line comes after"))
}

fn seconds(v: &Value) -> Duration {
    Duration::from_secs_f64(v["seconds"].as_f64().expect("a seconds field"))
}

fn is(v: &Value, field: &str, value: &str) -> bool {
    v[field] == value
}

fn gate(dev: &Agent) -> Value {
    dev.status()["environments"]["dev"]["promotions"][0].clone()
}

fn runs(server: &sextant_testkit::TestServer, digest: &str) -> bool {
    Promo::image(server).is_some_and(|i| i.ends_with(digest))
}

/// Milliseconds at quantile `q` of sorted `v` (the nearest rank).
fn p(v: &[Duration], q: f64) -> f64 {
    v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
}

fn summary(v: &mut [Duration]) -> String {
    v.sort();
    format!("p50 {:.0} ms, p95 {:.0} ms", p(v, 0.5), p(v, 0.95))
}

fn main() {
    let world = Promo::new(1 + PROMOTIONS + ROLLBACKS, |repo| {
        promotion("pull-request", "1s", repo, "")
    });
    let dev = Agent::start(&world.env("dev", "dev-0"));
    let prod = Agent::start(&world.env("prod", "prod-0"));
    let first = world.images[0].clone();
    eventually(
        WAIT,
        "both clusters on the first image, dev's gate up to date",
        || {
            (runs(&world.dev, &first)
                && runs(&world.prod, &first)
                && gate(&dev)["state"] == "up-to-date")
                .then_some(())
        },
    );

    // Promotion rounds: a new digest in dev → qualified → the pull request → merged → prod.
    let mut to_pr = Vec::new();
    let mut to_verified = Vec::new();
    let mut verified_to_pr = Vec::new();
    let mut dev_sync = Vec::new();
    let mut prod_sync = Vec::new();
    for digest in &world.images[1..=PROMOTIONS] {
        let commit = world.bump_dev(digest);
        let opened = line(&dev, "promotion pull request opened", |v| {
            is(v, "digest", digest)
        });
        let qualified = line(&dev, "promotion gate qualified", |v| {
            is(v, "digest", digest)
        });
        let verified = line(&dev, "verified in the registry", |v| {
            is(v, "digest", digest)
        });
        let synced = line(&dev, "sync finished", |v| {
            is(v, "revision", &commit) && is(v, "result", "succeeded")
        });
        to_pr.push(between(&qualified, &opened));
        to_verified.push(between(&qualified, &verified));
        verified_to_pr.push(between(&verified, &opened));
        dev_sync.push(seconds(&synced));

        let number = opened["number"]
            .as_u64()
            .expect("the pull request's number");
        let merged = world.fake.merge(number).expect("merge the promotion");
        let applied = line(&prod, "sync finished", |v| {
            is(v, "revision", &merged) && is(v, "result", "succeeded")
        });
        prod_sync.push(seconds(&applied));
        eventually(WAIT, "prod on the digest, dev's gate up to date", || {
            (runs(&world.prod, digest)
                && gate(&dev)["state"] == "up-to-date"
                && gate(&dev)["digest"] == digest.as_str())
            .then_some(())
        });
    }
    let good = world.images[PROMOTIONS].clone();

    // Rollback rounds: a fresh digest prod's cluster never gets ready, promoted and merged.
    let mut to_rolled_back = Vec::new();
    let mut good_sync = Vec::new();
    let mut bad_gate = Vec::new();
    for bad in &world.images[PROMOTIONS + 1..] {
        world.prod.fail_images([bad.as_str()]);
        let merged = promote_and_merge(&world, &dev, bad);
        let failed = line(&prod, "sync failed", |v| {
            is(&v["span"], "revision", &merged)
        });
        let finished = line(&prod, "sync finished", |v| {
            is(v, "revision", &merged) && is(v, "result", "failed")
        });
        let rolled_back = line(&prod, "rolled back to the last good rendering", |v| {
            is(v, "from", &merged)
        });
        to_rolled_back.push(between(&failed, &rolled_back));
        good_sync.push(seconds(&rolled_back));
        bad_gate.push(seconds(&finished));
        assert!(runs(&world.prod, &good), "prod back on the good image");

        merge_revert(&world, &dev, &prod, bad);
    }
    assert!(
        world.open_pulls("sextant-promotion").is_empty(),
        "no rejected digest proposed again"
    );

    dev_sync.sort();
    prod_sync.sort();
    to_pr.sort();
    to_rolled_back.sort();
    let ratio = |v: &[Duration], base: &[Duration]| p(v, 0.5) / p(base, 0.5);
    println!("promotion benchmark: fake GitHub + git daemon + docker-registry + two test API servers + two `sextant run` (dev, prod; pull-request, soak 1s), 127.0.0.1; from the agents' JSON logs");
    println!(
        "  dev's gate qualified → promotion pull request opened, {PROMOTIONS} digests: {}",
        summary(&mut to_pr)
    );
    println!(
        "    of which qualified → verified in the registry: {}; verified → opened (edit, commit, pull request, label): {}",
        summary(&mut to_verified),
        summary(&mut verified_to_pr)
    );
    println!(
        "    baseline, dev's plain sync of the same values change (sync finished, seconds): {}; ratio of the p50s {:.2}",
        summary(&mut dev_sync),
        ratio(&to_pr, &dev_sync)
    );
    println!(
        "  prod's health gate failed (sync failed) → rolled back to the last good rendering, {ROLLBACKS} bad digests: {} (target p50 < 2000 ms)",
        summary(&mut to_rolled_back)
    );
    println!(
        "    of which the good rendering's sync (its seconds field): {}; the bad revision's sync until its gate failed: {}",
        summary(&mut good_sync),
        summary(&mut bad_gate)
    );
    println!(
        "    baseline, prod's plain sync of a promoted digest (sync finished, seconds): {}; ratio of the p50s {:.2}",
        summary(&mut prod_sync),
        ratio(&to_rolled_back, &prod_sync)
    );
    println!(
        "  pull requests in the fake: {} ({PROMOTIONS} promotions merged, {ROLLBACKS} promoted and rolled back, {ROLLBACKS} reverts)",
        world.fake.pulls().len()
    );
    drop((dev, prod, world));
    let (mut applied_to_back, mut seen_to_back, mut applied_to_seen) = breaches();
    println!(
        "  prod's metric breach (a promoted digest serving 5 % errors, verify window 10 s, a look every 1 s), {BREACHES} digests:"
    );
    println!(
        "    applied (verifying it) → rolled back to the last good rendering: {}; ratio of the p50 to the plain sync's {:.2}",
        summary(&mut applied_to_back),
        ratio(&applied_to_back, &prod_sync)
    );
    println!(
        "    of which applied → the breach seen (the first look): {}; the breach seen → rolled back: {}",
        summary(&mut applied_to_seen),
        summary(&mut seen_to_back)
    );
}

/// The metric breach rounds: (applied → rolled back, breach seen → rolled back, applied →
/// breach seen), one each per fresh digest.
fn breaches() -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
    use service_kit::testing::Service;
    use support::prometheus::{error_ratio, hash_service, Prometheus};
    let pods = std::sync::Arc::new(Service::start(
        &hash_service(),
        &[("FAULT_ERROR_PERCENT", "5")],
    ));
    for _ in 0..100 {
        pods.get("/hash/abc");
    }
    let prometheus = Prometheus::start(&[pods.addr], WAIT);
    prometheus.wait_for_hash_requests(100.0, WAIT);
    let verify = format!(
        "    verify:\n      window: 10s\n      checks:\n        - prometheus: {{url: \"{}\", query: '{}', condition: \"< 0.01\"}}\n",
        prometheus.url(),
        error_ratio(Some(&pods.addr.to_string()))
    );
    let world = Promo::new(1 + BREACHES, |repo| {
        promotion("pull-request", "1s", repo, &verify)
    });
    let dev = Agent::start(&world.env("dev", "dev-0"));
    let prod = Agent::start(&world.env("prod", "prod-0"));
    let good = world.images[0].clone();
    eventually(WAIT, "both clusters on the first image", || {
        (runs(&world.dev, &good) && runs(&world.prod, &good)).then_some(())
    });
    let (mut applied_to_back, mut seen_to_back, mut applied_to_seen) =
        (Vec::new(), Vec::new(), Vec::new());
    for bad in &world.images[1..] {
        let merged = promote_and_merge(&world, &dev, bad);
        let applied = line(&prod, "a promoted digest is applied: verifying it", |v| {
            is(v, "revision", &merged)
        });
        let seen = line(
            &prod,
            "a promoted digest breached a metric check: rolling back now",
            |v| is(v, "from", &merged),
        );
        let back = line(&prod, "rolled back to the last good rendering", |v| {
            is(v, "from", &merged)
        });
        applied_to_back.push(between(&applied, &back));
        seen_to_back.push(between(&seen, &back));
        applied_to_seen.push(between(&applied, &seen));
        merge_revert(&world, &dev, &prod, bad);
    }
    (applied_to_back, seen_to_back, applied_to_seen)
}

/// Merges the revert prod opened after rolling back from `bad`, and waits until prod's rollback
/// is over and dev's gate rejects `bad`. The revert is merged only once dev's checkout shows the
/// promotion merged. Merged sooner, within dev's poll interval, a pass on dev's older checkout
/// sees the promotion request merged, the target not carrying the digest and no rejection yet,
/// and proposes the rejected digest again: a race of the promoter's, not what this measures.
fn merge_revert(world: &Promo, dev: &Agent, prod: &Agent, bad: &str) {
    let revert = eventually(WAIT, "the revert pull request", || {
        world.open_pulls("sextant-rollback").into_iter().next()
    });
    eventually(
        WAIT,
        "dev's gate: prod's Git carries the bad digest",
        || (gate(dev)["state"] == "up-to-date" && gate(dev)["digest"] == bad).then_some(()),
    );
    world.fake.merge(revert.number).expect("merge the revert");
    eventually(
        WAIT,
        "prod's rollback over, dev's gate rejecting the digest",
        || {
            (prod.status()["environments"]["prod"]["rollback"].is_null()
                && gate(dev)["state"] == "rejected"
                && gate(dev)["digest"] == bad)
                .then_some(())
        },
    );
}

/// `digest` committed to dev, its promotion pull request (from dev's log) merged: the merge
/// commit.
fn promote_and_merge(world: &Promo, dev: &Agent, digest: &str) -> String {
    world.bump_dev(digest);
    let opened = line(dev, "promotion pull request opened", |v| {
        is(v, "digest", digest)
    });
    let number = opened["number"]
        .as_u64()
        .expect("the pull request's number");
    world.fake.merge(number).expect("merge the promotion")
}
