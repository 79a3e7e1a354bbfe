//! `sextant run` as a child process: its JSON logs collected, its HTTP port found from the
//! `listening` line, plain HTTP/1.1 requests to it, and SIGTERM or SIGKILL to stop it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Agent {
    child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
}

/// The longest any process test waits for one thing: the agent's start, a sync, a pull request,
/// its exit. What takes longer by design (a backoff, a soak, a lease) is configured shorter in
/// the test, not waited out.
pub const WAIT: Duration = Duration::from_secs(10);

/// Polls `f` until it returns `Some`, or panics with `what` after `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

impl Agent {
    pub fn start(env: &HashMap<&str, String>) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sextant"))
            .arg("run")
            .env_remove("SEXTANT_REPO_PATH")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("SEXTANT_LOG_FORMAT", "json")
            .env("SEXTANT_LISTEN_ADDR", "127.0.0.1:0")
            .env("SEXTANT_HELM", super::helm())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start sextant run");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let addr = eventually(WAIT, "the agent's listening line", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "sextant run exited early ({status}): {}",
                    logs.lock().unwrap().join("\n")
                );
            }
            logs.lock().unwrap().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "listening").then(|| v["addr"].as_str()?.parse().ok())?
            })
        });
        Agent { child, addr, logs }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        http(self.addr, method, path, headers, body)
    }

    /// Delivers a GitHub push event for `branch`, signed with `secret`; returns the status code.
    pub fn push_webhook(&self, secret: &str, branch: &str) -> u16 {
        let body = serde_json::to_vec(&serde_json::json!({"ref": format!("refs/heads/{branch}")}))
            .unwrap();
        let signature = sextant_source::webhook::signature_header(secret.as_bytes(), &body);
        let headers = [
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", signature.as_str()),
        ];
        self.request("POST", "/hooks/github", &headers, &body).0
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[], b"")
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").1).unwrap_or_default()
    }

    /// The value of a metric series in `/metrics`, e.g. `sextant_sync_total{environment="e",result="failed"}`.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();

        eventually(WAIT, "the agent to exit after SIGTERM", || {
            self.child.try_wait().unwrap()
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL to the agent and anything it started (its process group).
    pub fn kill(&mut self) {
        super::kill_group(&mut self.child);
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One plain HTTP/1.1 request; returns the status code and the body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    // A caller may declare its own length (to test limits without sending the bytes).
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) and close before reading a large body: read its answer anyway.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, dechunk(&body))
}

/// Undoes `Transfer-Encoding: chunked` when present.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body.to_string();
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_string();
        };
        if n == 0 {
            return out;
        }
        if after.len() < n {
            return body.to_string();
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
}
