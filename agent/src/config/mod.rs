//! The daemon's settings: a YAML file (`--config`) and `SEXTANT_*` variables (which win),
//! validated once into typed settings. Credentials are only ever file paths, never values.

mod endpoint;
mod forge;
mod registry;
mod repo;
mod sources;
pub use forge::{ForgeAuth, ForgeSettings};
pub use registry::RegistrySettings;
use serde::Deserialize;
use sextant_core::backoff::Backoff;
use sources::{Sourced, Sources};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Where the agent reads the repository from.
#[derive(Debug, Clone, PartialEq)]
pub enum Repo {
    /// A remote, fetched with git (polling and webhooks).
    Git {
        url: String,
        branch: String,
        auth: GitAuth,
    },
    /// A working tree on disk, watched for changes (local mode).
    Local { path: PathBuf },
}

/// How the agent authenticates to the remote: the source crate's own type.
pub use sextant_source::Auth as GitAuth;

#[derive(Debug, Clone, PartialEq)]
pub struct LeaderElection {
    pub enabled: bool,
    /// Each environment has its own Lease, and the replicas share the environments
    /// (`daemon::shard`); otherwise one Lease makes one replica lead them all.
    pub sharded: bool,
    pub lease_name: String,
    pub lease_duration: Duration,
    /// This replica's name in the Lease (the pod name in a cluster).
    pub identity: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
    /// JSON unless standard error is a terminal.
    Auto,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub repo: Repo,
    pub environments: Vec<String>,
    pub poll_interval: Duration,
    pub resync_interval: Duration,
    pub listen_addr: SocketAddr,
    pub webhook_secret_file: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub namespace: String,
    pub leader_election: LeaderElection,
    pub log_format: LogFormat,
    pub helm: Option<PathBuf>,
    pub kube_version: Option<String>,
    pub api_versions: Vec<String>,
    /// The longest one helm invocation may run.
    pub render_timeout: Duration,
    /// `/readyz` fails while an environment's reconcile has run longer than this.
    pub stuck_after: Duration,
    /// Where remote charts are pulled from (`render.chartMirrors` / `SEXTANT_CHART_MIRRORS`).
    pub chart_mirrors: crate::render::mirrors::ChartMirrors,
    /// Where drift pull requests go (`SEXTANT_FORGE_*`); `None`: `pull-request` environments
    /// only report.
    pub forge: Option<ForgeSettings>,
    /// Where promotion verifies image digests.
    pub registry: RegistrySettings,
    /// How a loop waits after failures in a row that retrying can mend (a reconcile the API
    /// server failed, a forge that refused, a revert not made): `retry.base` doubling up to
    /// `retry.max` (`SEXTANT_RETRY_BASE`, `SEXTANT_RETRY_MAX`; 5s and 5m by default).
    pub retry: Backoff,
}

/// The daemon's retry schedule unless the settings say otherwise: 5 s doubling to 5 min.
pub const RETRY: Backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(300));

fn invalid(origin: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        message,
    }
}

