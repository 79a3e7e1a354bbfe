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
    pub prune_limit: Percent,
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

fn default_prune_limit() -> Percent {
    Percent(50)
}

impl SyncOptions {
    /// `prune_limit` as a percentage.
    pub fn prune_limit_percent(&self) -> u32 {
        self.prune_limit.get()
    }
}

/// A share from 0% to 100%, written `50%`: parsed once, as the environment loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Percent(u32);

impl Percent {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<String> for Percent {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.strip_suffix('%')
            .and_then(|n| n.parse().ok())
            .filter(|p| *p <= 100)
            .map(Percent)
            .ok_or_else(|| format!("{s:?} is not a percentage from 0% to 100%"))
    }
}

impl From<Percent> for String {
    fn from(p: Percent) -> String {
        format!("{}%", p.0)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_is_a_whole_number_from_0_to_100_followed_by_a_percent_sign() {
        let cases = [
            ("0%", Some(0)),
            ("50%", Some(50)),
            ("100%", Some(100)),
            ("101%", None),
            ("50", None),
            ("-1%", None),
            ("12.5%", None),
            ("%", None),
        ];
        for (text, want) in cases {
            let got = Percent::try_from(text.to_string());
            assert_eq!(got.as_ref().ok().map(|p| p.get()), want, "{text}");
            if let Err(e) = got {
                assert_eq!(e, format!("{text:?} is not a percentage from 0% to 100%"));
            }
        }
        assert_eq!(String::from(Percent(30)), "30%");
    }
}
