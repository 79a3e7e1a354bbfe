//! The promotion loops (docs/promotion.md).
//!
//! - [`Promoter`], in the source environment's agent: for each target that promotes from it,
//!   the soak gate over the live cache, the drift feed and the checks (`gates.rs`); the
//!   registry's verification of a qualified digest; then one pull request per (target, release)
//!   on `sextant/promote/<target>/<release>`, or one commit on the tracked branch
//!   (`requests.rs`).
//! - [`Jobs`], in the target's agent: after a rollback, the revert in Git (a pull request or a
//!   commit) that restores the previous digest and records the bad one as rejected; and the
//!   lead time of each promoted digest once applied.
//!
//! Every decision is pure (`crate::promotion`); the state lives in the forge and in a record in
//! the cluster, so a restart neither duplicates nor loses a promotion. A pass observes (the
//! applied environment, its targets, the items), the core decides, the pass acts.

pub mod check;
mod gates;
mod requests;
#[cfg(test)]
mod tests;

use super::applied::Applied;
use super::clock::Clock;
use super::drift::DriftFeed;
use super::forge_backoff::Backoff;
use super::shared::Shared;
use super::status::Failed;
use super::Snapshot;
use crate::apply::cluster::KubeCluster;
use crate::apply::record::{self, ConfigMaps, Records};
use crate::environment::{Environment, PromotedImage};
use crate::forge::{Forge, Request};
use crate::live::LiveRead;
use crate::promotion::gate::{CheckOutcome, Gate};
use crate::promotion::proposal::LogLine;
use crate::registry::{Registry, RegistryError, Verification};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub use super::revert::{Job, Jobs};

/// The Git log of some paths of the source, newest first, and how many more were left out:
/// `(to revision, paths, the values file and key whose digest marks where to start)`.
pub type GitLog =
    Arc<dyn Fn(&str, &[String], Option<(&str, &str, &str)>) -> (Vec<LogLine>, usize) + Send + Sync>;

pub struct Promoter<F, R, K = ConfigMaps<KubeCluster>> {
    /// The source environment: this agent's.
    pub source: String,
    pub forge: Arc<F>,
    pub registry: Arc<R>,
    /// The Sigstore trusted root keyless signatures verify against.
    pub trust: Option<Arc<sextant_signature::TrustRoot>>,
    /// The tracked branch.
    pub base: String,
    pub applied: watch::Receiver<Option<Arc<Applied>>>,
    pub snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    pub feed: watch::Receiver<Arc<DriftFeed>>,
    /// The source's live state, which the soak reads.
    pub cache: Arc<dyn LiveRead>,
    /// Where the gates are kept across restarts.
    pub records: Arc<K>,
    pub shared: Shared,
    /// How often the gates are looked at.
    pub tick: Duration,
    pub log: Option<GitLog>,
    /// The wall clock the soak counts on.
    pub clock: Clock,
    /// How the targets are read from a snapshot (`crate::promotion::targets`; a test's may
    /// panic, as a bug in it would).
    pub targets_of: TargetsOf,
}

/// The environments that promote from a source, read from a snapshot, and why others that
/// say so do not load.
pub type TargetsOf = fn(&std::path::Path, &str) -> (Vec<Environment>, Vec<String>);

type Key = (String, String);

/// What the loop keeps between passes.
#[derive(Default)]
struct Memory {
    gates: BTreeMap<Key, Gate>,
    persisted: BTreeMap<Key, Gate>,
    loaded: bool,
    verified: HashMap<String, (Result<Verification, RegistryError>, Instant)>,
    checks: HashMap<String, (CheckOutcome, Instant)>,
    /// Digests the loop refused or proposed, counted once each in metrics.
    counted: std::collections::HashSet<(String, String, &'static str)>,
    requests: Option<(Vec<Request>, Instant)>,
    /// The last forge error of each (target, release), until an attempt succeeds.
    errors: HashMap<Key, Failed>,
    /// Why the registry refused each (target, release)'s qualified digest.
    refusals: HashMap<Key, Failed>,
    /// Each (target, release, digest)'s signature verdict: a refusal is asked again after a
    /// minute (on tokio's clock, which a test pauses), a verified signature is kept.
    signed: HashMap<
        (Key, String),
        (
            Result<sextant_signature::Verified, sextant_signature::Refusal>,
            tokio::time::Instant,
        ),
    >,
    /// The signature policy each (target, release)'s verdicts in `signed` were reached under:
    /// a changed policy forgets them.
    signed_under: HashMap<Key, String>,
    urls: HashMap<Key, String>,
    /// The targets at a snapshot revision: loaded again only when it changes.
    targets: Option<(String, Arc<Vec<Environment>>)>,
    /// Pull requests this loop opened, until the forge lists them.
    written: HashMap<Key, u64>,
    /// The forge left alone after an answer repeating will not change.
    backoff: Backoff,
}

/// One (target, release) this pass.
struct Item<'a> {
    target: &'a Environment,
    image: &'a PromotedImage,
    digest: Option<String>,
    /// The source's value at the key and its file, when it is not a digest.
    malformed: Option<(String, String)>,
    tag: Option<serde_json::Value>,
    target_digest: Option<String>,
}

