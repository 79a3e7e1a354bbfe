//! The edge to the `helm` binary: finding it, asking its version, `helm template`, `helm pull`.
//! Every invocation is bounded: helm runs in its own process group, with its own cache and
//! config folders (never `~/.kube` or the user's helm settings), and the whole group is killed on
//! timeout, on agent shutdown, and — through the parent-death signal — if the agent itself dies.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long one helm invocation may run unless configured (`render.timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why helm could not do what was asked. The caller adds which environment and release.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error(
        "helm not found (looked in: {searched}); run `make tools`, or pass --helm / SEXTANT_HELM"
    )]
    NotFound { searched: String },
    #[error("cannot run {bin}: {source}")]
    Exec {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
    #[error("helm did not finish within {after:?} and was killed (render.timeout / SEXTANT_RENDER_TIMEOUT)")]
    Timeout { after: Duration },
    #[error("helm was stopped: the agent is shutting down")]
    ShuttingDown,
}

/// Arguments of one `helm template` call.
#[derive(Debug, Clone)]
pub struct TemplateArgs<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    pub chart_dir: &'a Path,
    pub values_files: &'a [PathBuf],
    /// Values given in memory instead of a file, at a place in `values_files`' order (index
    /// `i` replaces `values_files[i]`): decrypted SOPS values, which reach helm through a pipe
    /// (`--values /dev/fd/N`) and never touch a disk.
    pub piped: &'a [(usize, zeroize::Zeroizing<Vec<u8>>)],
    pub kube_version: Option<&'a str>,
    pub api_versions: &'a [String],
}

#[derive(Debug, Clone)]
pub struct Helm {
    pub bin: PathBuf,
    /// The longest one invocation may run.
    pub timeout: Duration,
    /// helm's own folders (cache, config, data, and its `HOME`); `None` leaves helm's defaults.
    pub home: Option<PathBuf>,
}

/// The process groups of the helm invocations running now; `None` once the agent shuts down
/// (then no new one starts).
static RUNNING: Mutex<Option<BTreeSet<i32>>> = Mutex::new(Some(BTreeSet::new()));

fn running() -> std::sync::MutexGuard<'static, Option<BTreeSet<i32>>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Kills every running helm invocation with its process group and refuses new ones: the
/// agent's shutdown. Returns how many were killed.
pub fn shutdown() -> usize {
    let groups = running().take().unwrap_or_default();
    for pgid in &groups {
        kill_group(*pgid);
    }
    groups.len()
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Unregisters a running invocation when it ends, however it ends.
struct Registered(i32);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(set) = running().as_mut() {
            set.remove(&self.0);
        }
    }
}

/// A signal's conventional name, for "killed by signal 9 (SIGKILL)".
fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        _ => "a signal",
    }
}

/// Why a finished helm failed: its standard error, or, when it printed none, how it ended.
fn failure(status: ExitStatus, stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr).trim().to_string();
    if !stderr.is_empty() {
        return stderr;
    }
    match (status.signal(), status.code()) {
        (Some(s), _) => format!(
            "helm was killed by signal {s} ({}) and printed nothing",
            signal_name(s)
        ),
        (None, Some(c)) => format!("helm exited with code {c} and printed nothing"),
        (None, None) => "helm failed and printed nothing".into(),
    }
}

impl Helm {
    /// The binary at `bin`, with the default timeout and helm's own folders.
    pub fn new(bin: impl Into<PathBuf>) -> Helm {
        Helm {
            bin: bin.into(),
            timeout: DEFAULT_TIMEOUT,
            home: None,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Helm {
        self.timeout = timeout;
        self
    }

    /// Gives helm its own `HOME` and cache, config and data folders under `home`.
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Helm {
        self.home = Some(home.into());
        self
    }

    /// Finds helm: the explicit path (`--helm`/`SEXTANT_HELM`), then `.tools/bin/helm` in the
    /// repository and in the current folder, then `PATH`.
    pub fn locate(explicit: Option<&Path>, repo: &Path) -> Result<Helm, HelmError> {
        if let Some(p) = explicit {
            return if p.is_file() {
                Ok(Helm::new(p))
            } else {
                Err(HelmError::NotFound {
                    searched: p.display().to_string(),
                })
            };
        }
        let mut candidates = vec![
            repo.join(".tools/bin/helm"),
            PathBuf::from(".tools/bin/helm"),
        ];
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|d| d.join("helm")));
        }
        candidates
            .iter()
            .find(|c| c.is_file())
            .map(Helm::new)
            .ok_or_else(|| HelmError::NotFound {
                searched: candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// helm's environment: only what it needs. No `KUBECONFIG`, no user `HOME`: `helm template`
    /// never talks to a cluster, and the user's repositories and registry logins are not the
    /// agent's.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        if let Some(home) = &self.home {
            cmd.env_clear();
            for var in [
                "PATH",
                "HTTPS_PROXY",
                "HTTP_PROXY",
                "NO_PROXY",
                "https_proxy",
                "http_proxy",
                "no_proxy",
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                "TMPDIR",
            ] {
                if let Some(v) = std::env::var_os(var) {
                    cmd.env(var, v);
                }
            }
            cmd.env("HOME", home)
                .env("HELM_CACHE_HOME", home.join("cache"))
                .env("HELM_CONFIG_HOME", home.join("config"))
                .env("HELM_DATA_HOME", home.join("data"))
                .env("KUBECONFIG", "/dev/null");
        }
        cmd
    }

