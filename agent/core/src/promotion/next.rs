//! What to do about one (target, release) promotion pull request — pure. The state is the
//! forge's: the agent's requests are read back on every pass and found by their marker, so a
//! restart or failover neither duplicates nor loses one.

use super::proposal::{Marker, What};

/// One of the agent's promotion requests for this (target, release), as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub number: u64,
    pub open: bool,
    pub merged: bool,
    pub marker: Marker,
}

/// A digest that passed the gate and the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub digest: String,
    pub revision: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a pull request for the candidate.
    Open,
    /// Move the open request's branch to the candidate, new title and body, and say so.
    Update { number: u64, from: String },
    /// Close a request that no longer stands, with this comment.
    Close { number: u64, comment: String },
    /// Leave it: why, for status.
    Nothing(String),
}

/// The actions for one (target, release): `candidate` qualified now (or `None`), `target` is the
/// digest the target's Git carries, `seen` the agent's promotion requests for it.
pub fn next(candidate: Option<&Candidate>, target: Option<&str>, seen: &[Seen]) -> Vec<Action> {
    let mut open: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.open && s.marker.what == What::Promote)
        .collect();
    open.sort_by_key(|s| s.number);
    let mut out = Vec::new();
    // The oldest open request stands; any other is a duplicate (two replicas once raced).
    for dup in open.iter().skip(1) {
        out.push(Action::Close {
            number: dup.number,
            comment: format!(
                "Superseded by #{}: one promotion request per release.",
                open[0].number
            ),
        });
    }
    let standing = open.first().copied();
    // A request whose digest the target's Git already carries has done its work.
    if let (Some(s), Some(t)) = (standing, target) {
        if s.marker.digest == t {
            out.push(Action::Close {
                number: s.number,
                comment: format!("{} already carries this digest.", s.marker.target),
            });
            return out;
        }
    }
    let Some(c) = candidate else {
        out.push(Action::Nothing(match standing {
            Some(s) => format!(
                "#{} stays open for {}",
                s.number,
                super::gate::short(&s.marker.digest)
            ),
            None => "nothing qualifies".into(),
        }));
        return out;
    };
    if target == Some(c.digest.as_str()) {
        out.push(Action::Nothing("the target already carries it".into()));
        return out;
    }
    // Merged already: Git carries it, or a checkout older than the merge says otherwise, or
    // the target rolled it back and its revert is on the way. Proposing it again would race.
    if let Some(m) = seen
        .iter()
        .find(|s| s.merged && s.marker.digest == c.digest)
    {
        out.push(Action::Nothing(format!(
            "#{} for this digest is merged: waiting for Git",
            m.number
        )));
        return out;
    }
    let rejected = seen
        .iter()
        .find(|s| !s.open && !s.merged && !s.marker.superseded && s.marker.digest == c.digest);
    if let Some(r) = rejected {
        out.push(Action::Nothing(format!(
            "#{} for this digest was closed without merge: not proposed again",
            r.number
        )));
        return out;
    }
    match standing {
        Some(s) if s.marker.digest == c.digest => {
            out.push(Action::Nothing(format!("#{} proposes it", s.number)))
        }
        Some(s) => out.push(Action::Update {
            number: s.number,
            from: s.marker.digest.clone(),
        }),
        None => out.push(Action::Open),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaa";
    const B: &str = "sha256:bbbb";
    const T: &str = "sha256:tttt";

    fn seen(number: u64, digest: &str, open: bool, merged: bool) -> Seen {
        Seen {
            number,
            open,
            merged,
            marker: Marker {
                what: What::Promote,
                target: "prod".into(),
                release: "hash-service".into(),
                digest: digest.into(),
                from: "dev".into(),
                revision: "r".into(),
                applied_at: None,
                superseded: false,
            },
        }
    }

    fn cand(d: &str) -> Candidate {
        Candidate {
            digest: d.into(),
            revision: "r".into(),
        }
    }

    #[test]
    fn a_table_of_cases() {
        let mut superseded = seen(3, A, false, false);
        superseded.marker.superseded = true;
        type Case<'a> = (
            &'a str,
            Option<Candidate>,
            Option<&'a str>,
            Vec<Seen>,
            Vec<Action>,
        );
        let cases: Vec<Case> = vec![
            (
                "first qualifying digest",
                Some(cand(A)),
                Some(T),
                vec![],
                vec![Action::Open],
            ),
            (
                "already proposed",
                Some(cand(A)),
                Some(T),
                vec![seen(1, A, true, false)],
                vec![Action::Nothing("#1 proposes it".into())],
            ),
            (
                "a newer digest updates the open request",
                Some(cand(B)),
                Some(T),
                vec![seen(1, A, true, false)],
                vec![Action::Update {
                    number: 1,
                    from: A.into(),
                }],
            ),
            (
                "merged: the target carries it, the request is closed",
                Some(cand(A)),
                Some(A),
                vec![seen(1, A, false, true)],
                vec![Action::Nothing("the target already carries it".into())],
            ),
            (
                "merged, the checkout older than the merge (or the target rolled it back)",
                Some(cand(A)),
                Some(T),
                vec![seen(1, A, false, true)],
                vec![Action::Nothing(
                    "#1 for this digest is merged: waiting for Git".into(),
                )],
            ),
            (
                "closed without merge: not proposed again",
                Some(cand(A)),
                Some(T),
                vec![seen(1, A, false, false)],
                vec![Action::Nothing(
                    "#1 for this digest was closed without merge: not proposed again".into(),
                )],
            ),
            (
                "closed by the agent as superseded: proposed anew",
                Some(cand(A)),
                Some(T),
                vec![superseded],
                vec![Action::Open],
            ),
            (
                "a duplicate is closed, the oldest stands",
                Some(cand(A)),
                Some(T),
                vec![seen(2, A, true, false), seen(1, A, true, false)],
                vec![
                    Action::Close {
                        number: 2,
                        comment: "Superseded by #1: one promotion request per release.".into(),
                    },
                    Action::Nothing("#1 proposes it".into()),
                ],
            ),
            (
                "the target moved to the open request's digest by another way",
                None,
                Some(A),
                vec![seen(1, A, true, false)],
                vec![Action::Close {
                    number: 1,
                    comment: "prod already carries this digest.".into(),
                }],
            ),
            (
                "nothing qualifies now: an open request stays",
                None,
                Some(T),
                vec![seen(1, A, true, false)],
                vec![Action::Nothing("#1 stays open for sha256:aaaa".into())],
            ),
        ];
        for (name, c, t, s, want) in cases {
            assert_eq!(next(c.as_ref(), t, &s), want, "{name}");
        }
    }
}
