//! The Environment model (`environments/<env>/environment.yaml`): parsing, JSON Schema and
//! semantic validation. Every error names the file and the field a human has to fix.

use crate::yaml;

mod contain;
pub mod promoted;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The JSON Schema of `environment.yaml`, also published as `docs/environment.schema.json`.
pub const SCHEMA: &str = include_str!("../../../../docs/environment.schema.json");
pub const ENVIRONMENTS_DIR: &str = "environments";
pub const FILE_NAME: &str = "environment.yaml";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown environment {name:?}: {file} does not exist (known environments: {known})")]
    Unknown {
        name: String,
        file: PathBuf,
        known: String,
    },
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file} is {size} bytes, over the {limit} bytes a file of the repository may have; the agent left it out of the checkout and cannot render {environment} without it. Make the file smaller, or move what is large out of the environment's charts and values")]
    TooLarge {
        environment: String,
        file: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{file}: invalid YAML: {error}")]
    Syntax {
        file: PathBuf,
        error: yaml::YamlError,
    },
    #[error("{file}: field `{field}`: {message}")]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A sync-wave: lower waves are applied, and must be healthy, before higher ones.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Wave(pub i32);

impl fmt::Display for Wave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftPolicy {
    /// Re-apply Git's state as soon as drift is seen (Argo CD's self-heal).
    Heal,
    /// Open a pull request that maps the live change back to the values file.
    PullRequest,
    /// Only report drift in status and metrics.
    #[default]
    Report,
}

impl DriftPolicy {
    /// As written in an environment file.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftPolicy::Heal => "heal",
            DriftPolicy::PullRequest => "pull-request",
            DriftPolicy::Report => "report",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromotionMode {
    #[default]
    PullRequest,
    Commit,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Drift {
    #[serde(default)]
    pub policy: DriftPolicy,
    /// Fields that are never drift.
    #[serde(default)]
    pub ignore: Vec<IgnoreRule>,
    /// Field managers whose changes are never drift.
    #[serde(default)]
    pub ignore_managers: Vec<String>,
    /// How drift pull requests are opened (policy `pull-request`).
    #[serde(default)]
    pub pull_request: PullRequestSettings,
}

/// `drift.pullRequest`: how long a drift must hold before its pull request opens, and who sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestSettings {
    /// A duration (`2m`, `0s`): a `kubectl edit` undone within it is not a pull request.
    #[serde(default = "default_pr_delay")]
    pub delay: String,
    /// Labels besides `sextant-drift`.
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub reviewers: Vec<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
}

fn default_pr_delay() -> String {
    "2m".into()
}

impl Default for PullRequestSettings {
    fn default() -> Self {
        PullRequestSettings {
            delay: default_pr_delay(),
            labels: Vec::new(),
            reviewers: Vec::new(),
            assignees: Vec::new(),
        }
    }
}

/// A release's own drift settings, over its environment's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseDrift {
    pub policy: Option<DriftPolicy>,
    #[serde(default)]
    pub ignore: Vec<IgnoreRule>,
}

/// `{group?, kind?, namespace?, name?, paths}`: JSON pointers that are never drift in the
/// objects every given selector matches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreRule {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub paths: Vec<String>,
}

/// `spec.promotion`: which image digests this environment takes from another one, once that one
/// ran them healthily for `soak` (docs/promotion.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Promotion {
    pub from: String,
    #[serde(default)]
    pub mode: PromotionMode,
    #[serde(default = "default_soak")]
    pub soak: String,
    #[serde(default = "default_platform")]
    pub platform: String,
    #[serde(default)]
    pub images: Vec<PromotedImage>,
    #[serde(default)]
    pub checks: Vec<Check>,
}

fn default_soak() -> String {
    "10m".into()
}

fn default_platform() -> String {
    "linux/amd64".into()
}

impl Promotion {
    /// `soak` as a duration (validated at load).
    pub fn soak(&self) -> std::time::Duration {
        crate::duration::parse(&self.soak).unwrap_or(std::time::Duration::from_secs(600))
    }

