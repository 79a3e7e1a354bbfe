//! A server process of a test: on 127.0.0.1, a port of its own, in its own process group, killed
//! (the whole group) when dropped, and waited for until it answers HTTP, within a bound.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Server {
    pub port: u16,
    child: Child,
}

/// A port free now. The servers started here cannot report one they picked themselves, so a
/// start that finds it taken meanwhile tries another.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

impl Server {
    /// Starts `command(port)` until one answers `ready(port)` within `within`; five ports tried.
    pub(crate) fn start(
        what: &str,
        mut command: impl FnMut(u16) -> Command,
        ready: impl Fn(u16) -> bool,
        within: Duration,
    ) -> Server {
        for _ in 0..5 {
            let port = free_port();
            let mut child = command(port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
            let deadline = Instant::now() + within;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // it exited: most likely the port was taken; try another
                }
                if ready(port) {
                    return Server { port, child };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            kill_group(&mut child);
        }
        panic!("{what} did not start on 127.0.0.1");
    }
}

fn kill_group(child: &mut Child) {
    // SAFETY: killpg only sends a signal; the group is the one this child leads.
    unsafe {
        libc::killpg(child.id() as libc::pid_t, libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Server {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// The status code a GET of `path` gets, if an HTTP answer comes within two seconds.
pub(crate) fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}
