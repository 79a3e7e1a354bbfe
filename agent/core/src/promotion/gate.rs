//! The promotion gate, as a pure decision over what the source environment's agent observes: a
//! digest qualifies for the target only when the source applied the revision carrying it, every
//! object of the release has rolled out that revision's generation and is healthy, nothing of
//! the release has drifted, every check passes — and all of that held without a break for the
//! soak. Any break starts the soak again. The decision also says what it waits for, and since
//! when, for `/status` and `sextant_promotion_gate`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the gate waits for; each is a value of `sextant_promotion_gate`'s `state` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The source has not applied a revision carrying a digest at the key, or its live state is
    /// not known yet.
    Waiting,
    /// An object of the release has not rolled out this revision's generation.
    Progressing,
    Degraded,
    Drifted,
    CheckFailed,
    /// A check cannot say (Prometheus unreachable, no series): the digest is held, its soak
    /// neither ends nor starts again.
    CheckUnknown,
    /// Everything holds; the soak has not run its course.
    Soaking,
    /// Everything held for the soak: the digest may be proposed.
    Qualified,
    /// Everything held for the soak, but the digest's signature does not verify (unsigned,
    /// another signer, a bad signature, a missing attestation): nothing is proposed.
    Unverified,
    /// The target's Git already carries the digest.
    UpToDate,
    /// The target rolled back from this digest; a human clears it.
    Rejected,
}

impl State {
    pub const ALL: [State; 11] = [
        State::Waiting,
        State::Progressing,
        State::Degraded,
        State::Drifted,
        State::CheckFailed,
        State::CheckUnknown,
        State::Soaking,
        State::Qualified,
        State::Unverified,
        State::UpToDate,
        State::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Progressing => "progressing",
            State::Degraded => "degraded",
            State::Drifted => "drifted",
            State::CheckFailed => "check-failed",
            State::CheckUnknown => "check-unknown",
            State::Soaking => "soaking",
            State::Qualified => "qualified",
            State::Unverified => "unverified",
            State::UpToDate => "up-to-date",
            State::Rejected => "rejected",
        }
    }
}

/// The release's rollout in the source, read from the live cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// The watches are not synced: nothing is known.
    Unknown,
    /// Every object is at its generation and healthy, and one of them runs the digest.
    Healthy,
    Progressing(String),
    Degraded(String),
}

/// What a check says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckState {
    Passing,
    Failing,
    /// It cannot say: no answer, no series, not a number. Never read as passing.
    Unknown,
}

impl CheckState {
    pub const ALL: [CheckState; 3] = [
        CheckState::Passing,
        CheckState::Failing,
        CheckState::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Passing => "passing",
            CheckState::Failing => "failing",
            CheckState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub name: String,
    pub state: CheckState,
    pub message: String,
}

/// What the source's agent observes of one (target, release) now.
#[derive(Debug, Clone, Default)]
pub struct Observed<'a> {
    /// Unix seconds.
    pub now: u64,
    /// The digest the source's applied revision carries at the key, and that revision.
    pub applied: Option<(&'a str, &'a str)>,
    pub rollout: Option<Rollout>,
    /// The release's drifted objects.
    pub drifted: Vec<String>,
    pub checks: Vec<CheckOutcome>,
    /// The digest the target's values carry in Git now.
    pub target: Option<&'a str>,
    /// Why the target rejected the digest, when it did.
    pub rejected: Option<&'a str>,
    /// What the source's values hold at the key when it is not a digest (`sha256:` and 64 hex
    /// digits), and the values file that sets it.
    pub malformed: Option<(&'a str, &'a str)>,
    /// Why the digest's signature does not verify, when it was checked and does not.
    pub unverified: Option<&'a str>,
}

