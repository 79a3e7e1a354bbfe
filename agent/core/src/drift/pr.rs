//! Drift pull requests, decided — pure.
//!
//! One pull request (or, when nothing of the drift maps to a values key, one issue) per
//! environment and release, found again by a hidden marker in its body that carries the
//! environment, the release and a fingerprint of the drift. The state lives in the forge: what
//! is open, and what was closed (merged, or rejected) with which fingerprint, is read back from
//! it on every pass, so restarts and failovers neither duplicate nor lose a request.
//! [`next`] decides what to do about one release; the daemon's loop carries it out.

use super::ObjectDrift;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The label every drift request carries: how the agent finds its own.
pub const LABEL: &str = "sextant-drift";

/// The marker hidden in a request's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub environment: String,
    pub release: String,
    pub fingerprint: String,
    /// Set by the agent when it closes the request itself (the drift went away, or another
    /// request replaced it): such a close is not a reviewer's rejection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolved: bool,
}

const MARKER_START: &str = "<!-- sextant-drift ";
const MARKER_END: &str = " -->";

impl Marker {
    pub fn render(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{MARKER_START}{json}{MARKER_END}")
    }

    /// `body` with its marker marked resolved (the agent closes the request itself).
    pub fn resolve(body: &str) -> Option<String> {
        let start = body.find(MARKER_START)?;
        let end = body[start..].find(MARKER_END)? + start + MARKER_END.len();
        let mut m = Marker::parse(body)?;
        m.resolved = true;
        Some(format!("{}{}{}", &body[..start], m.render(), &body[end..]))
    }

    /// The marker in a body, if it has one.
    pub fn parse(body: &str) -> Option<Marker> {
        let start = body.find(MARKER_START)? + MARKER_START.len();
        let end = body[start..].find(MARKER_END)? + start;
        serde_json::from_str(&body[start..end]).ok()
    }
}

/// The branch a release's drift pull request lives on.
pub fn branch(environment: &str, release: &str) -> String {
    format!("sextant/drift/{environment}/{release}")
}

/// sha256 over the drifted objects, their paths and live values. A Secret's values do not go
/// in (a hash of a short secret can be guessed): its changed paths do.
pub fn fingerprint(drifts: &[ObjectDrift]) -> String {
    /// An object, whether it is deleted, and its (path, live value) pairs.
    type Item = (String, bool, Vec<(String, String)>);
    let mut items: Vec<Item> = drifts
        .iter()
        .map(|d| {
            let secret = is_secret(d);
            let mut fields: Vec<(String, String)> = d
                .fields
                .iter()
                .map(|f| {
                    let live = if secret {
                        "(secret)".to_string()
                    } else {
                        f.live.as_ref().map_or("absent".into(), Value::to_string)
                    };
                    (f.path.clone(), live)
                })
                .collect();
            fields.sort();
            (d.object.clone(), d.deleted, fields)
        })
        .collect();
    items.sort();
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&items).unwrap_or_default());
    format!("sha256:{}", hex::encode(h.finalize()))
}

pub fn is_secret(d: &ObjectDrift) -> bool {
    d.reference.kind == "Secret" && d.reference.group.is_empty()
}

/// A pull request or an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    PullRequest,
    Issue,
}

/// An open request of the agent's, as read back from the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    pub number: u64,
    pub kind: Kind,
    pub url: String,
    pub marker: Marker,
}

/// What the forge says became of a closed request with the current fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Merged: Git now says what is live; the next sync shows it.
    Merged,
    /// Closed without merge: the reviewer rejected the live change.
    Rejected,
}

/// One release's drift now, as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub fingerprint: String,
    /// How long this drift (this fingerprint) has held.
    pub held: Duration,
    /// Whether some field of it maps to a values key (a pull request), or none does (an issue).
    pub mappable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// Not yet: the drift must hold for the delay first.
    Wait(Duration),
    /// Open a request of this kind.
    Open(Kind),
    /// Same request, new drift: a new commit, title and body.
    Update(u64),
    /// The open request is of the other kind now: close it, then open one of `Kind`.
    Replace(u64, Kind),
    /// The drift is gone (reverted live, or Git changed to match): close with a comment and
    /// delete the branch.
    Close(u64),
    /// The reviewer rejected this drift: re-apply Git. An open request is closed first.
    Heal(Option<u64>),
}