/// Every variable the agent reads. Anything else starting with `SEXTANT_` is a typo or a
/// leftover, and is refused at start (Kubernetes' service-link variables aside).
pub const VARIABLES: &[&str] = &[
    "SEXTANT_REPO_URL",
    "SEXTANT_REPO_PATH",
    "SEXTANT_BRANCH",
    "SEXTANT_GIT_TOKEN_FILE",
    "SEXTANT_GIT_USERNAME",
    "SEXTANT_GIT_SSH_KEY_FILE",
    "SEXTANT_GIT_KNOWN_HOSTS_FILE",
    "SEXTANT_GIT_ALLOW_INSECURE_HTTP",
    "SEXTANT_ENVIRONMENTS",
    "SEXTANT_POLL_INTERVAL",
    "SEXTANT_RESYNC_INTERVAL",
    "SEXTANT_STUCK_AFTER",
    "SEXTANT_RETRY_BASE",
    "SEXTANT_RETRY_MAX",
    "SEXTANT_LISTEN_ADDR",
    "SEXTANT_WEBHOOK_SECRET_FILE",
    "SEXTANT_CACHE_DIR",
    "SEXTANT_NAMESPACE",
    "SEXTANT_LEADER_ELECTION",
    "SEXTANT_LEASE_NAME",
    "SEXTANT_SHARDING",
    "SEXTANT_LEASE_DURATION",
    "SEXTANT_POD_NAME",
    "SEXTANT_LOG_FORMAT",
    "SEXTANT_HELM",
    "SEXTANT_KUBE_VERSION",
    "SEXTANT_API_VERSIONS",
    "SEXTANT_RENDER_TIMEOUT",
    "SEXTANT_RENDER_PARALLELISM",
    "SEXTANT_CHART_MIRRORS",
    "SEXTANT_FORGE_API_URL",
    "SEXTANT_FORGE_REPOSITORY",
    "SEXTANT_FORGE_TOKEN_FILE",
    "SEXTANT_FORGE_APP_ID",
    "SEXTANT_FORGE_APP_INSTALLATION_ID",
    "SEXTANT_FORGE_APP_KEY_FILE",
    "SEXTANT_REGISTRY_INSECURE",
    "SEXTANT_REGISTRY_ECR_ENDPOINT",
    "SEXTANT_REGISTRY_CREDENTIALS_FILE",
    "SEXTANT_REGISTRY_TRUST_ROOT",
];

/// Whether a variable is one Kubernetes sets for a Service whose name starts with `sextant`
/// (`SEXTANT_SERVICE_HOST`, `SEXTANT_PORT_8080_TCP_ADDR`, …): not the agent's to refuse.
fn service_link(name: &str) -> bool {
    let parts: Vec<&str> = name.split('_').collect();
    let proto = |p: &str| matches!(p, "TCP" | "UDP" | "SCTP");
    let number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    parts
        .windows(2)
        .any(|w| w == ["SERVICE", "HOST"] || w == ["SERVICE", "PORT"])
        || parts.last() == Some(&"PORT")
        || parts
            .windows(3)
            .any(|w| w[0] == "PORT" && number(w[1]) && proto(w[2]))
}

/// The edit distance of two short names, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Refuses a `SEXTANT_*` variable the agent does not know, with the closest known one.
fn check_variables(env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let mut unknown: Vec<&String> = env
        .keys()
        .filter(|k| k.starts_with("SEXTANT_") && !VARIABLES.contains(&k.as_str()))
        .filter(|k| !service_link(k))
        .collect();
    unknown.sort();
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let closest = VARIABLES
        .iter()
        .map(|v| (distance(first, v), v))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, v)| format!("; did you mean {v}?"))
        .unwrap_or_default();
    Err(ConfigError::Invalid {
        origin: first.to_string(),
        message: format!(
            "unknown setting{closest} (the agent reads only the variables listed in docs/agent.md; unset it to start)"
        ),
    })
}

