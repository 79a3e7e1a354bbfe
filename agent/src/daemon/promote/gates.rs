//! The promotion loop's gates: for each (target, release), the soak over the live state, the
//! drift feed and the checks (`crate::promotion::gate::decide`); a qualified digest verified in
//! the registry; the gates in the metrics and `/status`.

use super::check;
use super::{Item, Key, Memory, Promoter};
use crate::apply::health::{assess, Status as Health};
use crate::apply::record::Records;
use crate::apply::sync::identity;
use crate::daemon::applied::Applied;
use crate::daemon::clock::rfc3339;
use crate::daemon::drift::DriftFeed;
use crate::daemon::status::{Failed, PromotionStatus};
use crate::daemon::Snapshot;
use crate::forge::Forge;
use crate::live::{Availability, LiveRead};
use crate::promotion::gate::{
    self, decide, CheckOutcome, CheckState, Gate, Observed, Rollout, State,
};
use crate::promotion::next::Candidate;
use crate::promotion::rejected;
use crate::registry::{Registry, RegistryError, Verification};
use crate::signature;
use sextant_signature::Refusal;
use std::time::{Duration, Instant};

/// How long a digest the registry refused is not asked about again.
const REVERIFY_REFUSED_AFTER: Duration = Duration::from_secs(60);

