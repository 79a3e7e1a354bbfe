//! Shared setup: a fake GitHub on 127.0.0.1 and a client for it with short waits.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use forge_testkit::{FakeGitHub, Options};
use sextant_forge::{Auth, Config, GitHub, Observer, RetryPolicy, Secret};

pub fn fake() -> FakeGitHub {
    FakeGitHub::start(Options::default()).expect("the fake GitHub starts")
}

/// Retries that finish quickly: 5 attempts, 10 ms first backoff, 10 s budget.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        budget: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        secondary_default_wait: Duration::from_secs(60),
    }
}

pub fn config(gh: &FakeGitHub, auth: Auth) -> Config {
    let mut c = Config::new(gh.url(), &gh.options().owner, &gh.options().repo, auth);
    c.retry = fast_retry();
    c.timeout = Duration::from_secs(10);
    c
}

pub fn token(gh: &FakeGitHub) -> Auth {
    Auth::Token(Secret::new(gh.options().token.clone()))
}

pub fn client(gh: &FakeGitHub) -> GitHub {
    GitHub::new(config(gh, token(gh))).expect("client")
}

/// Records what the metrics would see.
#[derive(Default)]
pub struct Recorder {
    pub requests: Mutex<Vec<(String, u16)>>,
    pub remaining: Mutex<Vec<i64>>,
}

impl Observer for Recorder {
    fn on_request(&self, operation: &str, code: u16) {
        self.requests
            .lock()
            .unwrap()
            .push((operation.to_string(), code));
    }

    fn on_rate_limit(&self, remaining: i64) {
        self.remaining.lock().unwrap().push(remaining);
    }
}

pub fn observed(gh: &FakeGitHub) -> (GitHub, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let client = GitHub::with_observer(config(gh, token(gh)), rec.clone()).expect("client");
    (client, rec)
}

pub fn codes(rec: &Recorder, operation: &str) -> Vec<u16> {
    rec.requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(op, _)| op == operation)
        .map(|(_, c)| *c)
        .collect()
}
