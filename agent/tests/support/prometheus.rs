//! A real Prometheus (Debian's, installed by `make tools`) on 127.0.0.1, scraping the given
//! targets every second, its data in a temporary folder; killed when dropped.

use super::agent::http;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Prometheus {
    pub addr: SocketAddr,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts it scraping `targets` (one job, `instance` the target's address) and waits until
    /// it is ready (its storage opened), at most `within`.
    pub fn start(targets: &[SocketAddr], within: Duration) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = service_kit::testing::closed_port().port();
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: scraped\n    static_configs: [{{targets: [{}]}}]\n",
            list.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (installed by `make tools`)");
        let p = Prometheus {
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            child: Some(child),
            _dir: dir,
        };
        super::agent::eventually(within, "Prometheus ready", || {
            let ready = std::panic::catch_unwind(|| http(p.addr, "GET", "/-/ready", &[], b"").0);
            (ready.ok() == Some(200)).then_some(())
        });
        p
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The answer of an instant query, or `None` when there is none (not up, not JSON).
    pub fn query(&self, q: &str) -> Option<Value> {
        let path = format!("/api/v1/query?query={}", encode(q));
        let (code, body) =
            std::panic::catch_unwind(|| http(self.addr, "GET", &path, &[], b"")).ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (code == 200).then_some(v)
    }

    /// Waits until it has scraped at least `requests` answers of hash-service's `/hash` route,
    /// summed over the targets: the traffic a test sent is in.
    pub fn wait_for_hash_requests(&self, requests: f64, within: Duration) {
        super::agent::eventually(within, "Prometheus to have scraped the traffic", || {
            let v = self.query(&format!("sum(http_requests_total{{{HASH}}})"))?;
            let n = v["data"]["result"][0]["value"][1]
                .as_str()?
                .parse::<f64>()
                .ok()?;
            (n >= requests).then_some(())
        });
    }

    /// Stops it now (a test of what happens when Prometheus is gone).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Percent-encodes a query parameter (every byte outside RFC 3986's unreserved set).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// hash-service as the workspace's test run builds it, beside this test's own binary.
pub fn hash_service() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("hash-service");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p hash-service` (`make test` does)",
        bin.display()
    );
    bin
}

pub const HASH: &str = r#"route="/hash/{input}""#;

/// The share of `/hash` answers that were 5xx, per instance (0 where none were).
pub fn error_ratio(instance: Option<&str>) -> String {
    let only = instance.map_or(String::new(), |i| format!(r#",instance="{i}""#));
    format!(
        r#"(sum by (instance) (http_requests_total{{{HASH},status=~"5.."{only}}}) or sum by (instance) (http_requests_total{{{HASH}{only}}}) * 0) / sum by (instance) (http_requests_total{{{HASH}{only}}})"#
    )
}
