//! Shared set-up for the agent's integration tests: the real helm, temporary repositories built
//! from the fixture charts, and the `sextant` binary.
#![allow(dead_code)]

pub mod agent;
pub mod charts;
pub mod git;
pub mod pr;
pub mod prometheus;
pub mod promo;
pub mod sops;

use sextant::render::{cache::RenderCache, helm::Helm, Renderer, Settings};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("agent/ sits in the workspace")
        .to_path_buf()
}

/// Runs `f` to completion on a runtime of its own (for the process tests' reads of the test
/// API server or a registry between their synchronous steps).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}

/// The pinned helm that `make tools` installs.
pub fn helm() -> PathBuf {
    let p = workspace().join(".tools/bin/helm");
    assert!(
        p.is_file(),
        "{} is missing: run `make tools` first",
        p.display()
    );
    p
}

pub fn fixture_chart(name: &str) -> PathBuf {
    workspace().join("agent/tests/fixtures/charts").join(name)
}

pub fn renderer(cache: &Path) -> Renderer {
    Renderer::new(
        Helm::new(helm()),
        RenderCache::new(cache),
        Settings::default(),
    )
}

/// Writes `content` to `root/rel`, making its folders.
pub fn write_file(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("a file has a parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// A number field of `/proc/<pid>/<file>`, e.g. `VmRSS:` of `status` (in KiB).
pub fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// A throw-away repository laid out like this one.
pub struct TempRepo {
    dir: tempfile::TempDir,
}

impl TempRepo {
    pub fn new() -> Self {
        TempRepo {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> &Self {
        write_file(self.path(), rel, content);
        self
    }

    /// Copies a fixture chart to `charts/<name>` in the repository.
    pub fn chart(&self, fixture: &str) -> &Self {
        copy_dir(
            &fixture_chart(fixture),
            &self.path().join("charts").join(fixture),
        );
        self
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Runs the `sextant` binary with the pinned helm and a private cache.
pub fn sextant(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sextant"))
        .args(args)
        .env("SEXTANT_HELM", helm())
        .env("SEXTANT_CACHE_DIR", cache)
        .output()
        .expect("run sextant")
}

/// Runs the `sextant` binary and asserts that it succeeds (its stderr as the message).
pub fn sextant_ok(cache: &Path, args: &[&str]) -> Output {
    let out = sextant(cache, args);
    assert!(
        out.status.success(),
        "sextant {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A test API server whose objects become ready after 20 ms, with its kubeconfig written to
/// `<dir>/kubeconfig`.
pub fn test_server(dir: &Path) -> (sextant_testkit::TestServer, PathBuf) {
    let server = sextant_testkit::TestServer::start(sextant_testkit::Options {
        ready_delay: std::time::Duration::from_millis(20),
        ..sextant_testkit::Options::default()
    })
    .expect("test API server");
    let kubeconfig = dir.join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig)
        .expect("write kubeconfig");
    (server, kubeconfig)
}

/// The ids of running processes whose command line mentions `needle` (zombies aside).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

/// Kills a child started with `process_group(0)` together with everything in its group, and
/// reaps it.
pub fn kill_group(child: &mut std::process::Child) {
    // SAFETY: kill(2) on a process group id; no memory is involved.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Splits multi-document YAML into JSON values, dropping empty documents.
pub fn documents(text: &str) -> Vec<serde_json::Value> {
    // Each piece keeps the line break before the next `---`: a block scalar's last newline.
    text.split("\n---")
        .flat_map(|d| d.strip_prefix("---").or(Some(d)))
        .filter_map(|d| sextant::yaml::parse(&format!("{d}\n")).ok())
        .filter(|v| !v.is_null())
        .collect()
}

/// An environment file with the given releases block (already indented under `releases:`).
pub fn environment(name: &str, releases: &str) -> String {
    format!(
        "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n  releases:\n{releases}"
    )
}

/// Runs the real kubectl against `kubeconfig` and fails the test, with kubectl's message, unless
/// it succeeds.
pub fn kubectl_ok(kubeconfig: &Path, args: &[&str]) {
    kubectl_out(kubeconfig, args);
}

/// Runs kubectl, asserting it succeeds; its standard output.
pub fn kubectl_out(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(workspace().join(".tools/bin/kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
