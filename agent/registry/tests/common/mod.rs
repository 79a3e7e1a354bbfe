//! What the registry tests share: an observer that records each request, and a verifier.
#![allow(dead_code)]

use sextant_registry::{Config, Observer, Platform, Registries};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every `(registry, code)` the verifier reported, in order.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<(String, String)>>);

impl Observer for Recorder {
    fn request(&self, registry: &str, code: &str) {
        self.0
            .lock()
            .unwrap()
            .push((registry.to_string(), code.to_string()));
    }
}

impl Recorder {
    pub fn codes(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    pub fn registries(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }
}

pub fn verifier(config: Config) -> (Registries, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let registries = Registries::new(config, Some(recorder.clone() as Arc<dyn Observer>));
    (registries, recorder)
}

/// Plain HTTP to these hosts, 5 s per request.
pub fn insecure(hosts: &[String]) -> Config {
    Config {
        insecure: hosts.to_vec(),
        timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

pub fn platform(s: &str) -> Platform {
    s.parse().unwrap()
}

/// A well-formed digest of nothing any test pushed.
pub fn absent_digest() -> String {
    registry_testkit::image::sha256(b"no image has these bytes")
}