    pub fn image(&self, release: &str) -> Option<&PromotedImage> {
        self.images.iter().find(|i| i.release == release)
    }
}

/// One release's image: where its digest lives in the values, and where it is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromotedImage {
    pub release: String,
    /// The values key holding the digest, dotted (`image.digest`).
    pub path: String,
    /// A values key holding the tag for humans, copied with the digest (`image.tag`).
    pub tag_path: Option<String>,
    pub repository: String,
}

/// A check the source environment must pass throughout the soak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Check {
    pub http: HttpCheck,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    /// Text the body must contain; without it any 2xx passes.
    pub expect: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncOptions {
    #[serde(default = "yes")]
    pub create_namespace: bool,
    #[serde(default = "yes")]
    pub prune: bool,
    #[serde(default)]
    pub force_conflicts: bool,
    #[serde(default = "default_wave_timeout")]
    pub wave_timeout: String,
    /// The largest share of the environment's objects one revision may prune, e.g. `50%`.
    #[serde(default = "default_prune_limit")]
    pub prune_limit: String,
    /// Prune whatever left Git, however much: the operator's yes to a mass prune.
    #[serde(default)]
    pub allow_mass_prune: bool,
    /// The longest one sync of the environment may take, waves and prune included.
    #[serde(default = "default_sync_timeout")]
    pub timeout: String,
}

fn default_sync_timeout() -> String {
    "30m".into()
}

fn default_prune_limit() -> String {
    "50%".into()
}

impl SyncOptions {
    /// `prune_limit` as a percentage (validated at load).
    pub fn prune_limit_percent(&self) -> u32 {
        parse_percent(&self.prune_limit).unwrap_or(50)
    }
}

/// `50%` → 50; percentages from 0 to 100.
fn parse_percent(s: &str) -> Option<u32> {
    s.strip_suffix('%')?.parse().ok().filter(|p| *p <= 100)
}

fn yes() -> bool {
    true
}

fn default_wave_timeout() -> String {
    "5m".into()
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            create_namespace: true,
            prune: true,
            force_conflicts: false,
            wave_timeout: default_wave_timeout(),
            prune_limit: default_prune_limit(),
            allow_mass_prune: false,
            timeout: default_sync_timeout(),
        }
    }
}

/// Where a release's chart comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Chart {
    /// A chart folder, relative to the repository root.
    Local(PathBuf),
    /// A chart in a classic Helm repository (`https://…`) or an OCI registry (`oci://…`),
    /// always at an exact version so that it can be cached.
    Remote {
        repository: String,
        name: String,
        version: String,
    },
}

