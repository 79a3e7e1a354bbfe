//! Test helpers: a `git daemon` on 127.0.0.1 that dies with its guard, and the `git` CLI run
//! with no user or system configuration.

#![allow(dead_code)] // each test binary uses a different subset

pub mod http_git;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `git` in `dir` with a hermetic environment; panics with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Sextant Test")
        .env("GIT_AUTHOR_EMAIL", "test@sextant.invalid")
        .env("GIT_COMMITTER_NAME", "Sextant Test")
        .env("GIT_COMMITTER_EMAIL", "test@sextant.invalid")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A port on 127.0.0.1 that was free a moment ago (nothing listens on it now).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `git daemon` serving every repository under `base`, killed on drop.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn start(base: &Path) -> Self {
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new("git")
                .arg("daemon")
                .arg("--reuseaddr")
                .arg(format!("--base-path={}", base.display()))
                .arg("--export-all")
                .arg("--enable=receive-pack")
                .arg("--informative-errors")
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(base)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                // Its own process group, so that the per-connection children die with it.
                .process_group(0)
                .spawn()
                .expect("spawn git daemon");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Self { child, port };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("git daemon on port {port} exited: {status}");
                    break;
                }
                if Instant::now() > deadline {
                    last_error = format!("git daemon on port {port} did not listen within 10 s");
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{}", child.id())])
                        .status();
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                // Polling a bounded readiness condition, not waiting blindly.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start git daemon: {last_error}");
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        // Kill the whole group this daemon leads (its id is the group id): the daemon and the
        // upload-pack/receive-pack children it forked, which would otherwise outlive the test.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare repository served by a `git daemon`, a work clone that pushes to it, and a cache dir.
pub struct Remote {
    pub tmp: tempfile::TempDir,
    pub daemon: GitDaemon,
    pub work: PathBuf,
    pub cache: PathBuf,
    pub url: String,
}

impl Remote {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let srv = tmp.path().join("srv");
        std::fs::create_dir_all(&srv).expect("mkdir srv");
        git(&srv, &["init", "-q", "--bare", "-b", "main", "repo.git"]);
        let daemon = GitDaemon::start(&srv);
        let url = daemon.url("repo.git");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir work");
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", &url]);
        let cache = tmp.path().join("cache");
        Self {
            tmp,
            daemon,
            work,
            cache,
            url,
        }
    }

    /// Writes `files` (path, content; `None` deletes), commits and pushes to `branch`;
    /// returns the commit id.
    pub fn commit_to(&self, branch: &str, files: &[(&str, Option<&str>)], message: &str) -> String {
        for (path, content) in files {
            let full = self.work.join(path);
            match content {
                Some(text) => {
                    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
                    std::fs::write(&full, text).expect("write");
                }
                None => std::fs::remove_file(&full).expect("remove"),
            }
        }
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(
            &self.work,
            &["push", "-q", "-f", "origin", &format!("HEAD:{branch}")],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }

    pub fn commit(&self, files: &[(&str, Option<&str>)], message: &str) -> String {
        self.commit_to("main", files, message)
    }
}