/// The part of a decision that lasts from one look to the next (persisted, so a restart loses
/// no soak).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub digest: String,
    /// The first source revision seen carrying the digest (the PR title's `dev@<rev>`).
    pub revision: String,
    /// Unix seconds since which everything held without a break.
    pub since: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub state: State,
    /// Unix seconds since which the gate has been in `state`.
    pub since: u64,
    pub message: String,
    /// The soak under way (or done), if everything holds.
    pub held: Option<Held>,
    /// The digest the gate is about.
    pub digest: Option<String>,
}

/// The gate now, from what is observed and the gate of the previous look.
pub fn decide(o: &Observed<'_>, previous: Option<&Gate>, soak: Duration) -> Gate {
    let prior_held = previous.and_then(|g| g.held.as_ref());
    let (state, message, held) = judge(o, prior_held, soak);
    let digest = o.applied.map(|(d, _)| d.to_string());
    let since = match previous {
        Some(p) if p.state == state && p.digest == digest => p.since,
        _ => o.now,
    };
    Gate {
        state,
        since,
        message,
        held,
        digest,
    }
}

fn judge(o: &Observed<'_>, prior: Option<&Held>, soak: Duration) -> (State, String, Option<Held>) {
    let Some((digest, revision)) = o.applied else {
        let message = match o.malformed {
            Some((value, file)) => format!(
                "the source's values set the key to {value:?} in {file}, which is not a digest (sha256: and 64 lowercase hex digits); nothing is promoted until it is one"
            ),
            None => "the source has not applied a revision carrying a digest at the key".into(),
        };
        return (State::Waiting, message, None);
    };
    // A soak only ever continues for the same digest.
    let same = prior.filter(|h| h.digest == digest).cloned();
    if o.target == Some(digest) {
        return (
            State::UpToDate,
            format!("the target's Git already carries {}", short(digest)),
            same,
        );
    }
    if let Some(why) = o.rejected {
        return (
            State::Rejected,
            format!(
                "{} was rolled back in the target ({why}); delete its entry from the target's rejected.yaml to allow it again",
                short(digest)
            ),
            None,
        );
    }
    match &o.rollout {
        None | Some(Rollout::Unknown) => {
            return (
                State::Waiting,
                "the source's live state is not known yet (watches syncing)".into(),
                same,
            )
        }
        Some(Rollout::Progressing(m)) => return (State::Progressing, m.clone(), None),
        Some(Rollout::Degraded(m)) => return (State::Degraded, m.clone(), None),
        Some(Rollout::Healthy) => {}
    }
    if !o.drifted.is_empty() {
        return (
            State::Drifted,
            format!("drifted: {}", o.drifted.join(", ")),
            None,
        );
    }
    if let Some(c) = o.checks.iter().find(|c| c.state == CheckState::Failing) {
        return (
            State::CheckFailed,
            format!("check {} failed: {}", c.name, c.message),
            None,
        );
    }
    if let Some(c) = o.checks.iter().find(|c| c.state == CheckState::Unknown) {
        return (
            State::CheckUnknown,
            format!(
                "check {} cannot say ({}): the digest is held until it can",
                c.name, c.message
            ),
            same,
        );
    }
    let held = same.unwrap_or_else(|| Held {
        digest: digest.to_string(),
        revision: revision.to_string(),
        since: o.now,
    });
    let elapsed = o.now.saturating_sub(held.since);
    if elapsed >= soak.as_secs() {
        if let Some(why) = o.unverified {
            return (
                State::Unverified,
                format!(
                    "{} is unverified: {why}; nothing is proposed",
                    short(digest)
                ),
                Some(held),
            );
        }
        let checks = if o.checks.is_empty() {
            String::new()
        } else {
            format!(", {} check(s) passing", o.checks.len())
        };
        (
            State::Qualified,
            format!("healthy and undrifted for {elapsed}s{checks}"),
            Some(held),
        )
    } else {
        (
            State::Soaking,
            format!("healthy for {elapsed}s of {}s", soak.as_secs()),
            Some(held),
        )
    }
}