impl<F: Forge + 'static, R: Registry + 'static, K: Records + 'static> Promoter<F, R, K> {
    pub async fn run(mut self) {
        let mut m = Memory {
            backoff: Backoff::new(self.shared.retry),
            ..Memory::default()
        };
        loop {
            if self.shared.is_leading() {
                self.pass(&mut m).await;
            } else {
                if m.loaded {
                    // Another replica leads the source now and exports its gates.
                    self.withdraw_gates(&m);
                }
                m.loaded = false;
            }
            if !self.shared.wait(self.tick, self.applied.changed()).await {
                return;
            }
        }
    }

    /// Counts a promotion of this source into `target` that ended as `outcome`.
    fn count(&self, target: &str, outcome: &str) {
        self.shared
            .metrics
            .promotions_total
            .with_label_values(&[&self.source, target, outcome])
            .inc();
    }

    /// One pass: observe, let the core decide each gate, then act on the forge.
    async fn pass(&self, m: &mut Memory) {
        self.load_gates(m).await;
        let (Some(applied), Some(snapshot)) = (
            self.applied.borrow().clone(),
            self.snapshots.borrow().clone(),
        ) else {
            return;
        };
        let Some(targets) = self.targets(m, &snapshot).await else {
            return;
        };
        if targets.is_empty() {
            return;
        }
        let items = items(&applied, &targets);
        let candidates = self
            .gates(m, &snapshot, &applied, &items, self.clock.unix_seconds())
            .await;
        self.publish_gates(m, &items);
        self.save_gates(m).await;
        // The forge, unless an answer that repeating will not change is being waited out.
        if m.backoff.remaining(tokio::time::Instant::now()).is_some() {
            return;
        }
        let failure = self.forge_pass(m, &items, &candidates).await;
        let failed = failure.as_ref().map(|e| (e.kind, e.message.as_str()));
        if m.backoff
            .record(tokio::time::Instant::now(), failed)
            .is_some()
        {
            if let Some(w) = m.backoff.status(tokio::time::Instant::now()) {
                tracing::warn!(source = %self.source, until = %w.until, failures = w.failures, reason = %w.reason, "promotion: the forge refused; leaving it alone until then");
            }
        }
        self.publish_gates(m, &items);
    }

    /// The gates as last recorded, read once after each start of leading.
    async fn load_gates(&self, m: &mut Memory) {
        if m.loaded {
            return;
        }
        let name = record::gates_name(&self.source);
        if let Ok(Some(saved)) = self.records.load::<Vec<(Key, Gate)>>(&name).await {
            m.gates = saved.into_iter().collect();
            m.persisted = m.gates.clone();
        }
        m.loaded = true;
    }

    /// The gates recorded, when they changed since last recorded.
    async fn save_gates(&self, m: &mut Memory) {
        if m.gates == m.persisted {
            return;
        }
        let all: Vec<(Key, Gate)> = m.gates.clone().into_iter().collect();
        let name = record::gates_name(&self.source);
        match self.records.save(&name, &self.source, &all).await {
            Ok(()) => m.persisted = m.gates.clone(),
            Err(e) => {
                tracing::warn!(source = %self.source, error = %e, "cannot record the promotion gates")
            }
        }
    }

    /// The environments that promote from this one, at the snapshot's revision; `None` when
    /// loading them panicked (reported; loaded again next pass).
    async fn targets(&self, m: &mut Memory, snapshot: &Snapshot) -> Option<Arc<Vec<Environment>>> {
        if let Some((rev, t)) = &m.targets {
            if *rev == snapshot.revision {
                return Some(t.clone());
            }
        }
        let path = snapshot.path.clone();
        let source = self.source.clone();
        let targets_of = self.targets_of;
        let loaded = tokio::task::spawn_blocking(move || targets_of(&path, &source)).await;
        // A panic is not "no target": reported, nothing cached, loaded again next pass.
        let (targets, broken) = match loaded {
            Ok(loaded) => loaded,
            Err(join) => {
                tracing::error!(source = %self.source, error = %join, "loading the targets that promote from this environment failed; trying again next pass");
                return None;
            }
        };
        for e in &broken {
            tracing::warn!(source = %self.source, error = %e, "a target that promotes from this environment does not load");
        }
        let t = Arc::new(targets);
        m.targets = Some((snapshot.revision.clone(), t.clone()));
        Some(t)
    }
}

/// Each (target, release) this pass: the digest the source holds at the promoted key (or
/// what is there instead), its tag, and the target's digest.
fn items<'a>(applied: &Applied, targets: &'a [Environment]) -> Vec<Item<'a>> {
    let mut items = Vec::new();
    for target in targets {
        let Some(p) = &target.promotion else { continue };
        for image in &p.images {
            let source_release = applied.environment.release(&image.release);
            let held = source_release.and_then(|r| {
                crate::environment::promoted::holder(r, &image.path)
                    .ok()
                    .flatten()
            });
            let digest = held
                .as_ref()
                .and_then(|(_, v)| v.as_str().map(str::to_string))
                .filter(|d| crate::environment::promoted::is_digest(d));
            // Set, but not a digest: said in the gate's message, naming the file.
            let malformed = match (&digest, &held) {
                (None, Some((file, v))) => Some((
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    file.strip_prefix(&applied.environment.repo)
                        .unwrap_or(file)
                        .display()
                        .to_string(),
                )),
                _ => None,
            };
            let tag = match (&image.tag_path, source_release) {
                (Some(t), Some(r)) => crate::environment::promoted::holder(r, t)
                    .ok()
                    .flatten()
                    .map(|(_, v)| v),
                _ => None,
            };
            let target_digest = crate::promotion::digests(target, std::slice::from_ref(image))
                .remove(&image.release);
            items.push(Item {
                target,
                image,
                digest,
                malformed,
                tag,
                target_digest,
            });
        }
    }
    items
}
