//! `spec.sync`: how an environment is applied (namespaces, prune and its limit, conflicts,
//! timeouts).

use crate::duration::Span;
use serde::{Deserialize, Serialize};

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
    pub wave_timeout: Span,
    /// The largest share of the environment's objects one revision may prune, e.g. `50%`.
    #[serde(default = "default_prune_limit")]
    pub prune_limit: String,
    /// Prune whatever left Git, however much: the operator's yes to a mass prune.
    #[serde(default)]
    pub allow_mass_prune: bool,
    /// The longest one sync of the environment may take, waves and prune included.
    #[serde(default = "default_sync_timeout")]
    pub timeout: Span,
}

fn default_sync_timeout() -> Span {
    Span::known("30m")
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
pub(super) fn parse_percent(s: &str) -> Option<u32> {
    s.strip_suffix('%')?.parse().ok().filter(|p| *p <= 100)
}

fn yes() -> bool {
    true
}

fn default_wave_timeout() -> Span {
    Span::known("5m")
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