/// `sha256:ab12cd34ef56…` (the first 12 hex digits).
pub fn short(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}…", &hex[..12]),
        _ => digest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const SOAK: Duration = Duration::from_secs(600);

    fn healthy(now: u64, digest: &'static str) -> Observed<'static> {
        Observed {
            now,
            applied: Some((digest, "rev1")),
            rollout: Some(Rollout::Healthy),
            target: Some(B),
            ..Observed::default()
        }
    }

    /// Runs the gate over a sequence of looks, each seeing the previous decision.
    fn run(looks: &[Observed<'_>]) -> Vec<Gate> {
        let mut out: Vec<Gate> = Vec::new();
        for o in looks {
            let g = decide(o, out.last(), SOAK);
            out.push(g);
        }
        out
    }

    #[test]
    fn a_digest_qualifies_only_after_the_whole_soak() {
        let g = run(&[healthy(1000, A), healthy(1599, A), healthy(1600, A)]);
        assert_eq!(g[0].state, State::Soaking);
        assert_eq!(g[1].state, State::Soaking);
        assert_eq!(g[1].message, "healthy for 599s of 600s");
        assert_eq!(g[2].state, State::Qualified);
        assert_eq!(g[2].held.as_ref().unwrap().since, 1000);
        assert_eq!(g[2].since, 1600, "qualified since this look");
    }

    #[test]
    fn an_unverified_digest_is_held_after_its_soak_and_qualifies_once_it_verifies() {
        let why = "unsigned: the registry holds no Sigstore bundle and no cosign signature for it";
        let unverified = |now| Observed {
            unverified: Some(why),
            ..healthy(now, A)
        };
        let g = run(&[
            healthy(1000, A),
            unverified(1200),
            unverified(1600),
            unverified(1700),
            healthy(1800, A),
        ]);
        // Before the soak ends, a refusal changes nothing: the signature is asked only then.
        assert_eq!(g[1].state, State::Soaking);
        assert_eq!(g[2].state, State::Unverified);
        assert_eq!(
            g[2].message,
            format!("sha256:aaaaaaaaaaaa… is unverified: {why}; nothing is proposed")
        );
        assert_eq!(
            (g[3].state, g[3].since),
            (State::Unverified, 1600),
            "unverified since it first was"
        );
        assert_eq!(
            g[3].held.as_ref().unwrap().since,
            1000,
            "the soak stays done"
        );
        assert_eq!((g[4].state, g[4].since), (State::Qualified, 1800));
    }

    #[test]
    fn any_break_starts_the_soak_again() {
        type Break = Box<dyn Fn(&mut Observed<'static>)>;
        let breaks: Vec<Break> = vec![
            Box::new(|o| o.rollout = Some(Rollout::Degraded("CrashLoopBackOff".into()))),
            Box::new(|o| o.rollout = Some(Rollout::Progressing("1 of 2 replicas updated".into()))),
            Box::new(|o| o.drifted = vec!["Deployment hash-service/hash-service".into()]),
            Box::new(|o| {
                o.checks = vec![CheckOutcome {
                    name: "http://svc/hash".into(),
                    state: CheckState::Failing,
                    message: "HTTP 500".into(),
                }]
            }),
        ];
        for (i, brk) in breaks.iter().enumerate() {
            let mut broken = healthy(1300, A);
            brk(&mut broken);
            let g = run(&[
                healthy(1000, A),
                broken,
                healthy(1400, A),
                healthy(1999, A),
                healthy(2000, A),
            ]);
            assert_ne!(g[1].state, State::Soaking, "break {i}");
            assert!(g[1].held.is_none(), "break {i}");
            assert_eq!(
                g[2].held.as_ref().unwrap().since,
                1400,
                "break {i}: the soak restarts"
            );
            assert_eq!(g[3].state, State::Soaking, "break {i}");
            assert_eq!(g[4].state, State::Qualified, "break {i}");
        }
    }

    #[test]
    fn a_new_digest_starts_its_own_soak() {
        let g = run(&[healthy(1000, A), healthy(1500, B), healthy(1600, B)]);
        // B is already the target's: up to date, whatever the soak.
        assert_eq!(g[1].state, State::UpToDate);
        let mut c = healthy(1500, B);
        c.target = Some(A);
        let g = run(&[
            healthy(1000, A),
            c.clone(),
            Observed {
                now: 2099,
                ..c.clone()
            },
            Observed { now: 2100, ..c },
        ]);
        assert_eq!(g[1].held.as_ref().unwrap().digest, B);
        assert_eq!(g[1].held.as_ref().unwrap().since, 1500);
        assert_eq!(g[2].state, State::Soaking);
        assert_eq!(g[3].state, State::Qualified);
    }

    #[test]
    fn a_value_that_is_not_a_digest_is_named_with_its_file() {
        let o = Observed {
            now: 10,
            malformed: Some(("sha256:zz", "environments/dev/values/web.yaml")),
            ..Observed::default()
        };
        let g = run(&[o]);
        assert_eq!(g[0].state, State::Waiting);
        for part in [
            "\"sha256:zz\"",
            "environments/dev/values/web.yaml",
            "not a digest",
        ] {
            assert!(g[0].message.contains(part), "{part} in {}", g[0].message);
        }
        assert!(run(&[Observed::default()])[0]
            .message
            .contains("has not applied"));
    }

    #[test]
    fn unknown_live_state_neither_advances_nor_breaks_the_soak() {
        let mut unknown = healthy(1300, A);
        unknown.rollout = Some(Rollout::Unknown);
        let g = run(&[healthy(1000, A), unknown, healthy(1600, A)]);
        assert_eq!(g[1].state, State::Waiting);
        assert_eq!(g[1].held.as_ref().unwrap().since, 1000);
        assert_eq!(g[2].state, State::Qualified);
    }

    #[test]
    fn a_check_that_cannot_say_holds_the_digest_without_breaking_its_soak() {
        let check = |state, message: &str| CheckOutcome {
            name: "errors".into(),
            state,
            message: message.into(),
        };
        let mut unknown = healthy(1700, A);
        unknown.checks = vec![check(CheckState::Unknown, "no series")];
        let mut failing_too = unknown.clone();
        failing_too
            .checks
            .push(check(CheckState::Failing, "0.05, not < 0.01"));
        let g = run(&[healthy(1000, A), unknown.clone(), healthy(1800, A)]);
        assert_eq!(g[1].state, State::CheckUnknown, "past the soak, yet held");
        assert_eq!(
            g[1].message,
            "check errors cannot say (no series): the digest is held until it can"
        );
        assert_eq!(
            g[1].held.as_ref().unwrap().since,
            1000,
            "the soak keeps its start"
        );
        assert_eq!(g[2].state, State::Qualified);
        let g = run(&[healthy(1000, A), failing_too]);
        assert_eq!(
            g[1].state,
            State::CheckFailed,
            "a failing check wins over one that cannot say"
        );
        assert!(g[1].held.is_none());
    }

    #[test]
    fn a_rejected_digest_never_qualifies() {
        let mut o = healthy(5000, A);
        o.rejected = Some("wave 2: Deployment hash-service is degraded");
        let g = run(&[healthy(1000, A), o]);
        assert_eq!(g[1].state, State::Rejected);
        assert!(g[1].message.contains("rejected.yaml"), "{}", g[1].message);
    }

    #[test]
    fn nothing_applied_waits_and_the_state_keeps_its_since() {
        let o = Observed {
            now: 10,
            ..Observed::default()
        };
        let g = run(&[o.clone(), Observed { now: 20, ..o }]);
        assert_eq!(g[1].state, State::Waiting);
        assert_eq!(g[1].since, 10);
    }

    #[test]
    fn short_digests_keep_twelve_hex_digits() {
        assert_eq!(short(A), "sha256:aaaaaaaaaaaa…");
    }
}
