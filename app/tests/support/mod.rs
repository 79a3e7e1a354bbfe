//! Test harness: runs the built `hash-service` binary on loopback and talks raw HTTP/1.1 to it.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// Generous bounds: the machine is shared, but a hang must still fail the test.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(10);
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Service {
    child: Child,
    pub addr: SocketAddr,
    /// Every JSON log line the service printed after "listening".
    pub logs: Receiver<serde_json::Value>,
}

impl Service {
    /// Starts the binary on 127.0.0.1 port 0 and waits for its "listening" log line.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hash-service"));
        command
            .env_clear()
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("LOG_LEVEL", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawn hash-service");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, logs) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
                    panic!("log line is not JSON: {line}");
                };
                if sender.send(json).is_err() {
                    break;
                }
            }
        });
        match listening_addr(&logs) {
            Ok(addr) => Self { child, addr, logs },
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hash-service did not start: {why}");
            }
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path)
    }

    pub fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped) and a valid signal.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
    }

    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits for the process to exit, failing the test if it outlives `deadline`.
    pub fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "service still running after {within:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The bound address from the service's "listening" log line.
fn listening_addr(logs: &Receiver<serde_json::Value>) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + STARTUP_DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = logs
            .recv_timeout(left)
            .map_err(|err| format!("no 'listening' log line within {STARTUP_DEADLINE:?}: {err}"))?;
        if line["message"] == "listening" {
            let addr = line["addr"]
                .as_str()
                .ok_or("'listening' line has no addr")?;
            return addr.parse().map_err(|err| format!("addr {addr:?}: {err}"));
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