    fn run(&self, args: &[&OsStr]) -> Result<String, HelmError> {
        self.run_with(args, &[])
    }

    /// Runs helm with `inputs` readable as `/dev/fd/3`, `/dev/fd/4`, … (pipes, written by a
    /// thread each while helm reads them).
    fn run_with(
        &self,
        args: &[&OsStr],
        inputs: &[&zeroize::Zeroizing<Vec<u8>>],
    ) -> Result<String, HelmError> {
        let exec = |source| HelmError::Exec {
            bin: self.bin.clone(),
            source,
        };
        let mut cmd = self.command();
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl(2) is async-signal-safe; it only asks the kernel to kill the child when
        // the thread that started it dies, so a killed agent leaves no helm behind.
        let pipes = super::pipes::Pipes::new(inputs.len()).map_err(exec)?;
        let reads = pipes.read_fds();
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                super::pipes::install(&reads)
            });
        }
        let mut child = {
            let mut set = running();
            let Some(set) = set.as_mut() else {
                return Err(HelmError::ShuttingDown);
            };
            let child = cmd.spawn().map_err(exec)?;
            set.insert(child.id() as i32);
            child
        };
        let _registered = Registered(child.id() as i32);
        let writers = pipes.feed(inputs);
        let pgid = child.id() as i32;
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let read_out = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut b);
            }
            b
        });
        let read_err = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut b);
            }
            b
        });
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let status = child.wait();
            let _ = done_tx.send(());
            status
        });
        let timed_out = done_rx.recv_timeout(self.timeout).is_err();
        if timed_out {
            kill_group(pgid);
        }
        let status = waiter
            .join()
            .map_err(|_| HelmError::Failed("helm's waiter thread panicked".into()))?
            .map_err(exec)?;
        let out = read_out.join().unwrap_or_default();
        let err = read_err.join().unwrap_or_default();
        for w in writers {
            let _ = w.join();
        }
        if timed_out {
            return Err(HelmError::Timeout {
                after: self.timeout,
            });
        }
        if running().is_none() && !status.success() {
            return Err(HelmError::ShuttingDown);
        }
        if status.success() {
            Ok(String::from_utf8_lossy(&out).into_owned())
        } else {
            Err(HelmError::Failed(failure(status, &err)))
        }
    }

    /// `helm version`, e.g. `v4.1.4`.
    pub fn version(&self) -> Result<String, HelmError> {
        Ok(self
            .run(&[
                "version".as_ref(),
                "--template".as_ref(),
                "{{.Version}}".as_ref(),
            ])?
            .trim()
            .to_string())
    }

    /// `helm template` of one release, CRDs included; returns the multi-document YAML.
    pub fn template(&self, a: &TemplateArgs<'_>) -> Result<String, HelmError> {
        let mut args: Vec<&OsStr> = vec![
            "template".as_ref(),
            a.release.as_ref(),
            a.chart_dir.as_os_str(),
            "--namespace".as_ref(),
            a.namespace.as_ref(),
            "--include-crds".as_ref(),
        ];
        let fds: Vec<std::ffi::OsString> = (0..a.piped.len())
            .map(|i| super::pipes::path(i).into())
            .collect();
        for (i, f) in a.values_files.iter().enumerate() {
            let arg = match a.piped.iter().position(|(at, _)| *at == i) {
                Some(n) => fds[n].as_os_str(),
                None => f.as_os_str(),
            };
            args.extend([OsStr::new("--values"), arg]);
        }
        if let Some(v) = a.kube_version {
            args.extend([OsStr::new("--kube-version"), OsStr::new(v)]);
        }
        for v in a.api_versions {
            args.extend([OsStr::new("--api-versions"), OsStr::new(v)]);
        }
        let inputs: Vec<&zeroize::Zeroizing<Vec<u8>>> = a.piped.iter().map(|(_, b)| b).collect();
        self.run_with(&args, &inputs)
    }

    /// `helm pull` of an exact chart version from a Helm repository or an OCI registry (over
    /// plain HTTP when the location says so), unpacked under `dest`.
    pub fn pull(
        &self,
        from: &super::mirrors::Location,
        name: &str,
        version: &str,
        dest: &Path,
    ) -> Result<(), HelmError> {
        use super::mirrors::Location;
        let oci_ref;
        let mut args: Vec<&OsStr> = vec!["pull".as_ref()];
        match from {
            Location::Oci { url, plain_http } => {
                oci_ref = format!("{url}/{name}");
                args.push(oci_ref.as_ref());
                if *plain_http {
                    args.push("--plain-http".as_ref());
                }
            }
            Location::HelmRepository { url } => {
                args.extend([OsStr::new(name), OsStr::new("--repo"), OsStr::new(url)]);
            }
        }
        args.extend([
            "--version".as_ref(),
            version.as_ref(),
            "--untar".as_ref(),
            "--untardir".as_ref(),
            dest.as_os_str(),
        ]);
        self.run(&args).map(|_| ())
    }
}
