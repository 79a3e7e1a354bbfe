//! `spec.drift` and a release's `drift`: what the agent does about drift, what is never drift,
//! and how a drift pull request is opened.

use serde::{Deserialize, Serialize};

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
    pub delay: crate::duration::Span,
    /// Labels besides `sextant-drift`.
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub reviewers: Vec<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
}

fn default_pr_delay() -> crate::duration::Span {
    crate::duration::Span::known("2m")
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
