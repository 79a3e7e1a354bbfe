//! A release's `requires`: the kinds that must be served before its wave applies.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One entry of a release's `requires`: `<group>/<version>/<Kind>`, or
/// `{kind: <group>/<version>/<Kind>, from: cluster}` for a kind the cluster itself provides.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum RequirementSpec {
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
