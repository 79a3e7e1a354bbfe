//! `spec.preview`: whether the agent previews this environment on pull requests, and whether a
//! fork's pull request may be previewed. Always read from the tracked branch, never from the
//! pull request: a pull request cannot turn on its own preview or admit forks.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewSettings {
    /// Preview the open pull requests that touch this environment: a comment and a
    /// `sextant/preview/<environment>` status on each head. Needs a forge. Default: false.
    #[serde(default)]
    pub enabled: bool,
    /// Preview pull requests whose head is in a fork too (their render is contained as every
    /// render is). Default: false.
    #[serde(default)]
    pub forks: bool,
}
