//! The Environment model (`environments/<env>/environment.yaml`): parsing, JSON Schema and
//! semantic validation. Every error names the file and the field a human has to fix.

use crate::yaml;

mod contain;
pub mod promoted;
pub use contain::{EntryError, PathError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The JSON Schema of `environment.yaml`, also published as `docs/environment.schema.json`.
mod load;
pub use load::{load, parse};

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
    #[error("{file}: field `{field}`: {problem}")]
    Invalid {
        file: PathBuf,
        field: String,
        problem: Problem,
    },
}

/// What is wrong with a field of an environment file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The value breaks a rule of the file: the schema, a name, a reference to a release or an
    /// environment, a duration's or a percentage's form.
    #[error("{0}")]
    Value(String),
    #[error(transparent)]
    OutOfRange(#[from] yaml::OutOfRange),
    /// A file or chart the field names is missing, leaves the repository, or cannot be read.
    #[error(transparent)]
    Path(#[from] contain::PathError),
    /// A values key the field names cannot be looked up in the release's values files.
    #[error(transparent)]
    Values(#[from] promoted::ValuesError),
}

/// A field (as the user writes it, `spec.releases[0].wave`) and what is wrong with it; the
/// file is added where it is known ([`Invalid::at`]).
#[derive(Debug)]
pub(crate) struct Invalid {
    field: String,
    problem: Problem,
}

impl Invalid {
    fn new(field: impl Into<String>, problem: impl Into<Problem>) -> Self {
        Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// A value breaking a rule, `message` saying which.
    fn value(field: impl Into<String>, message: String) -> Self {
        Invalid::new(field, Problem::Value(message))
    }

    fn at(self, file: &Path) -> Error {
        Error::Invalid {
            file: file.to_path_buf(),
            field: self.field,
            problem: self.problem,
        }
    }
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
    #[serde(default)]
    requires: Vec<RequirementSpec>,
}

/// One entry of a release's `requires`: `<group>/<version>/<Kind>`, or
/// `{kind: <group>/<version>/<Kind>, from: cluster}` for a kind the cluster itself provides.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum RequirementSpec {
    Kind(String),
    Detailed { kind: String, from: Provider },
}

/// Who provides a required kind, when it is not the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// The cluster serves it before the agent runs (an add-on, another tool's CRD).
    Cluster,
}

/// A kind a release needs served (its CRD `Established`) before its wave applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// The API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Provided by the cluster, not by a release of the environment: not checked at plan time,
    /// still waited for at sync time.
    pub from_cluster: bool,
}

impl Requirement {
    /// `gateway.networking.k8s.io/v1/Gateway`, or `v1/ConfigMap` for the core group.
    pub fn parse(text: &str, from_cluster: bool) -> Option<Requirement> {
        let parts: Vec<&str> = text.split('/').collect();
        let (group, version, kind) = match parts.as_slice() {
            [g, v, k] => (*g, *v, *k),
            [v, k] => ("", *v, *k),
            _ => return None,
        };
        let group_ok = group.is_empty()
            || group.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            });
        let version_ok = version.starts_with('v')
            && version
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let kind_ok = kind.starts_with(|c: char| c.is_ascii_uppercase())
            && kind.bytes().all(|c| c.is_ascii_alphanumeric());
        (group_ok && version_ok && kind_ok && version.len() > 1).then(|| Requirement {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            from_cluster,
        })
    }

    /// `apiVersion` as an object writes it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.api_version(), self.kind)
    }
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
    /// Kinds that must be served before its wave applies (`requires`).
    pub requires: Vec<Requirement>,
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
    kube_canonical::names::is_dns1123_label(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository with chart `charts/a` (its `templates/` folder empty) and the folder of
    /// environment `e`.
    fn chart_a_and_folder_e() -> (tempfile::TempDir, std::path::PathBuf) {
        let repo = tempfile::tempdir().unwrap();
        let chart = repo.path().join("charts/a");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: a\n").unwrap();
        let dir = repo.path().join("environments/e");
        std::fs::create_dir_all(&dir).unwrap();
        (repo, dir)
    }

    #[test]
    fn a_file_the_snapshot_left_out_as_too_large_is_named_when_the_environment_reads_it() {
        let (repo, dir) = chart_a_and_folder_e();
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
    fn a_malformed_requires_is_refused_naming_the_file_and_field() {
        let (repo, dir) = chart_a_and_folder_e();
        let file = dir.join(FILE_NAME);
        let text = |requires: &str| {
            format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: e\nspec:\n  releases:\n    - {{name: a, namespace: a, chart: charts/a, requires: {requires}}}\n")
        };
        let parse =
            |requires: &str| parse(repo.path(), &dir, &file, &text(requires), &["e".into()]);
        let env = parse(
            "[gateway.networking.k8s.io/v1/Gateway, {kind: example.com/v1/Widget, from: cluster}]",
        )
        .unwrap();
        let got: Vec<(String, bool)> = env.releases[0]
            .requires
            .iter()
            .map(|r| (r.to_string(), r.from_cluster))
            .collect();
        assert_eq!(
            got,
            [
                ("gateway.networking.k8s.io/v1/Gateway".to_string(), false),
                ("example.com/v1/Widget".to_string(), true)
            ]
        );
        for (requires, field) in [
            ("[Gateway]", "spec.releases[0].requires[0]"),
            (
                "[v1/ConfigMap, {kind: gateway/Gateway, from: cluster}]",
                "spec.releases[0].requires[1].kind",
            ),
            (
                "[{kind: example.com/v1/Widget, from: nowhere}]",
                "spec.releases[0].requires[0]",
            ),
            (
                "[{kind: example.com/v1/Widget}]",
                "spec.releases[0].requires[0]",
            ),
        ] {
            let e = parse(requires).unwrap_err().to_string();
            assert!(
                e.contains(&file.display().to_string()) && e.contains(&format!("field `{field}`")),
                "{requires}: {e}"
            );
        }
    }

    #[test]
    fn a_release_drift_policy_overrides_the_environments() {
        let (repo, dir) = chart_a_and_folder_e();
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
