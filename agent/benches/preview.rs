//! Pull request preview benchmark, all on 127.0.0.1: the fake GitHub holding the prod-like
//! repository of the drift pull-request benchmark (served to the agent by `git daemon`), the test
//! API server as prod's cluster, and `sextant run` with `spec.preview.enabled` and a poll of an
//! hour, so that only the webhook starts the work. Each round:
//! - a pull request setting `replicaCount` to a new count is opened, its signed `pull_request`
//!   webhook delivered, and the time measured until the preview comment with the new count is
//!   posted (fetch of `refs/pull/N/head`, both renders, the cluster reads, the values key search,
//!   the comment and the status);
//! - the same change is then committed on main, its signed `push` webhook delivered, and the time
//!   measured until prod has applied it (`/status` at the commit, the last sync succeeded): one
//!   plain sync of the same change, the baseline of the ratio.
//!
//! Run with `cargo bench -p sextant --bench preview`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::agent::{eventually, Agent};
use support::pr::{prod_environment, World, PROD_VALUES, VALUES};

const ROUNDS: usize = 10;
const SECRET: &str = "bench webhook secret";

fn deliver(agent: &Agent, event: &str, body: &serde_json::Value) {
    let body = serde_json::to_vec(body).unwrap();
    let signature = sextant_source::webhook::signature_header(SECRET.as_bytes(), &body);
    let headers = [
        ("X-GitHub-Event", event),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    let (code, text) = agent.request("POST", "/hooks/github", &headers, &body);
    assert_eq!(code, 202, "{text}");
}

fn percentile(v: &[Duration], q: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let world = World::new(&prod_environment("  preview:\n    enabled: true\n"));
    let secret_file = world.dir.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let mut env = world.env("bench");
    env.insert("SEXTANT_POLL_INTERVAL", "1h".into());
    env.insert(
        "SEXTANT_WEBHOOK_SECRET_FILE",
        secret_file.display().to_string(),
    );
    let agent = Agent::start(&env);
    let wait = Duration::from_secs(120);
    eventually(wait, "prod applied", || {
        (world.replicas() == Some(3)).then_some(())
    });
    let mut previews = Vec::new();
    let mut syncs = Vec::new();
    for i in 0..ROUNDS {
        let replicas = 10 + i;
        let values = PROD_VALUES.replace("replicaCount: 3", &format!("replicaCount: {replicas}"));
        let branch = format!("scale-{replicas}");
        world
            .fake
            .seed(&branch, &[(VALUES, values.as_bytes())], &branch)
            .unwrap();
        let number = world.fake.seed_pull(&branch, &branch, &[]).unwrap();
        let t = Instant::now();
        deliver(
            &agent,
            "pull_request",
            &serde_json::json!({"action": "opened", "number": number,
                "pull_request": {"number": number, "base": {"ref": "main"}}}),
        );
        let wanted = format!("+  replicas: {replicas}");
        previews.push(eventually(wait, "the preview comment", || {
            world
                .fake
                .comments(number)
                .iter()
                .any(|c| c.body.contains(&wanted))
                .then(|| t.elapsed())
        }));
        world.fake.close(number).unwrap();

        let commit = world
            .fake
            .seed(
                "main",
                &[(VALUES, values.as_bytes())],
                "the same change on main",
            )
            .unwrap();
        let t = Instant::now();
        deliver(
            &agent,
            "push",
            &serde_json::json!({"ref": "refs/heads/main"}),
        );
        syncs.push(eventually(wait, "the change applied", || {
            let status = agent.status();
            let prod = &status["environments"]["prod"];
            (prod["revision"] == commit.as_str() && prod["last_sync"]["result"] == "succeeded")
                .then(|| t.elapsed())
        }));
    }
    let (p50, p95) = (percentile(&previews, 0.5), percentile(&previews, 0.95));
    let (s50, s95) = (percentile(&syncs, 0.5), percentile(&syncs, 0.95));
    println!("pull request preview benchmark: fake GitHub + git daemon + test API server + `sextant run` (prod-like, spec.preview.enabled, poll 1h: webhooks only), 127.0.0.1, {ROUNDS} rounds");
    println!(
        "  pull request webhook → preview comment posted: p50 {:.0} ms, p95 {:.0} ms (target p50 < 3000 ms)",
        ms(p50),
        ms(p95)
    );
    println!(
        "  push webhook → the same change applied (one plain sync): p50 {:.0} ms, p95 {:.0} ms",
        ms(s50),
        ms(s95)
    );
    println!(
        "  ratio preview / sync: p50 {:.2}, p95 {:.2}",
        p50.as_secs_f64() / s50.as_secs_f64(),
        p95.as_secs_f64() / s95.as_secs_f64()
    );
    println!(
        "  preview comments in the fake: {} (one per pull request)",
        (1..=ROUNDS as u64 * 2)
            .map(|n| world.fake.comments(n).len())
            .sum::<usize>()
    );
}