impl fmt::Display for Chart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chart::Local(p) => write!(f, "{}", p.display()),
            Chart::Remote {
                repository,
                name,
                version,
            } => write!(f, "{repository}/{name}@{version}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum ChartSpec {
    Path(String),
    Remote {
        repository: String,
        name: String,
        version: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReleaseSpec {
    name: String,
    namespace: String,
    chart: ChartSpec,
    version: Option<String>,
    #[serde(default)]
    wave: Wave,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    drift: ReleaseDrift,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpecFile {
    #[serde(default)]
    releases: Vec<ReleaseSpec>,
    #[serde(default)]
    drift: Drift,
    promotion: Option<Promotion>,
    #[serde(default)]
    sync: SyncOptions,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct MetadataFile {
    name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentFile {
    metadata: MetadataFile,
    spec: SpecFile,
}

/// One release of an environment, with its paths resolved and checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub chart: Chart,
    pub wave: Wave,
    /// Values files, absolute, in the order they are applied.
    pub values: Vec<PathBuf>,
    /// Its own drift settings, over the environment's.
    pub drift: ReleaseDrift,
}

/// A validated environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    pub name: String,
    /// The repository root, which local chart paths are relative to.
    pub repo: PathBuf,
    /// The environment's folder.
    pub dir: PathBuf,
    /// Its `environment.yaml`.
    pub file: PathBuf,
    pub releases: Vec<Release>,
    pub drift: Drift,
    pub promotion: Option<Promotion>,
    pub sync: SyncOptions,
}

impl Environment {
    pub fn release(&self, name: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.name == name)
    }

    /// The drift policy of a release: its own, else the environment's.
    pub fn drift_policy(&self, release: &str) -> DriftPolicy {
        self.release(release)
            .and_then(|r| r.drift.policy)
            .unwrap_or(self.drift.policy)
    }
}

/// The environments of a repository: the folders under `environments/` holding an
/// `environment.yaml`, sorted by name.
pub fn list(repo: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo.join(ENVIRONMENTS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(FILE_NAME).is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Whether `name` can name an environment: a DNS label, as `metadata.name` must be. It is also
/// a folder name, so this keeps `--env ../x` and `SEXTANT_ENVIRONMENTS=/etc` out.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Loads and validates `environments/<name>/environment.yaml` of `repo`. Every file it names
/// must resolve, symlinks included, inside `repo`.
pub fn load(repo: &Path, name: &str) -> Result<Environment> {
    let dir = repo.join(ENVIRONMENTS_DIR).join(name);
    let file = dir.join(FILE_NAME);
    let known = list(repo);
    if !valid_name(name) {
        return Err(Error::Invalid {
            file: repo.join(ENVIRONMENTS_DIR),
            field: "environment name".into(),
            message: format!(
                "{name:?} is not an environment name: a lowercase DNS label such as dev or prod (known environments: {})",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            ),
        });
    }
    if !file.is_file() {
        return Err(Error::Unknown {
            name: name.to_string(),
            file,
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    }
    contain::inside(repo, &file).map_err(|message| Error::Invalid {
        file: file.clone(),
        field: "(file)".into(),
        message,
    })?;
    // Before parsing: a values file left out would otherwise read as missing.
    if let Some(e) = too_large(repo, name, &file, &[], std::slice::from_ref(&dir)) {
        return Err(e);
    }
    let text = yaml::read_text(&file).map_err(|source| Error::Read {
        file: file.clone(),
        source,
    })?;
    let env = parse(repo, &dir, &file, &text, &known)?;
    let values: Vec<PathBuf> = env
        .releases
        .iter()
        .flat_map(|r| r.values.iter().cloned())
        .collect();
    let charts: Vec<PathBuf> = env
        .releases
        .iter()
        .filter_map(|r| match &r.chart {
            Chart::Local(p) => Some(repo.join(p)),
            Chart::Remote { .. } => None,
        })
        .collect();
    match too_large(repo, name, &file, &values, &charts) {
        Some(e) => Err(e),
        None => Ok(env),
    }
}

/// The first file the environment reads (its file, a values file, anything in its folder or a
/// local chart) that the snapshot left out as too large ([`crate::snapshot::omitted`]).
fn too_large(
    repo: &Path,
    environment: &str,
    file: &Path,
    values: &[PathBuf],
    charts: &[PathBuf],
) -> Option<Error> {
    crate::snapshot::omitted(repo)
        .into_iter()
        .find_map(|(path, size)| {
            let omitted = repo.join(&path);
            let read = omitted == file
                || values.contains(&omitted)
                || charts.iter().any(|c| omitted.starts_with(c));
            read.then(|| Error::TooLarge {
                environment: environment.to_string(),
                file: omitted,
                size,
                limit: crate::snapshot::MAX_FILE_BYTES,
            })
        })
}

/// Validates the text of an environment file. `known` lists the repository's environments, for
/// checking `spec.promotion.from`.
pub fn parse(
    repo: &Path,
    dir: &Path,
    file: &Path,
    text: &str,
    known: &[String],
) -> Result<Environment> {
    let invalid = |field: &str, message: String| Error::Invalid {
        file: file.to_path_buf(),
        field: field.to_string(),
        message,
    };
    let doc = yaml::parse(text).map_err(|error| match error.out_of_range() {
        Some((field, message)) => invalid(&field, message),
        None => Error::Syntax {
            file: file.to_path_buf(),
            error,
        },
    })?;
    check_schema(&doc).map_err(|(field, message)| invalid(&field, message))?;
    let parsed: EnvironmentFile =
        serde_json::from_value(doc).map_err(|e| invalid("spec", e.to_string()))?;

    let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if parsed.metadata.name != folder {
        return Err(invalid(
            "metadata.name",
            format!(
                "{:?} must match the environment's folder name {folder:?}",
                parsed.metadata.name
            ),
        ));
    }

    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut releases = Vec::with_capacity(parsed.spec.releases.len());
    for (i, r) in parsed.spec.releases.iter().enumerate() {
        let at = format!("spec.releases[{i}]");
        if let Some(first) = seen.insert(&r.name, i) {
            return Err(invalid(
                &format!("{at}.name"),
                format!(
                    "duplicate release name {:?} (first declared at spec.releases[{first}])",
                    r.name
                ),
            ));
        }
        let chart = resolve_chart(repo, &r.chart, r.version.as_deref())
            .map_err(|m| invalid(&format!("{at}.chart"), m))?;
        let mut values = Vec::with_capacity(r.values.len());
        for (j, v) in r.values.iter().enumerate() {
            let path = contain::values_file(repo, dir, v)
                .map_err(|m| invalid(&format!("{at}.values[{j}]"), m))?;
            values.push(path);
        }
        releases.push(Release {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            chart,
            wave: r.wave,
            values,
            drift: r.drift.clone(),
        });
    }

    if let Some(p) = &parsed.spec.promotion {
        promoted::check(p, &releases).map_err(|(field, message)| invalid(&field, message))?;
        if p.from == parsed.metadata.name {
            return Err(invalid(
                "spec.promotion.from",
                "an environment cannot promote from itself".into(),
            ));
        }
        if !known.iter().any(|k| k == &p.from) {
            return Err(invalid(
                "spec.promotion.from",
                format!(
                    "environment {:?} does not exist (known environments: {})",
                    p.from,
                    known.join(", ")
                ),
            ));
        }
    }
    if parse_percent(&parsed.spec.sync.prune_limit).is_none() {
        return Err(invalid(
            "spec.sync.pruneLimit",
            format!(
                "{:?} is not a percentage from 0% to 100%",
                parsed.spec.sync.prune_limit
            ),
        ));
    }
    if crate::duration::parse(&parsed.spec.drift.pull_request.delay).is_none() {
        return Err(invalid(
            "spec.drift.pullRequest.delay",
            format!(
                "{:?} is not a duration such as 2m or 0s",
                parsed.spec.drift.pull_request.delay
            ),
        ));
    }
    if crate::duration::parse(&parsed.spec.sync.timeout).is_none() {
        return Err(invalid(
            "spec.sync.timeout",
            format!(
                "{:?} is not a duration such as 10m or 1h",
                parsed.spec.sync.timeout
            ),
        ));
    }
    if crate::duration::parse(&parsed.spec.sync.wave_timeout).is_none() {
        return Err(invalid(
            "spec.sync.waveTimeout",
            format!(
                "{:?} is not a duration such as 90s or 5m",
                parsed.spec.sync.wave_timeout
            ),
        ));
    }

    Ok(Environment {
        name: parsed.metadata.name,
        repo: repo.to_path_buf(),
        dir: dir.to_path_buf(),
        file: file.to_path_buf(),
        releases,
        drift: parsed.spec.drift,
        promotion: parsed.spec.promotion,
        sync: parsed.spec.sync,
    })
}

fn resolve_chart(
    repo: &Path,
    spec: &ChartSpec,
    version: Option<&str>,
) -> std::result::Result<Chart, String> {
    match spec {
        ChartSpec::Remote {
            repository,
            name,
            version,
        } => Ok(Chart::Remote {
            repository: repository.trim_end_matches('/').to_string(),
            name: name.clone(),
            version: version.clone(),
        }),
        ChartSpec::Path(s) if s.starts_with("oci://") => {
            let version = version.ok_or_else(|| {
                format!(
                    "{s:?} is an OCI chart: set the release's `version` to an exact chart version"
                )
            })?;
            let (repository, name) = s
                .trim_end_matches('/')
                .rsplit_once('/')
                .filter(|(r, n)| !n.is_empty() && r.len() > "oci:/".len())
                .ok_or_else(|| {
                    format!("{s:?} is not an OCI chart reference such as oci://registry/path/chart")
                })?;
            Ok(Chart::Remote {
                repository: repository.to_string(),
                name: name.to_string(),
                version: version.to_string(),
            })
        }
        ChartSpec::Path(s) if s.contains("://") => Err(format!(
            "{s:?}: a chart in a Helm repository is written as {{repository, name, version}}"
        )),
        ChartSpec::Path(s) => contain::chart_dir(repo, s).map(Chart::Local),
    }
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the embedded schema is JSON");
        jsonschema::validator_for(&schema).expect("the embedded schema is a valid JSON Schema")
    })
}

/// Checks a document against the schema; on failure returns (field, message) of the first
/// error, the field written as `spec.releases[0].wave`.
fn check_schema(doc: &Value) -> std::result::Result<(), (String, String)> {
    let Some(error) = validator().iter_errors(doc).next() else {
        return Ok(());
    };
    let pointer = error.instance_path().to_string();
    Err((field_from_pointer(&pointer), error.to_string()))
}

/// `/spec/releases/0/wave` → `spec.releases[0].wave`.
pub fn field_from_pointer(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    if out.is_empty() {
        "(document)".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_the_snapshot_left_out_as_too_large_is_named_when_the_environment_reads_it() {
        let repo = tempfile::tempdir().unwrap();
        let chart = repo.path().join("charts/a");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: a\n").unwrap();
        let dir = repo.path().join("environments/e");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: e\nspec:\n  releases:\n    - {name: a, namespace: a, chart: charts/a}\n").unwrap();
        let omit = |line: &str| {
            std::fs::write(repo.path().join(crate::snapshot::OMITTED_FILE), line).unwrap()
        };
        // Elsewhere in the repository: no matter.
        omit("99999999 docs/video.mp4\n");
        assert!(load(repo.path(), "e").is_ok());
        for path in [
            "environments/e/values/big.yaml",
            "charts/a/templates/crds.yaml",
        ] {
            omit(&format!("99999999 {path}\n"));
            let e = load(repo.path(), "e").unwrap_err();
            assert!(matches!(e, Error::TooLarge { size: 99999999, .. }), "{e}");
            let message = e.to_string();
            assert!(
                message.contains(path) && message.contains("cannot render e"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_release_drift_policy_overrides_the_environments() {
        let repo = tempfile::tempdir().unwrap();
        let chart = repo.path().join("charts/a");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: a\n").unwrap();
        let dir = repo.path().join("environments/e");
        std::fs::create_dir_all(&dir).unwrap();
        let text = "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: e\nspec:\n  releases:\n    - {name: a, namespace: a, chart: charts/a, drift: {policy: heal, ignore: [{kind: Deployment, paths: [/spec/replicas]}]}}\n    - {name: b, namespace: b, chart: charts/a}\n  drift:\n    policy: report\n    ignoreManagers: [kube-controller-manager]\n";
        let env = parse(repo.path(), &dir, &dir.join(FILE_NAME), text, &["e".into()]).unwrap();
        assert_eq!(env.drift_policy("a"), DriftPolicy::Heal);
        assert_eq!(env.drift_policy("b"), DriftPolicy::Report);
        assert_eq!(
            env.release("a").unwrap().drift.ignore[0].paths,
            ["/spec/replicas"]
        );
        assert_eq!(env.drift.ignore_managers, ["kube-controller-manager"]);
        let bad = text.replace("paths: [/spec/replicas]", "paths: [spec/replicas]");
        let e = parse(repo.path(), &dir, &dir.join(FILE_NAME), &bad, &["e".into()]).unwrap_err();
        assert!(
            e.to_string()
                .contains("spec.releases[0].drift.ignore[0].paths[0]"),
            "{e}"
        );
    }
}
