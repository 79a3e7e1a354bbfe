//! A real `git daemon` on 127.0.0.1 serving bare repositories, and a work clone to push to it.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct GitDaemon {
    child: Child,
    pub port: u16,
    base: PathBuf,
    _owned: Option<tempfile::TempDir>,
}

/// Runs git in `dir` as a test's author, failing the test with git's message unless it
/// succeeds; its output, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl GitDaemon {
    /// Serves `<base>/*.git` of a folder of its own, read and write, on a free loopback port.
    pub fn start() -> Self {
        let base = tempfile::tempdir().unwrap();
        let mut d = Self::serve(base.path());
        d._owned = Some(base);
        d
    }

    /// Serves the bare repositories already in `base` (the fake GitHub's, say).
    pub fn serve(base: &Path) -> Self {
        let base = base.to_path_buf();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new("git")
                .args([
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--enable=receive-pack",
                    "--listen=127.0.0.1",
                ])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .arg(&base)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // `git daemon` runs `git-daemon` as a child: in a group of their own, both are
                // stopped together.
                .process_group(0)
                .spawn()
                .expect("start git daemon");
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return GitDaemon {
                        child,
                        port,
                        base,
                        _owned: None,
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            super::kill_group(&mut child);
            assert!(Instant::now() < deadline, "git daemon did not start");
        }
    }

    /// Creates a bare repository and returns a work clone of it.
    pub fn repo(&self, name: &str) -> WorkRepo {
        let bare = self.base.join(format!("{name}.git"));
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--bare", "-q"]);
        let work = tempfile::tempdir().unwrap();
        git(work.path(), &["init", "-q", "-b", "main"]);
        git(
            work.path(),
            &["remote", "add", "origin", bare.to_str().unwrap()],
        );
        WorkRepo {
            dir: work,
            url: format!("git://127.0.0.1:{}/{name}.git", self.port),
        }
    }
}

impl GitDaemon {
    /// The folder of bare repositories it serves.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The `git://` URL of a repository it serves.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        super::kill_group(&mut self.child);
    }
}

pub struct WorkRepo {
    dir: tempfile::TempDir,
    pub url: String,
}

impl WorkRepo {
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    /// Commits everything and pushes `main`; returns the new commit id.
    pub fn commit_and_push(&self, message: &str) -> String {
        git(self.dir.path(), &["add", "-A"]);
        git(self.dir.path(), &["commit", "-q", "-m", message]);
        git(self.dir.path(), &["push", "-q", "origin", "main"]);
        let out = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}