impl<F: Forge + 'static, R: Registry + 'static, K: Records + 'static> Promoter<F, R, K> {
    /// Each item's gate decided and kept in memory; the qualified digests the registry
    /// verified, as candidates (with the item's index).
    pub(super) async fn gates(
        &self,
        m: &mut Memory,
        snapshot: &Snapshot,
        applied: &Applied,
        items: &[Item<'_>],
        now: u64,
    ) -> Vec<(usize, Candidate)> {
        let mut candidates = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let key = (item.target.name.clone(), item.image.release.clone());
            let refused = item.digest.as_deref().and_then(|d| refused(m, &key, d));
            let mut gate = self
                .gate(m, snapshot, applied, item, &key, now, refused.as_deref())
                .await;
            let candidate = match (gate.state == State::Qualified, item.digest.as_deref()) {
                (true, Some(d)) => match self.qualify(m, item, &key, d, &gate).await {
                    Ok(c) => c,
                    Err(why) => {
                        gate = self
                            .gate(m, snapshot, applied, item, &key, now, Some(&why))
                            .await;
                        None
                    }
                },
                _ => None,
            };
            // A refusal stands while the digest it is about qualifies and is refused.
            if gate.state != State::Qualified || candidate.is_some() {
                m.refusals.remove(&key);
            }
            if let Some(c) = candidate {
                candidates.push((i, c));
            }
            m.gates.insert(key, gate);
        }
        candidates
    }

    /// One item's gate, from what is observed now and its gate so far; `unverified` is why its
    /// digest's signature was refused, when it was.
    #[allow(clippy::too_many_arguments)]
    async fn gate(
        &self,
        m: &mut Memory,
        snapshot: &Snapshot,
        applied: &Applied,
        item: &Item<'_>,
        key: &Key,
        now: u64,
        unverified: Option<&str>,
    ) -> Gate {
        let p = item.target.promotion.as_ref().expect("targets promote");
        let rejection = match rejected::read(&snapshot.path, &item.target.name) {
            Ok(list) => list
                .iter()
                .find(|r| {
                    Some(&r.digest) == item.digest.as_ref() && r.release == item.image.release
                })
                .map(|r| r.reason.clone()),
            Err(e) => Some(format!("the rejected digests file is broken: {e}")),
        };
        let checks = self.checks(m, p, item.digest.is_some()).await;
        let digest = item.digest.as_deref();
        let observed = Observed {
            now,
            applied: digest.zip(applied.revision.as_deref()),
            rollout: digest.map(|d| rollout(&*self.cache, applied, &item.image.release, d)),
            drifted: drifted(&self.feed.borrow(), &item.image.release),
            checks,
            target: item.target_digest.as_deref(),
            rejected: rejection.as_deref(),
            malformed: item
                .malformed
                .as_ref()
                .map(|(v, f)| (v.as_str(), f.as_str())),
            unverified,
        };
        let gate = decide(&observed, m.gates.get(key), p.soak());
        // The moment the soak ends, to the log's precision (`since` counts whole seconds).
        if gate.state == State::Qualified
            && m.gates
                .get(key)
                .is_none_or(|g| g.state != State::Qualified || g.digest != gate.digest)
        {
            tracing::info!(target = %item.target.name, release = %item.image.release, digest = digest.unwrap_or_default(), "promotion gate qualified");
        }
        gate
    }

    /// A qualified digest, once the registry verifies it and, where the image asks, its
    /// signature verifies (`Err`: why it does not). Kept apart from the forge's errors, which
    /// a pass that writes nothing clears: a refusal, or a registry that cannot be reached,
    /// stays in the status until the digest verifies.
    async fn qualify(
        &self,
        m: &mut Memory,
        item: &Item<'_>,
        key: &Key,
        digest: &str,
        gate: &Gate,
    ) -> Result<Option<Candidate>, String> {
        let found = match self.verify(m, item, digest).await {
            Ok(_) => self.signature(m, item, key, digest).await,
            Err(e) => Err(e),
        };
        Ok(match found {
            Ok(Err(refusal)) => return Err(refusal.to_string()),
            Ok(Ok(())) => Some(Candidate {
                digest: digest.to_string(),
                revision: gate
                    .held
                    .as_ref()
                    .map_or_else(String::new, |h| h.revision.clone()),
            }),
            Err(e) if e.transient => {
                m.refusals.insert(
                    key.clone(),
                    Failed {
                        label: e.label,
                        message: format!(
                            "the registry could not verify the digest yet: {e}; asked again next pass"
                        ),
                    },
                );
                None
            }
            Err(e) => {
                m.refusals.insert(
                    key.clone(),
                    Failed {
                        label: e.label,
                        message: format!("refused by the registry: {e}"),
                    },
                );
                None
            }
        })
    }

    /// The digest's signature, where the image asks for one: `Ok(Err(refusal))` when it does
    /// not verify, `Err` when the registry cannot be read (asked again next pass).
    async fn signature(
        &self,
        m: &mut Memory,
        item: &Item<'_>,
        key: &Key,
        digest: &str,
    ) -> Result<Result<(), Refusal>, RegistryError> {
        let Some(policy) = item.image.verify.as_ref().map(|v| &v.signature) else {
            return Ok(Ok(()));
        };
        let stated = format!("{policy:?}");
        if m.signed_under.get(key) != Some(&stated) {
            m.signed.retain(|(k, _), _| k != key);
            m.signed_under.insert(key.clone(), stated);
        }
        let memo = (key.clone(), digest.to_string());
        if let Some((r, at)) = m.signed.get(&memo) {
            if r.is_ok() || at.elapsed() < REVERIFY_REFUSED_AFTER {
                return Ok(r.clone().map(|_| ()));
            }
        }
        let now = self.clock.unix_seconds();
        let verdict = match signature::check(
            &*self.registry,
            self.trust.as_deref(),
            &self.shared.metrics,
            &item.image.repository,
            digest,
            policy,
            now,
        )
        .await
        {
            Ok(v) => Ok(v),
            Err(signature::Failure::Refused(r)) => Err(r),
            Err(signature::Failure::Registry(e)) => return Err(e),
        };
        let out = verdict.clone().map(|_| ());
        m.signed
            .insert(memo, (verdict, tokio::time::Instant::now()));
        Ok(out)
    }

    /// The checks' outcomes, each fetched again once its last result is older than a second
    /// or a tenth of the soak, whichever is longer (at most 30 s).
    pub(super) async fn checks(
        &self,
        m: &mut Memory,
        p: &crate::environment::Promotion,
        wanted: bool,
    ) -> Vec<CheckOutcome> {
        if !wanted {
            return Vec::new();
        }
        let every = crate::promotion::look_every(p.soak());
        let mut out = Vec::new();
        for c in &p.checks {
            let fresh = m
                .checks
                .get(c.name())
                .filter(|(_, at)| at.elapsed() < every)
                .map(|(o, _)| o.clone());
            let outcome = match fresh {
                Some(o) => o,
                None => {
                    let o = check::run(c).await;
                    m.checks
                        .insert(c.name().to_string(), (o.clone(), Instant::now()));
                    o
                }
            };
            out.push(outcome);
        }
        out
    }

    async fn verify(
        &self,
        m: &mut Memory,
        item: &Item<'_>,
        digest: &str,
    ) -> Result<Verification, RegistryError> {
        let cached = m
            .verified
            .get(digest)
            .filter(|(r, at)| r.is_ok() || at.elapsed() < REVERIFY_REFUSED_AFTER);
        if let Some((r, _)) = cached {
            return r.clone();
        }
        let platform = item
            .target
            .promotion
            .as_ref()
            .map_or("linux/amd64", |p| p.platform.as_str());
        let r = self
            .registry
            .verify(&item.image.repository, digest, platform)
            .await;
        match &r {
            Ok(v) => {
                tracing::info!(repository = %v.repository, digest, content_verified = v.content_verified, "verified in the registry")
            }
            Err(e) => {
                tracing::warn!(repository = %item.image.repository, digest, error = %e, "the registry refused the digest");
                if !e.transient
                    && m.counted
                        .insert((item.target.name.clone(), digest.to_string(), "refused"))
                {
                    self.count(&item.target.name, "refused");
                }
            }
        }
        // A transient failure is asked again next pass.
        if r.as_ref().is_ok() || r.as_ref().is_err_and(|e| !e.transient) {
            m.verified
                .insert(digest.to_string(), (r.clone(), Instant::now()));
        }
        r
    }

    /// What each check of the item's promotion said at its last look, in
    /// `sextant_promotion_checks` (a check not looked at yet has no state set).
    fn publish_checks(&self, m: &Memory, it: &Item<'_>) {
        let Some(p) = &it.target.promotion else {
            return;
        };
        for (i, c) in p.checks.iter().enumerate() {
            let now = m.checks.get(c.name()).map(|(o, _)| o.state);
            let place = format!("checks[{i}]");
            for s in CheckState::ALL {
                self.shared
                    .metrics
                    .promotion_checks
                    .with_label_values(&[&it.target.name, &it.image.release, &place, s.as_str()])
                    .set(i64::from(now == Some(s)));
            }
        }
    }

    /// Sets every gate's series to 0 once this replica stops leading the source: the replica
    /// that leads it now exports them, and no alert reads a former leader's last state.
    pub(super) fn withdraw_gates(&self, m: &Memory) {
        for (target, release) in m.gates.keys() {
            for s in State::ALL {
                self.shared
                    .metrics
                    .promotion_gate
                    .with_label_values(&[target, release, s.as_str()])
                    .set(0);
            }
        }
    }

    pub(super) fn publish_gates(&self, m: &Memory, items: &[Item<'_>]) {
        let mut rows = Vec::new();
        for it in items {
            let key = (it.target.name.clone(), it.image.release.clone());
            let Some(g) = m.gates.get(&key) else { continue };
            for s in State::ALL {
                self.shared
                    .metrics
                    .promotion_gate
                    .with_label_values(&[&it.target.name, &it.image.release, s.as_str()])
                    .set(i64::from(s == g.state));
            }
            self.publish_checks(m, it);
            let failed = m.refusals.get(&key).or(m.errors.get(&key));
            let registry = it
                .digest
                .as_ref()
                .and_then(|d| m.verified.get(d))
                .map(|(r, _)| match r {
                    Ok(v) => describe(v),
                    Err(e) => format!("refused: {e}"),
                })
                .or_else(|| {
                    m.refusals
                        .get(&key)
                        .map(|_| "not verified: the registry did not answer".to_string())
                });
            let signature = it
                .digest
                .as_ref()
                .and_then(|d| m.signed.get(&(key.clone(), d.clone())))
                .map(|(r, _)| match r {
                    Ok(v) => signature::describe(v),
                    Err(r) => format!("refused: {r}"),
                });
            rows.push(PromotionStatus {
                target: it.target.name.clone(),
                release: it.image.release.clone(),
                state: g.state.as_str(),
                since: rfc3339(g.since),
                message: g.message.clone(),
                digest: g.digest.clone(),
                healthy_since: g.held.as_ref().map(|h| rfc3339(h.since)),
                registry,
                signature,
                request: m.urls.get(&key).cloned(),
                last_error: failed.map(|f| f.message.clone()),
                error: failed.map(|f| f.label),
                waiting: m.backoff.status(tokio::time::Instant::now()),
            });
        }
        if let Ok(mut s) = self.shared.status.lock() {
            s.environments
                .entry(self.source.clone())
                .or_default()
                .promotions = rows;
        }
    }
}

