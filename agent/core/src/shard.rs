//! Sharding environments across replicas, decided from Leases alone.
//!
//! Each replica renews a member Lease; the live members are those whose Lease has not expired.
//! Each environment has its own Lease, and its owner is chosen by rendezvous (highest random
//! weight) hashing with bounded loads over the live members: in name order, each environment
//! goes to the member of highest weight that holds fewer than ⌈environments / members⌉. Every
//! replica computes the same owners from the same Leases, the load stays even on a handful of
//! environments, and a replica joining or leaving moves few besides the ones it wins or held. A
//! replica takes an environment's Lease only when it is free or expired, and gives up one it
//! holds but no longer owns only after its own pass has finished (the caller drains, then
//! releases), so two replicas never write the same environment.
//!
//! Times are milliseconds since the Unix epoch; the caller reads its clock.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A Lease as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    pub holder: Option<String>,
    pub renewed_ms: Option<i64>,
    pub duration_ms: i64,
}

impl LeaseView {
    /// When the Lease expires (`None`: never renewed, so it is free).
    pub fn expires_at(&self) -> Option<i64> {
        self.renewed_ms.map(|r| r.saturating_add(self.duration_ms))
    }

    /// Its holder while the Lease is live: named, and renewed less than a duration ago.
    pub fn live_holder(&self, now_ms: i64) -> Option<&str> {
        let holder = self.holder.as_deref().filter(|h| !h.is_empty())?;
        self.expires_at()
            .is_some_and(|end| now_ms < end)
            .then_some(holder)
    }
}