/// The file's shape (every field optional: variables may supply it).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    repo: Option<repo::RepoFile>,
    environments: Option<Vec<String>>,
    poll_interval: Option<String>,
    resync_interval: Option<String>,
    listen_addr: Option<String>,
    webhook_secret_file: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    namespace: Option<String>,
    leader_election: Option<LeaderFile>,
    log_format: Option<String>,
    render: Option<RenderFile>,
    stuck_after: Option<String>,
    retry: Option<RetryFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    base: Option<String>,
    max: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LeaderFile {
    enabled: Option<bool>,
    sharded: Option<bool>,
    lease_name: Option<String>,
    lease_duration: Option<String>,
    identity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RenderFile {
    helm: Option<PathBuf>,
    kube_version: Option<String>,
    api_versions: Option<Vec<String>>,
    timeout: Option<String>,
    /// Upstream repository URL -> mirror URL.
    chart_mirrors: Option<std::collections::BTreeMap<String, String>>,
}

impl Settings {
    /// Reads the optional file, then the process's `SEXTANT_*` variables, then `overrides`
    /// (command-line flags, as variable names).
    pub fn load(
        file: Option<&Path>,
        overrides: &[(&str, String)],
    ) -> Result<Settings, ConfigError> {
        let text = match file {
            Some(f) => Some((
                f.to_path_buf(),
                std::fs::read_to_string(f).map_err(|source| ConfigError::Read {
                    file: f.to_path_buf(),
                    source,
                })?,
            )),
            None => None,
        };
        let mut env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("SEXTANT_"))
            .collect();
        env.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.clone())));
        Settings::from_sources(text.as_ref().map(|(p, t)| (p.as_path(), t.as_str())), &env)
    }

    /// The pure part of [`Settings::load`]: variables win over the file's fields. Settings are
    /// read, and refused, in the order of their fields.
    pub fn from_sources(
        file: Option<(&Path, &str)>,
        env: &HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        check_variables(env)?;
        let (path, parsed) = parse(file)?;
        let src = Sources { env, path: &path };
        let repo = repo::repo(&src, parsed.repo.unwrap_or_default())?;
        let environments = environments(env, parsed.environments)?;
        let listen_addr = listen_addr(&src, parsed.listen_addr)?;
        let leader_file = parsed.leader_election.unwrap_or_default();
        let leader_enabled = src.flag(
            "SEXTANT_LEADER_ELECTION",
            "leaderElection.enabled",
            leader_file.enabled,
        )?;
        let log_format = log_format(&src, parsed.log_format)?;
        let poll_interval = src.duration(
            "SEXTANT_POLL_INTERVAL",
            "pollInterval",
            parsed.poll_interval,
            Duration::from_secs(60),
        )?;
        let resync_interval = src.duration(
            "SEXTANT_RESYNC_INTERVAL",
            "resyncInterval",
            parsed.resync_interval,
            Duration::from_secs(600),
        )?;
        let leader_election = leader_election(&src, leader_enabled.unwrap_or(true), leader_file)?;
        let render = parsed.render.unwrap_or_default();
        let render_timeout = src.duration(
            "SEXTANT_RENDER_TIMEOUT",
            "render.timeout",
            render.timeout,
            crate::render::helm::DEFAULT_TIMEOUT,
        )?;
        let stuck_after = src.duration(
            "SEXTANT_STUCK_AFTER",
            "stuckAfter",
            parsed.stuck_after,
            Duration::from_secs(15 * 60),
        )?;
        let settings = Settings {
            repo,
            environments,
            poll_interval,
            resync_interval,
            listen_addr,
            webhook_secret_file: src.path(
                "SEXTANT_WEBHOOK_SECRET_FILE",
                "webhookSecretFile",
                parsed.webhook_secret_file,
            ),
            cache_dir: src
                .path("SEXTANT_CACHE_DIR", "cacheDir", parsed.cache_dir)
                .unwrap_or_else(crate::default_cache_dir),
            namespace: src
                .pick("SEXTANT_NAMESPACE", "namespace", parsed.namespace)
                .map_or_else(|| "sextant-system".into(), |s| s.value),
            leader_election,
            log_format,
            helm: src.path("SEXTANT_HELM", "render.helm", render.helm),
            kube_version: src
                .pick(
                    "SEXTANT_KUBE_VERSION",
                    "render.kubeVersion",
                    render.kube_version,
                )
                .map(|s| s.value),
            api_versions: match env.get("SEXTANT_API_VERSIONS").filter(|v| !v.is_empty()) {
                Some(v) => v.split(',').map(|s| s.trim().to_string()).collect(),
                None => render.api_versions.unwrap_or_default(),
            },
            render_timeout,
            stuck_after,
            chart_mirrors: chart_mirrors(env, &path, render.chart_mirrors)?,
            forge: forge::forge(env)?,
            registry: registry::registry(env)?,
            retry: retry(&src, parsed.retry.unwrap_or_default())?,
        };
        settings.check_minimums()?;
        Ok(settings)
    }

    /// Intervals too short to be meant.
    fn check_minimums(&self) -> Result<(), ConfigError> {
        if self.poll_interval < Duration::from_secs(1) {
            return Err(invalid(
                "SEXTANT_POLL_INTERVAL",
                "must be at least 1s".into(),
            ));
        }
        if self.leader_election.lease_duration < Duration::from_secs(2) {
            return Err(invalid(
                "SEXTANT_LEASE_DURATION",
                "must be at least 2s".into(),
            ));
        }
        Ok(())
    }
}