/// What to do about one release: its drift now (`None`: none), its open request, and what became
/// of a closed request carrying the current fingerprint.
pub fn next(
    current: Option<&Current>,
    open: Option<&OpenRequest>,
    closed: Option<Closed>,
    delay: Duration,
) -> Action {
    let Some(c) = current else {
        return match open {
            Some(o) => Action::Close(o.number),
            None => Action::Nothing,
        };
    };
    let same = open.is_some_and(|o| o.marker.fingerprint == c.fingerprint);
    match closed {
        Some(Closed::Rejected) if !same => return Action::Heal(open.map(|o| o.number)),
        // Merged and not synced yet: wait for the sync rather than propose it again.
        Some(Closed::Merged) if open.is_none() => return Action::Nothing,
        _ => {}
    }
    let kind = if c.mappable {
        Kind::PullRequest
    } else {
        Kind::Issue
    };
    match open {
        Some(_) if same => Action::Nothing,
        Some(o) if o.kind != kind => Action::Replace(o.number, kind),
        Some(o) => Action::Update(o.number),
        None if c.held < delay => Action::Wait(delay - c.held),
        None => Action::Open(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(fingerprint: &str, held: u64, mappable: bool) -> Current {
        Current {
            fingerprint: fingerprint.into(),
            held: Duration::from_secs(held),
            mappable,
        }
    }

    fn open(number: u64, kind: Kind, fingerprint: &str) -> OpenRequest {
        OpenRequest {
            number,
            kind,
            url: format!("https://github.example/pr/{number}"),
            marker: Marker {
                environment: "prod".into(),
                release: "web".into(),
                fingerprint: fingerprint.into(),
                resolved: false,
            },
        }
    }

    const DELAY: Duration = Duration::from_secs(120);
    use Kind::*;

    #[test]
    fn the_lifecycle_as_a_table() {
        let pr = open(7, PullRequest, "a");
        let issue = open(8, Issue, "a");
        let other = open(9, PullRequest, "b");
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            Option<Current>,
            Option<&OpenRequest>,
            Option<Closed>,
            Action,
        )> = vec![
            ("no drift, nothing open", None, None, None, Action::Nothing),
            (
                "drift too young",
                Some(current("a", 30, true)),
                None,
                None,
                Action::Wait(Duration::from_secs(90)),
            ),
            (
                "drift held: a PR",
                Some(current("a", 120, true)),
                None,
                None,
                Action::Open(PullRequest),
            ),
            (
                "nothing mappable: an issue",
                Some(current("a", 300, false)),
                None,
                None,
                Action::Open(Issue),
            ),
            (
                "same fingerprint: nothing",
                Some(current("a", 300, true)),
                Some(&pr),
                None,
                Action::Nothing,
            ),
            (
                "new live values: update",
                Some(current("b", 0, true)),
                Some(&pr),
                None,
                Action::Update(7),
            ),
            (
                "now mappable: the issue becomes a PR",
                Some(current("b", 0, true)),
                Some(&issue),
                None,
                Action::Replace(8, PullRequest),
            ),
            (
                "drift resolved: close",
                None,
                Some(&pr),
                None,
                Action::Close(7),
            ),
            (
                "merged, not yet synced: wait",
                Some(current("a", 300, true)),
                None,
                Some(Closed::Merged),
                Action::Nothing,
            ),
            (
                "rejected: heal",
                Some(current("a", 300, true)),
                None,
                Some(Closed::Rejected),
                Action::Heal(None),
            ),
            (
                "rejected while another is open: close and heal",
                Some(current("a", 300, true)),
                Some(&other),
                Some(Closed::Rejected),
                Action::Heal(Some(9)),
            ),
            (
                "rejected once, now drifted again differently: a new PR",
                Some(current("c", 300, true)),
                None,
                None,
                Action::Open(PullRequest),
            ),
        ];
        for (what, c, o, closed, want) in cases {
            assert_eq!(next(c.as_ref(), o, closed, DELAY), want, "{what}");
        }
    }

    #[test]
    fn the_marker_round_trips_inside_a_body() {
        let m = Marker {
            environment: "prod".into(),
            release: "hash-service".into(),
            fingerprint: "sha256:abc".into(),
            resolved: false,
        };
        let body = format!("# Drift\n\ntext\n\n{}\n", m.render());
        assert_eq!(Marker::parse(&body), Some(m.clone()));
        let resolved = Marker::resolve(&body).unwrap();
        assert!(resolved.starts_with("# Drift\n\ntext\n\n") && resolved.ends_with(" -->\n"));
        assert_eq!(
            Marker::parse(&resolved),
            Some(Marker {
                resolved: true,
                ..m
            })
        );
        assert_eq!(Marker::parse("no marker here"), None);
        assert_eq!(
            branch("prod", "hash-service"),
            "sextant/drift/prod/hash-service"
        );
    }

    #[test]
    fn the_fingerprint_follows_live_values_but_not_secret_ones() {
        use crate::drift::FieldDrift;
        use crate::object::ObjectRef;
        let drift = |kind: &str, live: i64| ObjectDrift {
            release: "web".into(),
            reference: ObjectRef {
                group: String::new(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: Some("app".into()),
                name: "x".into(),
            },
            object: format!("{kind}/app/x"),
            deleted: false,
            fields: vec![FieldDrift {
                path: "/data/a".into(),
                git: 1.into(),
                live: Some(live.into()),
                manager: Some("kubectl".into()),
                changed_at: None,
            }],
        };
        assert_eq!(
            fingerprint(&[drift("ConfigMap", 2)]),
            fingerprint(&[drift("ConfigMap", 2)])
        );
        assert_ne!(
            fingerprint(&[drift("ConfigMap", 2)]),
            fingerprint(&[drift("ConfigMap", 3)])
        );
        assert_eq!(
            fingerprint(&[drift("Secret", 2)]),
            fingerprint(&[drift("Secret", 3)])
        );
    }
}
