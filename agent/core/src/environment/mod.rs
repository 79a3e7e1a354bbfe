//! The Environment model (`environments/<env>/environment.yaml`): parsing, JSON Schema and
//! semantic validation. Every error names the file and the field a human has to fix.

use crate::yaml;

pub mod condition;
mod contain;
mod drift;
mod error;
mod preview;
pub mod promoted;
mod requirement;
mod sync;
pub use contain::{EntryError, PathError};
pub use drift::{Drift, DriftPolicy, IgnoreRule, PullRequestSettings, ReleaseDrift};
pub(crate) use error::Invalid;
pub use error::{Error, Problem, Result};
pub use preview::PreviewSettings;
pub use promoted::{
    Check, HttpCheck, PrometheusCheck, PromotedImage, Promotion, PromotionMode, Verify,
};
use requirement::RequirementSpec;
pub use requirement::{Provider, Requirement};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
pub use sync::{Percent, SyncOptions};

mod load;
pub use load::{load, parse};

/// The JSON Schema of `environment.yaml`, also published as `docs/environment.schema.json`.
pub const SCHEMA: &str = include_str!("../../../../docs/environment.schema.json");
pub const ENVIRONMENTS_DIR: &str = "environments";
pub const FILE_NAME: &str = "environment.yaml";

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
    #[serde(default)]
    preview: PreviewSettings,
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
    pub preview: PreviewSettings,
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
    use std::time::Duration;

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
    fn durations_are_read_once_at_load_and_one_too_long_to_count_is_named_by_its_field() {
        let (repo, dir) = chart_a_and_folder_e();
        let file = dir.join(FILE_NAME);
        let parse = |spec: &str| {
            let text = format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: e\nspec:\n  releases:\n    - {{name: a, namespace: a, chart: charts/a}}\n{spec}");
            parse(repo.path(), &dir, &file, &text, &["e".into()])
        };
        let env = parse(
            "  sync: {waveTimeout: 90s, timeout: 1h, pruneLimit: 30%}\n  drift: {pullRequest: {delay: 0s}}\n",
        )
        .unwrap();
        assert_eq!(env.sync.prune_limit_percent(), 30);
        assert_eq!(env.sync.wave_timeout.get(), Duration::from_secs(90));
        assert_eq!(env.sync.timeout.get(), Duration::from_secs(3600));
        assert_eq!(env.drift.pull_request.delay.get(), Duration::ZERO);
        let defaults = parse("").unwrap();
        assert_eq!(defaults.sync.prune_limit_percent(), 50);
        assert_eq!(defaults.sync.wave_timeout.get(), Duration::from_secs(300));
        assert_eq!(defaults.sync.timeout.get(), Duration::from_secs(1800));
        assert_eq!(
            defaults.drift.pull_request.delay.get(),
            Duration::from_secs(120)
        );
        // The schema's pattern admits it; the count does not fit.
        let e = parse("  sync: {waveTimeout: 99999999999999999999h}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&file.display().to_string())
                && e.contains("field `spec.sync.waveTimeout`")
                && e.contains("is not a duration"),
            "{e}"
        );
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
