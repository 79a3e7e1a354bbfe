//! Chart sources on 127.0.0.1 for the mirror tests: a Helm repository (a small static file server
//! in this process) and an OCI registry (Debian's `docker-registry`, CNCF distribution, as
//! registry-testkit starts it: in its own process group, killed when dropped).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Packages the chart folder `dir` into `out/<name>-<version>.tgz` with the pinned helm.
pub fn package(dir: &Path, out: &Path) -> PathBuf {
    std::fs::create_dir_all(out).expect("mkdir");
    let done = Command::new(super::helm())
        .args(["package"])
        .arg(dir)
        .arg("--destination")
        .arg(out)
        .output()
        .expect("run helm package");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let line = String::from_utf8_lossy(&done.stdout).to_string();
    let path = line
        .trim()
        .rsplit(": ")
        .next()
        .expect("helm names the package");
    PathBuf::from(path)
}

/// Writes a chart `name` at `version` whose one ConfigMap carries `marker`.
pub fn write_chart(root: &Path, name: &str, version: &str, marker: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
    )
    .expect("write");
    std::fs::write(
        dir.join("templates/cm.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  marker: {marker}\n"
        ),
    )
    .expect("write");
    dir
}

/// A classic Helm repository: static files under `root`, served over HTTP/1.1 on 127.0.0.1.
pub struct HelmRepoServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    paths: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HelmRepoServer {
    pub fn start(root: &Path) -> HelmRepoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (root, stop2, paths2) = (root.to_path_buf(), stop.clone(), paths.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    serve(&root, conn, &paths2);
                }
            }
        });
        HelmRepoServer {
            port,
            stop,
            paths,
            thread: Some(thread),
        }
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.paths.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

fn serve(root: &Path, mut conn: TcpStream, paths: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the headers; the body of a GET is empty.
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    if let Ok(mut p) = paths.lock() {
        p.push(path.clone());
    }
    let file = root.join(path.trim_start_matches('/'));
    let (status, body) = match (path.contains(".."), std::fs::read(&file)) {
        (false, Ok(body)) => ("200 OK", body),
        _ => ("404 Not Found", b"not found\n".to_vec()),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(&body);
}

impl Drop for HelmRepoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `docker-registry` (Debian's package of CNCF distribution) on 127.0.0.1: registry-testkit's,
/// the one copy of how it is started and stopped (its process group killed when dropped).
pub struct OciRegistry {
    pub port: u16,
    _registry: registry_testkit::Distribution,
}

impl OciRegistry {
    pub fn start() -> OciRegistry {
        let registry = registry_testkit::Distribution::start();
        OciRegistry {
            port: registry.port(),
            _registry: registry,
        }
    }

    /// `helm push --plain-http` of a packaged chart into `oci://127.0.0.1:<port>/<path>`.
    pub fn push(&self, package: &Path, path: &str) {
        let out = Command::new(super::helm())
            .arg("push")
            .arg(package)
            .arg(format!("oci://127.0.0.1:{}/{path}", self.port))
            .arg("--plain-http")
            .output()
            .expect("run helm push");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