/// The registry's verification, in words.
pub(super) fn describe(v: &Verification) -> String {
    let content = if v.content_verified {
        "the manifest's bytes hash to the digest"
    } else {
        "the registry lists the digest (its bytes were not hashed here)"
    };
    let platform = match (&v.platform, &v.platform_digest) {
        (Some(p), Some(d)) => format!("; {p} → `{}`", gate::short(d)),
        (Some(p), None) => format!("; {p}"),
        _ => String::new(),
    };
    format!(
        "verified in {} ({}): {content}{platform}",
        v.registry, v.media_type
    )
}

/// The release's rollout in the source, from the live cache: every applied object seen live,
/// at its generation and healthy, and one of them running the digest.
fn rollout(cache: &dyn LiveRead, applied: &Applied, release: &str, digest: &str) -> Rollout {
    if cache.availability() != Availability::Synced {
        return Rollout::Unknown;
    }
    let mut runs = false;
    let mut any = false;
    for o in applied.objects.iter().filter(|o| o.release == release) {
        any = true;
        // A kind not listed yet (the watches start after a restart's first sync) is not known.
        if !cache.synced(&o.reference.group, &o.reference.kind) {
            return Rollout::Unknown;
        }
        let Some(live) = cache.get(&identity(&o.reference)) else {
            return Rollout::Progressing(format!("{} is not seen live yet", o.reference));
        };
        let h = assess(&live);
        match h.status {
            Health::Degraded => {
                return Rollout::Degraded(format!("{}: {}", o.reference, h.message))
            }
            Health::Progressing => {
                return Rollout::Progressing(format!("{}: {}", o.reference, h.message))
            }
            Health::Healthy => {}
        }
        if live
            .get("spec")
            .is_some_and(|s| s.to_string().contains(digest))
        {
            runs = true;
        }
    }
    if !any {
        return Rollout::Progressing(format!("release {release} has no objects applied"));
    }
    if !runs {
        return Rollout::Progressing(format!(
            "no live object of {release} runs {}",
            gate::short(digest)
        ));
    }
    Rollout::Healthy
}

fn drifted(feed: &DriftFeed, release: &str) -> Vec<String> {
    feed.objects
        .iter()
        .filter(|d| d.release == release)
        .map(|d| d.object.clone())
        .collect()
}

/// Why `digest`'s signature was refused for the item, while that refusal is fresh.
fn refused(m: &Memory, key: &Key, digest: &str) -> Option<String> {
    m.signed
        .get(&(key.clone(), digest.to_string()))
        .filter(|(_, at)| at.elapsed() < REVERIFY_REFUSED_AFTER)
        .and_then(|(r, _)| r.as_ref().err())
        .map(|r| r.to_string())
}
