//! Test harness (feature `testing`): runs a service binary on 127.0.0.1 with a clean
//! environment, reads its JSON log lines, and talks raw HTTP/1.1 to it; every wait is bounded
//! and the process is killed when the handle drops.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The longest a service may take to log `listening`.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(10);
/// The longest a request may take; a hang fails the test instead of blocking it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Service {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts `binary` on 127.0.0.1 port 0 with only `env` set, and waits for `listening`.
    pub fn start(binary: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary)
            .env_clear()
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("LOG_LEVEL", "info")
            .env("SHUTDOWN_DELAY_SECONDS", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (sender, lines) = std::sync::mpsc::channel();
        let kept = Arc::clone(&logs);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                kept.lock().expect("log lock").push(line.clone());
                let _ = sender.send(line);
            }
        });
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not log 'listening' within {STARTUP_DEADLINE:?}: {:?}",
                    binary.display(),
                    logs.lock().expect("log lock")
                );
            };
            let json: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|err| panic!("log line is not JSON ({err}): {line}"));
            if json["message"] == "listening" {
                let addr = json["addr"].as_str().expect("listening has addr");
                break addr.parse().expect("addr is a socket address");
            }
        };
        Self { child, addr, logs }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path)
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("log lock").clone()
    }

    /// Sends SIGTERM, as the kubelet does (through kill(1): no unsafe code in a test harness).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Whether the process has exited already.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits for the process to exit, failing the test if it outlives `within`.
    pub fn wait_for_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {within:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` until it returns true, failing the test after `within`.
pub fn eventually(within: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !probe() {
        assert!(
            Instant::now() < deadline,
            "not true within {within:?}: {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A 127.0.0.1 address where nothing listens (bound, then released).
pub fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", self.body))
    }
}

/// One request on a fresh connection (`Connection: close`), so the body ends at EOF.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    try_request(addr, method, path).unwrap_or_else(|err| panic!("{method} {path}: {err}"))
}

pub fn try_request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).map_err(|err| std::io::Error::other(err.to_string()))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no end of headers in {text:?}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_owned(),
    })
}