/// The weight of `member` for `environment`: the first 8 bytes of a SHA-256 over both, so every
/// replica, whatever its build, weighs alike.
pub fn weight(member: &str, environment: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(member.as_bytes());
    h.update([0]);
    h.update(environment.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The owner of each environment: in name order, the member of highest weight (ties broken by
/// name) among those below the bound of ⌈environments / members⌉. Empty without members.
pub fn assign(environments: &[String], members: &[String]) -> BTreeMap<String, String> {
    let mut owners = BTreeMap::new();
    if members.is_empty() {
        return owners;
    }
    let mut sorted: Vec<&String> = environments.iter().collect();
    sorted.sort();
    sorted.dedup();
    let bound = sorted.len().div_ceil(members.len());
    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
    for env in sorted {
        let best = members
            .iter()
            .filter(|m| load.get(m.as_str()).copied().unwrap_or(0) < bound)
            .max_by(|a, b| weight(a, env).cmp(&weight(b, env)).then_with(|| b.cmp(a)));
        if let Some(m) = best {
            *load.entry(m.as_str()).or_default() += 1;
            owners.insert(env.clone(), m.clone());
        }
    }
    owners
}

/// The live members: those whose member Lease is live, and `me` (who has just renewed its own),
/// sorted and without repeats.
pub fn live_members<'a>(
    leases: impl IntoIterator<Item = &'a LeaseView>,
    me: &str,
    now_ms: i64,
) -> Vec<String> {
    let mut members: Vec<String> = leases
        .into_iter()
        .filter_map(|l| l.live_holder(now_ms).map(str::to_string))
        .chain(std::iter::once(me.to_string()))
        .collect();
    members.sort();
    members.dedup();
    members
}

/// What a replica does with one environment's Lease this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// It owns the environment and the Lease is free or expired: write itself in.
    Take { transition: bool },
    /// It owns the environment and holds the Lease: renew it.
    Renew,
    /// It holds the Lease but another member owns the environment now: stop its passes, wait
    /// for the one under way, then release the Lease (renewing it meanwhile).
    Release,
    /// It owns the environment but another replica still holds the Lease: look again when the
    /// Lease expires, unless its holder releases it first.
    Wait { until_ms: i64 },
    /// Neither owned nor held: nothing to do.
    Idle,
}

/// The step for an environment owned by `owner` (from [`assign`]), given its Lease (`None`: not
/// created yet).
pub fn step(owner: Option<&str>, lease: Option<&LeaseView>, me: &str, now_ms: i64) -> Step {
    let mine = owner == Some(me);
    let holder = lease.and_then(|l| l.live_holder(now_ms));
    match (holder, mine) {
        (Some(h), true) if h == me => Step::Renew,
        (Some(h), false) if h == me => Step::Release,
        (Some(_), true) => Step::Wait {
            until_ms: lease.and_then(LeaseView::expires_at).unwrap_or(now_ms),
        },
        (None, true) => Step::Take {
            transition: lease.and_then(|l| l.holder.as_deref()) != Some(me),
        },
        _ => Step::Idle,
    }
}

/// Whether a member Lease belongs to a replica long gone: not `me`'s, and run out ten durations
/// ago (or never renewed). Such Leases are deleted, so pods replaced over months leave none.
pub fn departed(lease: &LeaseView, me: &str, now_ms: i64) -> bool {
    lease.holder.as_deref() != Some(me)
        && lease
            .renewed_ms
            .is_none_or(|r| now_ms - r > lease.duration_ms.saturating_mul(10))
}

/// The next time a round could decide differently: the earliest expiry, after `now_ms`, of a
/// Lease held by another replica (a member leaving, or a holder's Lease running out).
pub fn next_change<'a>(
    leases: impl IntoIterator<Item = &'a LeaseView>,
    me: &str,
    now_ms: i64,
) -> Option<i64> {
    leases
        .into_iter()
        .filter(|l| {
            l.holder
                .as_deref()
                .is_some_and(|h| h != me && !h.is_empty())
        })
        .filter_map(LeaseView::expires_at)
        .filter(|&end| end > now_ms)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = 15_000;

    fn lease(holder: &str, renewed_ms: i64) -> LeaseView {
        LeaseView {
            holder: (!holder.is_empty()).then(|| holder.to_string()),
            renewed_ms: Some(renewed_ms),
            duration_ms: D,
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_step_follows_from_ownership_and_the_lease() {
        let now = 100_000;
        let (own, other) = ("a".to_string(), "b".to_string());
        let cases: Vec<(&str, Option<LeaseView>, &str, Step)> = vec![
            ("absent, owner", None, &own, Step::Take { transition: true }),
            ("absent, not owner", None, &other, Step::Idle),
            (
                "owner holds",
                Some(lease(&own, now - 1_000)),
                &own,
                Step::Renew,
            ),
            (
                "owner's own lease expired",
                Some(lease(&own, now - D)),
                &own,
                Step::Take { transition: false },
            ),
            (
                "another holds, live",
                Some(lease(&other, now - 1_000)),
                &own,
                Step::Wait {
                    until_ms: now - 1_000 + D,
                },
            ),
            (
                "another held, expired",
                Some(lease(&other, now - D - 1)),
                &own,
                Step::Take { transition: true },
            ),
            (
                "released (no holder)",
                Some(lease("", now - 1_000)),
                &own,
                Step::Take { transition: true },
            ),
            (
                "holder no longer owner",
                Some(lease(&other, now - 1_000)),
                &other,
                Step::Release,
            ),
            (
                "not owner, another holds",
                Some(lease(&own, now - 1_000)),
                &other,
                Step::Idle,
            ),
        ];
        for (name, l, me, want) in cases {
            assert_eq!(step(Some(&own), l.as_ref(), me, now), want, "{name}");
        }
    }

    #[test]
    fn members_are_the_live_member_leases_and_me() {
        let now = 100_000;
        let leases = [
            lease("b", now - 1_000),
            lease("c", now - D),
            lease("", now),
            lease("b", now - 2_000),
        ];
        assert_eq!(live_members(&leases, "a", now), names(&["a", "b"]));
    }

    fn loads(owners: &BTreeMap<String, String>, members: &[String]) -> Vec<usize> {
        members
            .iter()
            .map(|m| owners.values().filter(|o| *o == m).count())
            .collect()
    }

    #[test]
    fn the_load_is_even_and_a_change_of_members_moves_little() {
        let cases: &[(usize, &[&str], &[&str])] = &[
            (6, &["r0", "r1"], &["r0", "r1", "r2"]),
            (6, &["r0", "r1", "r2"], &["r0", "r2"]),
            (7, &["a", "b", "c"], &["a", "b", "c", "d"]),
            (200, &["r0", "r1", "r2"], &["r0", "r2"]),
            (200, &["r0", "r1", "r2"], &["r0", "r1", "r2", "r3"]),
        ];
        for (n, before, after) in cases {
            let envs: Vec<String> = (0..*n).map(|i| format!("env-{i}")).collect();
            let (before, after) = (names(before), names(after));
            let (was, now) = (assign(&envs, &before), assign(&envs, &after));
            assert_eq!(was.len(), *n);
            assert_eq!(now.len(), *n);
            for (members, owners) in [(&before, &was), (&after, &now)] {
                let l = loads(owners, members);
                let bound = n.div_ceil(members.len());
                assert!(l.iter().all(|&x| x + 1 >= bound && x <= bound), "{l:?}");
            }
            // Moves: what a leaving member held or a joining one takes, and at most as many
            // again to keep the load even.
            let moved = envs.iter().filter(|e| was[*e] != now[*e]).count();
            let forced = envs
                .iter()
                .filter(|e| !after.contains(&was[*e]) || !before.contains(&now[*e]))
                .count();
            assert!(moved <= 2 * forced, "{n}: {moved} moved, {forced} forced");
        }
    }

    #[test]
    fn every_member_computes_the_same_owners_in_any_order() {
        let envs: Vec<String> = ["prod", "dev", "stage", "dev"].map(String::from).to_vec();
        let a = assign(&envs, &names(&["x", "y"]));
        let b = assign(
            &envs.iter().rev().cloned().collect::<Vec<_>>(),
            &names(&["y", "x"]),
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        assert!(assign(&envs, &[]).is_empty());
    }

    #[test]
    fn only_a_member_gone_for_ten_durations_has_departed() {
        let now = 1_000_000;
        let cases = [
            (lease("b", now - 10 * D - 1), "a", true),
            (lease("b", now - 10 * D), "a", false),
            (lease("b", now - D - 1), "a", false),
            (lease("", now - 11 * D), "a", true),
            (lease("a", now - 11 * D), "a", false),
            (
                LeaseView {
                    holder: Some("b".into()),
                    renewed_ms: None,
                    duration_ms: D,
                },
                "a",
                true,
            ),
        ];
        for (l, me, want) in cases {
            assert_eq!(departed(&l, me, now), want, "{l:?}");
        }
    }

    #[test]
    fn the_next_change_is_the_earliest_expiry_of_another_holder() {
        let now = 100_000;
        let leases = [
            lease("a", now - 1_000),
            lease("b", now - 5_000),
            lease("c", now - D - 1),
            lease("b", now - 2_000),
        ];
        assert_eq!(next_change(&leases, "a", now), Some(now - 5_000 + D));
        assert_eq!(next_change(&leases[..1], "a", now), None);
    }
}