/// The file's fields, and its path for error messages (`(no file)` without one).
fn parse(file: Option<(&Path, &str)>) -> Result<(String, File), ConfigError> {
    match file {
        Some((path, text)) => {
            let parsed: File = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
                file: path.to_path_buf(),
                message: e.to_string(),
            })?;
            Ok((path.display().to_string(), parsed))
        }
        None => Ok(("(no file)".to_string(), File::default())),
    }
}

/// The retry schedule: a base of at least 1s, doubling up to a max no shorter than the base.
fn retry(src: &Sources, file: RetryFile) -> Result<Backoff, ConfigError> {
    let base = src.duration("SEXTANT_RETRY_BASE", "retry.base", file.base, RETRY.base)?;
    let max = src.duration("SEXTANT_RETRY_MAX", "retry.max", file.max, RETRY.cap)?;
    if base < Duration::from_secs(1) {
        return Err(invalid("SEXTANT_RETRY_BASE", "must be at least 1s".into()));
    }
    if max < base {
        return Err(invalid(
            "SEXTANT_RETRY_MAX",
            format!("must be at least the base ({}s)", base.as_secs()),
        ));
    }
    Ok(Backoff::new(base, max))
}

/// `SEXTANT_ENVIRONMENTS` (comma-separated) or the file's list: at least one, each a DNS label.
fn environments(
    env: &HashMap<String, String>,
    from_file: Option<Vec<String>>,
) -> Result<Vec<String>, ConfigError> {
    let environments: Vec<String> = match env.get("SEXTANT_ENVIRONMENTS").filter(|v| !v.is_empty())
    {
        Some(v) => v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => from_file.unwrap_or_default(),
    };
    if let Some(bad) = environments
        .iter()
        .find(|e| !crate::environment::valid_name(e))
    {
        return Err(invalid(
            "SEXTANT_ENVIRONMENTS",
            format!(
                "{bad:?} is not an environment name: a lowercase DNS label such as dev or prod"
            ),
        ));
    }
    if environments.is_empty() {
        return Err(invalid(
            "SEXTANT_ENVIRONMENTS",
            "no environment to reconcile: name at least one (e.g. SEXTANT_ENVIRONMENTS=dev)".into(),
        ));
    }
    Ok(environments)
}

/// Where the HTTP server listens (default 0.0.0.0:8080).
fn listen_addr(src: &Sources, from_file: Option<String>) -> Result<SocketAddr, ConfigError> {
    let listen = src
        .pick("SEXTANT_LISTEN_ADDR", "listenAddr", from_file)
        .unwrap_or(Sourced {
            value: "0.0.0.0:8080".into(),
            origin: "default".into(),
        });
    listen.value.parse().map_err(|_| {
        invalid(
            &listen.origin,
            format!(
                "{:?} is not an address such as 127.0.0.1:8080",
                listen.value
            ),
        )
    })
}

/// The Lease this replica competes for, under its pod name (else the host's name).
fn leader_election(
    src: &Sources,
    enabled: bool,
    file: LeaderFile,
) -> Result<LeaderElection, ConfigError> {
    let sharded = src
        .flag("SEXTANT_SHARDING", "leaderElection.sharded", file.sharded)?
        .unwrap_or(false);
    let identity = src
        .pick("SEXTANT_POD_NAME", "leaderElection.identity", file.identity)
        .map(|s| s.value)
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| format!("sextant-{}", std::process::id()));
    Ok(LeaderElection {
        enabled,
        sharded,
        lease_name: src
            .pick(
                "SEXTANT_LEASE_NAME",
                "leaderElection.leaseName",
                file.lease_name,
            )
            .map_or_else(|| "sextant-leader".into(), |s| s.value),
        lease_duration: src.duration(
            "SEXTANT_LEASE_DURATION",
            "leaderElection.leaseDuration",
            file.lease_duration,
            Duration::from_secs(15),
        )?,
        identity,
    })
}

/// `json`, `pretty` or `auto` (the default).
fn log_format(src: &Sources, from_file: Option<String>) -> Result<LogFormat, ConfigError> {
    let log = src.pick("SEXTANT_LOG_FORMAT", "logFormat", from_file);
    match log.as_ref().map(|s| s.value.as_str()) {
        None | Some("auto") => Ok(LogFormat::Auto),
        Some("json") => Ok(LogFormat::Json),
        Some("pretty") => Ok(LogFormat::Pretty),
        Some(other) => Err(invalid(
            &log.as_ref().map_or(String::new(), |s| s.origin.clone()),
            format!("{other:?} is not json, pretty or auto"),
        )),
    }
}

/// `SEXTANT_CHART_MIRRORS` (`REPOSITORY=MIRROR,…`) wins over the file's `render.chartMirrors`.
fn chart_mirrors(
    env: &HashMap<String, String>,
    path: &str,
    from_file: Option<std::collections::BTreeMap<String, String>>,
) -> Result<crate::render::mirrors::ChartMirrors, ConfigError> {
    use crate::render::mirrors::ChartMirrors;
    match env.get("SEXTANT_CHART_MIRRORS").filter(|v| !v.is_empty()) {
        Some(v) => ChartMirrors::parse(v).map_err(|e| ConfigError::Invalid {
            origin: "SEXTANT_CHART_MIRRORS".into(),
            message: e.to_string(),
        }),
        None => ChartMirrors::new(
            from_file
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map_err(|e| ConfigError::Invalid {
            origin: format!("{path}: field `render.chartMirrors`"),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables a test sets, as the process's environment would give them (the settings
    /// tests of every module of config use it).
    pub(super) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn variables_alone_are_enough_and_defaults_fill_the_rest() {
        let s = Settings::from_sources(
            None,
            &env(&[
                ("SEXTANT_REPO_URL", "git://127.0.0.1/repo.git"),
                ("SEXTANT_ENVIRONMENTS", "dev, prod"),
                ("SEXTANT_POLL_INTERVAL", "30s"),
                ("SEXTANT_LISTEN_ADDR", "127.0.0.1:9090"),
            ]),
        )
        .unwrap();
        assert_eq!(s.environments, ["dev", "prod"]);
        assert_eq!(s.poll_interval, Duration::from_secs(30));
        assert_eq!(s.listen_addr.to_string(), "127.0.0.1:9090");
        assert_eq!(
            s.repo,
            Repo::Git {
                url: "git://127.0.0.1/repo.git".into(),
                branch: "main".into(),
                auth: GitAuth::None
            }
        );
        assert_eq!(s.resync_interval, Duration::from_secs(600));
        assert!(s.leader_election.enabled);
    }

    #[test]
    fn the_retry_schedule_is_5s_to_5m_unless_set_and_refused_when_it_makes_no_sense() {
        let s = Duration::from_secs;
        type Vars = Vec<(&'static str, &'static str)>;
        type Want = Result<(Duration, Duration), &'static str>;
        // (file, variables, the schedule or the error's origin and message)
        let table: Vec<(&str, Vars, Want)> = vec![
            ("", vec![], Ok((s(5), s(300)))),
            ("retry:\n  base: 2s\n  max: 1m\n", vec![], Ok((s(2), s(60)))),
            (
                "retry:\n  base: 2s\n",
                vec![("SEXTANT_RETRY_BASE", "1s")],
                Ok((s(1), s(300))),
            ),
            (
                "",
                vec![("SEXTANT_RETRY_BASE", "0s")],
                Err("SEXTANT_RETRY_BASE: must be at least 1s"),
            ),
            (
                "",
                vec![("SEXTANT_RETRY_BASE", "1m"), ("SEXTANT_RETRY_MAX", "30s")],
                Err("SEXTANT_RETRY_MAX: must be at least the base (60s)"),
            ),
            (
                "retry:\n  max: soon\n",
                vec![],
                Err("c.yaml: field `retry.max`: \"soon\" is not a duration"),
            ),
            (
                "retry:\n  maximum: 1m\n",
                vec![],
                Err("unknown field `maximum`"),
            ),
        ];
        for (file, vars, want) in table {
            let mut vars = vars;
            vars.extend([
                ("SEXTANT_REPO_PATH", "/repo"),
                ("SEXTANT_ENVIRONMENTS", "dev"),
            ]);
            let got = Settings::from_sources(Some((Path::new("c.yaml"), file)), &env(&vars));
            match (got, want) {
                (Ok(settings), Ok((base, cap))) => {
                    assert_eq!(settings.retry, Backoff::new(base, cap), "{file:?} {vars:?}")
                }
                (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{e}"),
                (got, want) => panic!("{file:?} {vars:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn variables_win_over_the_file() {
        let file = "repo:\n  url: https://example.com/a.git\n  branch: release\n  auth:\n    tokenFile: /etc/token\nenvironments: [dev]\npollInterval: 2m\n";
        let s = Settings::from_sources(
            Some((Path::new("c.yaml"), file)),
            &env(&[("SEXTANT_BRANCH", "main")]),
        )
        .unwrap();
        assert_eq!(s.poll_interval, Duration::from_secs(120));
        match s.repo {
            Repo::Git { branch, auth, .. } => {
                assert_eq!(branch, "main");
                assert_eq!(
                    auth,
                    GitAuth::Token {
                        username: "git".into(),
                        token_file: "/etc/token".into()
                    }
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_settings_name_where_they_came_from() {
        let e = Settings::from_sources(
            Some((
                Path::new("c.yaml"),
                "environments: [dev]\nrepo: {url: x}\npollInterval: soon\n",
            )),
            &env(&[]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.yaml: field `pollInterval`: \"soon\" is not a duration such as 30s, 5m or 1h"
        );
        let e = Settings::from_sources(None, &env(&[("SEXTANT_REPO_URL", "x")])).unwrap_err();
        assert!(e.to_string().starts_with("SEXTANT_ENVIRONMENTS:"), "{e}");
        let e = Settings::from_sources(Some((Path::new("c.yaml"), "unknown: 1\n")), &env(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = Settings::from_sources(
            None,
            &env(&[
                ("SEXTANT_REPO_URL", "https://u:secret@h/r.git"),
                ("SEXTANT_ENVIRONMENTS", "dev"),
            ]),
        )
        .unwrap_err();
        assert!(
            !e.to_string().contains("secret"),
            "never echo credentials: {e}"
        );
        let e = Settings::from_sources(
            None,
            &env(&[
                ("SEXTANT_REPO_URL", "git@h:r.git"),
                ("SEXTANT_ENVIRONMENTS", "dev"),
                ("SEXTANT_GIT_SSH_KEY_FILE", "/k"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("known_hosts"), "{e}");
    }

    fn base(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut e = env(&[
            ("SEXTANT_REPO_URL", "git://127.0.0.1/repo.git"),
            ("SEXTANT_ENVIRONMENTS", "dev"),
        ]);
        e.extend(env(extra));
        e
    }

    #[test]
    fn an_unknown_variable_is_refused_with_the_closest_known_one() {
        let e =
            Settings::from_sources(None, &base(&[("SEXTANT_POLL_INTERVALL", "30s")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SEXTANT_POLL_INTERVALL: unknown setting; did you mean SEXTANT_POLL_INTERVAL? (the agent reads only the variables listed in docs/agent.md; unset it to start)"
        );
        // What Kubernetes injects for a Service named `sextant` or `sextant-metrics`.
        for link in [
            "SEXTANT_SERVICE_HOST",
            "SEXTANT_SERVICE_PORT",
            "SEXTANT_SERVICE_PORT_HTTP",
            "SEXTANT_PORT",
            "SEXTANT_PORT_8080_TCP",
            "SEXTANT_PORT_8080_TCP_ADDR",
            "SEXTANT_METRICS_SERVICE_HOST",
        ] {
            assert!(
                Settings::from_sources(None, &base(&[(link, "x")])).is_ok(),
                "{link}"
            );
        }
    }

    #[test]
    fn credentials_in_any_scheme_of_url_are_refused_without_echoing_them() {
        for url in [
            "HTTPS://tok3n@github.com/o/r.git",
            "https://u:s3cret@github.com/o/r.git",
            "ssh://git:s3cret@github.com/o/r.git",
            "git://u:s3cret@127.0.0.1/r.git",
        ] {
            let e = Settings::from_sources(None, &base(&[("SEXTANT_REPO_URL", url)]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("credentials do not belong in the URL"),
                "{url}: {e}"
            );
            assert!(!e.contains("s3cret") && !e.contains("tok3n"), "{e}");
        }
        for fine in ["ssh://git@github.com/o/r.git", "git@github.com:o/r.git"] {
            assert!(
                Settings::from_sources(None, &base(&[("SEXTANT_REPO_URL", fine)])).is_ok(),
                "{fine}"
            );
        }
    }

    #[test]
    fn a_token_over_plain_http_needs_an_explicit_yes() {
        let token = [
            ("SEXTANT_REPO_URL", "http://git.internal/r.git"),
            ("SEXTANT_GIT_TOKEN_FILE", "/etc/token"),
        ];
        let e = Settings::from_sources(None, &base(&token)).unwrap_err();
        assert!(e.to_string().contains("clear text over http://"), "{e}");
        let mut allowed = token.to_vec();
        allowed.push(("SEXTANT_GIT_ALLOW_INSECURE_HTTP", "true"));
        assert!(Settings::from_sources(None, &base(&allowed)).is_ok());
        assert!(Settings::from_sources(
            None,
            &base(&[("SEXTANT_REPO_URL", "http://git.internal/r.git")])
        )
        .is_ok());
    }

    #[test]
    fn environment_names_are_dns_labels_and_the_render_timeout_is_a_duration() {
        let e = Settings::from_sources(None, &base(&[("SEXTANT_ENVIRONMENTS", "dev,../x")]))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"../x\" is not an environment name"),
            "{e}"
        );
        let s = Settings::from_sources(None, &base(&[("SEXTANT_RENDER_TIMEOUT", "5s")])).unwrap();
        assert_eq!(s.render_timeout, Duration::from_secs(5));
        assert_eq!(
            Settings::from_sources(None, &base(&[]))
                .unwrap()
                .render_timeout,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn chart_mirrors_come_from_the_file_and_the_variable_wins() {
        let file = "repo: {path: /r}\nenvironments: [dev]\nrender:\n  chartMirrors:\n    https://charts.example.com: http://127.0.0.1:1/m\n";
        let s = Settings::from_sources(Some((Path::new("c.yaml"), file)), &HashMap::new()).unwrap();
        assert_eq!(
            s.chart_mirrors
                .resolve("https://charts.example.com")
                .location
                .to_string(),
            "http://127.0.0.1:1/m"
        );
        let env: HashMap<String, String> = [(
            "SEXTANT_CHART_MIRRORS".to_string(),
            "https://charts.example.com=oci+http://127.0.0.1:2/m".to_string(),
        )]
        .into();
        let s = Settings::from_sources(Some((Path::new("c.yaml"), file)), &env).unwrap();
        assert_eq!(
            s.chart_mirrors
                .resolve("https://charts.example.com")
                .location
                .to_string(),
            "oci://127.0.0.1:2/m (plain HTTP)"
        );
        let bad = file.replace("http://127.0.0.1:1/m", "ftp://x");
        let err = Settings::from_sources(Some((Path::new("c.yaml"), &bad)), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.yaml: field `render.chartMirrors`"), "{err}");
    }
}
