//! The promotion loops (docs/promotion.md).
//!
//! - [`Promoter`], in the source environment's agent: for each target that promotes from it,
//!   the soak gate over the live cache, the drift feed and the checks; the registry's
//!   verification of a qualified digest; then one pull request per (target, release) on
//!   `sextant/promote/<target>/<release>`, or one commit on the tracked branch.
//! - [`Jobs`], in the target's agent: after a rollback, the revert in Git (a pull request or a
//!   commit) that restores the previous digest and records the bad one as rejected; and the
//!   lead time of each promoted digest once applied.
//!
//! Every decision is pure (`crate::promotion`); the state lives in the forge and in a record in
//! the cluster, so a restart neither duplicates nor loses a promotion.

use super::applied::Applied;
use super::clock::{rfc3339, unix_seconds as unix_now};
use super::drift::DriftFeed;
use super::forge_backoff::Backoff;
use super::status::{PromotionStatus, Status};
use super::Snapshot;
use crate::apply::cluster::Cluster;
use crate::apply::health::{assess, Status as Health};
use crate::apply::record;
use crate::apply::sync::identity;
use crate::drift::pr::Kind;
use crate::environment::{Environment, PromotedImage, PromotionMode};
use crate::forge::{ErrorKind, Forge, ForgeError, Query, Request};
use crate::live::{Availability, LiveCache};
use crate::metrics::Metrics;
use crate::promotion::gate::{self, decide, CheckOutcome, Gate, Observed, Rollout, State};
use crate::promotion::next::{next, Action, Candidate, Seen};
use crate::promotion::proposal::{self, Evidence, LogLine, Marker, What};
use crate::promotion::rejected;
use crate::registry::{Registry, RegistryError, Verification};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub use super::revert::{Job, Jobs};

/// The Git log of some paths of the source, newest first, and how many more were left out:
/// `(to revision, paths, the values file and key whose digest marks where to start)`.
pub type GitLog =
    Arc<dyn Fn(&str, &[String], Option<(&str, &str, &str)>) -> (Vec<LogLine>, usize) + Send + Sync>;

pub struct Promoter<F, R> {
    /// The source environment: this agent's.
    pub source: String,
    pub forge: Arc<F>,
    pub registry: Arc<R>,
    /// The tracked branch.
    pub base: String,
    pub applied: watch::Receiver<Option<Arc<Applied>>>,
    pub snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    pub feed: watch::Receiver<Arc<DriftFeed>>,
    pub cache: Arc<LiveCache>,
    pub cluster: Arc<Cluster>,
    pub agent_namespace: String,
    pub leading: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    pub metrics: Metrics,
    pub status: Arc<Mutex<Status>>,
    /// How often the gates are looked at.
    pub tick: Duration,
    pub log: Option<GitLog>,
}

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
    errors: HashMap<Key, String>,
    /// Why the registry refused each (target, release)'s qualified digest.
    refusals: HashMap<Key, String>,
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

const STATE_LIST_EVERY: Duration = Duration::from_secs(30);
const REVERIFY_REFUSED_AFTER: Duration = Duration::from_secs(60);

impl<F: Forge + 'static, R: Registry + 'static> Promoter<F, R> {
    pub async fn run(mut self) {
        let mut m = Memory::default();
        loop {
            if *self.leading.borrow() {
                self.pass(&mut m).await;
            } else {
                m.loaded = false;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.tick) => {}
                c = self.applied.changed() => if c.is_err() { return },
                c = self.leading.changed() => if c.is_err() { return },
                _ = self.stop.changed() => return,
            }
        }
    }

    async fn pass(&self, m: &mut Memory) {
        let gates_name = record::gates_name(&self.source);
        if !m.loaded {
            if let Ok(Some(saved)) =
                record::load::<Vec<(Key, Gate)>>(&self.cluster, &self.agent_namespace, &gates_name)
                    .await
            {
                m.gates = saved.into_iter().collect();
                m.persisted = m.gates.clone();
            }
            m.loaded = true;
        }
        let (Some(applied), Some(snapshot)) = (
            self.applied.borrow().clone(),
            self.snapshots.borrow().clone(),
        ) else {
            return;
        };
        let targets = match &m.targets {
            Some((rev, t)) if *rev == snapshot.revision => t.clone(),
            _ => {
                let path = snapshot.path.clone();
                let source = self.source.clone();
                let loaded =
                    tokio::task::spawn_blocking(move || crate::promotion::targets(&path, &source))
                        .await;
                // A panic is not "no target": reported, nothing cached, loaded again next pass.
                let (targets, broken) = match loaded {
                    Ok(loaded) => loaded,
                    Err(join) => {
                        tracing::error!(source = %self.source, error = %join, "loading the targets that promote from this environment failed; trying again next pass");
                        return;
                    }
                };
                for e in &broken {
                    tracing::warn!(source = %self.source, error = %e, "a target that promotes from this environment does not load");
                }
                let t = Arc::new(targets);
                m.targets = Some((snapshot.revision.clone(), t.clone()));
                t
            }
        };
        if targets.is_empty() {
            return;
        }
        let now = unix_now();
        let mut items = Vec::new();
        for target in targets.iter() {
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
        let mut candidates: Vec<(usize, Candidate)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let key = (item.target.name.clone(), item.image.release.clone());
            let p = item.target.promotion.as_ref().expect("targets promote");
            let rejections = rejected::read(&snapshot.path, &item.target.name);
            let rejection = match &rejections {
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
                rollout: digest.map(|d| rollout(&self.cache, &applied, &item.image.release, d)),
                drifted: drifted(&self.feed.borrow(), &item.image.release),
                checks,
                target: item.target_digest.as_deref(),
                rejected: rejection.as_deref(),
                malformed: item
                    .malformed
                    .as_ref()
                    .map(|(v, f)| (v.as_str(), f.as_str())),
            };
            let gate = decide(&observed, m.gates.get(&key), p.soak());
            // The moment the soak ends, to the log's precision (`since` counts whole seconds).
            if gate.state == State::Qualified
                && m.gates
                    .get(&key)
                    .is_none_or(|g| g.state != State::Qualified || g.digest != gate.digest)
            {
                tracing::info!(target = %item.target.name, release = %item.image.release, digest = digest.unwrap_or_default(), "promotion gate qualified");
            }
            if gate.state == State::Qualified {
                if let Some(d) = digest {
                    match self.verify(m, item, d).await {
                        Ok(_) => candidates.push((
                            i,
                            Candidate {
                                digest: d.to_string(),
                                revision: gate
                                    .held
                                    .as_ref()
                                    .map_or_else(String::new, |h| h.revision.clone()),
                            },
                        )),
                        // Kept apart from the forge's errors, which a pass that writes nothing
                        // clears: a refusal, or a registry that cannot be reached, stays in
                        // the status until the digest verifies.
                        Err(e) if e.transient => {
                            m.refusals.insert(
                                key.clone(),
                                format!("the registry could not verify the digest yet: {e}; asked again next pass"),
                            );
                        }
                        Err(e) => {
                            m.refusals
                                .insert(key.clone(), format!("refused by the registry: {e}"));
                        }
                    }
                }
            }
            // A refusal stands while the digest it is about qualifies and is refused.
            if gate.state != State::Qualified || candidates.iter().any(|(c, _)| *c == i) {
                m.refusals.remove(&key);
            }
            m.gates.insert(key, gate);
        }
        self.publish_gates(m, &items);
        if m.gates != m.persisted {
            let all: Vec<(Key, Gate)> = m.gates.clone().into_iter().collect();
            match record::save(
                &self.cluster,
                &self.agent_namespace,
                &gates_name,
                &self.source,
                &all,
            )
            .await
            {
                Ok(()) => m.persisted = m.gates.clone(),
                Err(e) => {
                    tracing::warn!(source = %self.source, error = %e, "cannot record the promotion gates")
                }
            }
        }
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

    /// The pull requests and commits of one pass; the first failure, if any.
    async fn forge_pass(
        &self,
        m: &mut Memory,
        items: &[Item<'_>],
        candidates: &[(usize, Candidate)],
    ) -> Option<ForgeError> {
        let mut failure: Option<ForgeError> = None;
        // The forge: pull requests listed once a pass when something may change, else seldom.
        let pr_items: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, it)| {
                it.target.promotion.as_ref().map(|p| p.mode) == Some(PromotionMode::PullRequest)
            })
            .map(|(i, _)| i)
            .collect();
        let want_list = candidates.iter().any(|(i, _)| pr_items.contains(i))
            || m.requests
                .as_ref()
                .is_none_or(|(_, at)| at.elapsed() >= STATE_LIST_EVERY);
        // The agent's promotion requests are on its own branches, one per (target, release):
        // found by branch, whatever else the repository holds.
        let query = Query {
            branches: pr_items
                .iter()
                .map(|i| proposal::branch(&items[*i].target.name, &items[*i].image.release))
                .collect(),
            issue_label: None,
        };
        let mut listed_now = false;
        if want_list && !pr_items.is_empty() {
            match self.list(m, &query).await {
                Ok(()) => listed_now = true,
                Err(e) => {
                    self.forge_failed(m, items, &e);
                    return Some(e);
                }
            }
        }
        for (i, item) in items.iter().enumerate() {
            let key = (item.target.name.clone(), item.image.release.clone());
            let candidate = candidates.iter().find(|(c, _)| *c == i).map(|(_, c)| c);
            let outcome = match item.target.promotion.as_ref().map(|p| p.mode) {
                Some(PromotionMode::Commit) => match candidate {
                    Some(c) => self.commit(m, item, c).await,
                    None => Ok(()),
                },
                _ => {
                    // Decided from a list older than this pass, an action might close a request
                    // merged meanwhile: anything to do is decided again on a fresh list.
                    let decide = |m: &Memory| {
                        let list = m
                            .requests
                            .as_ref()
                            .map(|(l, _)| l.as_slice())
                            .unwrap_or_default();
                        let seen = seen_for(list, item);
                        let actions = next(candidate, item.target_digest.as_deref(), &seen);
                        (seen, actions)
                    };
                    if m.requests.is_none() {
                        continue;
                    }
                    let (mut seen, mut actions) = decide(m);
                    if !listed_now && actions.iter().any(|a| !matches!(a, Action::Nothing(_))) {
                        match self.list(m, &query).await {
                            Ok(()) => {
                                listed_now = true;
                                (seen, actions) = decide(m);
                            }
                            Err(e) => {
                                self.forge_failed(m, items, &e);
                                return Some(e);
                            }
                        }
                    }
                    let list = m
                        .requests
                        .as_ref()
                        .map(|(l, _)| l.clone())
                        .unwrap_or_default();
                    if let Some(open) = seen.iter().find(|s| s.open) {
                        if let Some(r) = list.iter().find(|r| r.number == open.number) {
                            m.urls.insert(key.clone(), r.url.clone());
                        }
                    } else {
                        m.urls.remove(&key);
                    }
                    let mut changed = false;
                    let mut result = Ok(());
                    for a in actions {
                        if !matches!(a, Action::Nothing(_)) {
                            changed = true;
                        }
                        if let Err(e) = self.act(m, item, candidate, &seen, a).await {
                            result = Err(e);
                            break;
                        }
                    }
                    if changed {
                        m.requests = None;
                    }
                    result
                }
            };
            match outcome {
                Ok(()) => {
                    m.errors.remove(&key);
                }
                Err(e) => {
                    tracing::warn!(target = %item.target.name, release = %item.image.release, error = %e, "promotion: the forge failed; trying again next pass");
                    self.metrics
                        .promotions_total
                        .with_label_values(&[&self.source, &item.target.name, "failed"])
                        .inc();
                    m.errors.insert(key, e.message.clone());
                    if failure.as_ref().is_none_or(|f| !f.is_permanent()) {
                        failure = Some(e);
                    }
                }
            }
        }
        failure
    }

    /// Lists the requests on `query`'s branches into memory. A request this loop opened that
    /// the forge does not list is an error: opening another would duplicate it, so nothing is
    /// written until it shows (the loop backs off meanwhile).
    async fn list(&self, m: &mut Memory, query: &Query) -> Result<(), ForgeError> {
        let list = self.forge.requests(query).await?;
        m.written
            .retain(|_, n| !list.iter().any(|r| r.number == *n));
        let unseen = m.written.iter().next().map(|((target, release), n)| {
            ForgeError {
                message: format!(
                    "promotion pull request #{n} was opened on {} but the forge does not list it there; nothing more is written until it does",
                    proposal::branch(target, release)
                ),
                label: "unseen".into(),
                kind: ErrorKind::Permanent,
            }
        });
        m.requests = Some((list, Instant::now()));
        match unseen {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn forge_failed(&self, m: &mut Memory, items: &[Item<'_>], e: &ForgeError) {
        tracing::warn!(source = %self.source, error = %e, "promotion: cannot list the forge's requests");
        for it in items {
            m.errors.insert(
                (it.target.name.clone(), it.image.release.clone()),
                e.message.clone(),
            );
        }
        self.publish_gates(m, items);
    }

    /// The checks' outcomes, each fetched again once its last result is older than a second
    /// or a tenth of the soak, whichever is longer (at most 30 s).
    async fn checks(
        &self,
        m: &mut Memory,
        p: &crate::environment::Promotion,
        wanted: bool,
    ) -> Vec<CheckOutcome> {
        if !wanted {
            return Vec::new();
        }
        let every = (p.soak() / 10).clamp(Duration::from_secs(1), Duration::from_secs(30));
        let mut out = Vec::new();
        for c in &p.checks {
            let fresh = m
                .checks
                .get(&c.http.url)
                .filter(|(_, at)| at.elapsed() < every)
                .map(|(o, _)| o.clone());
            let outcome = match fresh {
                Some(o) => o,
                None => {
                    let o = http_check(&c.http).await;
                    m.checks
                        .insert(c.http.url.clone(), (o.clone(), Instant::now()));
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
                    self.metrics
                        .promotions_total
                        .with_label_values(&[&self.source, &item.target.name, "refused"])
                        .inc();
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

    fn publish_gates(&self, m: &Memory, items: &[Item<'_>]) {
        let mut rows = Vec::new();
        for it in items {
            let key = (it.target.name.clone(), it.image.release.clone());
            let Some(g) = m.gates.get(&key) else { continue };
            for s in State::ALL {
                self.metrics
                    .promotion_gate
                    .with_label_values(&[&it.target.name, &it.image.release, s.as_str()])
                    .set(i64::from(s == g.state));
            }
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
            rows.push(PromotionStatus {
                target: it.target.name.clone(),
                release: it.image.release.clone(),
                state: g.state.as_str(),
                since: rfc3339(g.since),
                message: g.message.clone(),
                digest: g.digest.clone(),
                healthy_since: g.held.as_ref().map(|h| rfc3339(h.since)),
                registry,
                request: m.urls.get(&key).cloned(),
                last_error: m.refusals.get(&key).or(m.errors.get(&key)).cloned(),
                waiting: m.backoff.status(tokio::time::Instant::now()),
            });
        }
        if let Ok(mut s) = self.status.lock() {
            s.environments
                .entry(self.source.clone())
                .or_default()
                .promotions = rows;
        }
    }

    /// The values edit of `item` to `digest` on the tracked branch's head, and that head.
    async fn edit_at_head(
        &self,
        item: &Item<'_>,
        digest: &str,
    ) -> Result<(String, crate::promotion::Edit), ForgeError> {
        let head = self.forge.head(&self.base).await?;
        let release = item.target.release(&item.image.release);
        let file = release
            .and_then(|r| {
                crate::environment::promoted::holder(r, &item.image.path)
                    .ok()
                    .flatten()
            })
            .and_then(|(f, _)| {
                f.strip_prefix(&item.target.repo)
                    .ok()
                    .map(|p| p.to_string_lossy().to_string())
            })
            .ok_or_else(|| {
                ForgeError::edit(format!(
                    "no values file of {} sets {}",
                    item.image.release, item.image.path
                ))
            })?;
        let text = self
            .forge
            .file(&file, &head)
            .await?
            .map(|b| String::from_utf8_lossy(&b).to_string());
        let edit =
            crate::promotion::edit(item.target, item.image, digest, item.tag.as_ref(), |p| {
                (p == file).then(|| text.clone()).flatten()
            })
            .map_err(|e| ForgeError::edit(e.to_string()))?;
        Ok((head, edit))
    }

    fn evidence(
        &self,
        m: &Memory,
        item: &Item<'_>,
        c: &Candidate,
        edit: &crate::promotion::Edit,
    ) -> (Evidence, Marker) {
        let key = (item.target.name.clone(), item.image.release.clone());
        let gate = m.gates.get(&key);
        let p = item.target.promotion.as_ref().expect("targets promote");
        let registry = m
            .verified
            .get(&c.digest)
            .and_then(|(r, _)| r.as_ref().ok())
            .map(describe)
            .unwrap_or_default();
        let (log, more) = match &self.log {
            Some(log) => {
                let applied = self.applied.borrow().clone();
                let paths = applied
                    .as_ref()
                    .map(|a| release_paths(&a.environment, &item.image.release))
                    .unwrap_or_default();
                let source_file = applied
                    .as_ref()
                    .and_then(|a| a.environment.release(&item.image.release).cloned())
                    .and_then(|r| {
                        crate::environment::promoted::holder(&r, &item.image.path)
                            .ok()
                            .flatten()
                    })
                    .and_then(|(f, _)| {
                        let repo = &applied.as_ref()?.environment.repo;
                        f.strip_prefix(repo)
                            .ok()
                            .map(|p| p.to_string_lossy().to_string())
                    });
                let from = match (&source_file, &item.target_digest) {
                    (Some(f), Some(d)) => Some((f.as_str(), item.image.path.as_str(), d.as_str())),
                    _ => None,
                };
                let revision = applied
                    .as_ref()
                    .and_then(|a| a.revision.clone())
                    .unwrap_or_default();
                log(&revision, &paths, from)
            }
            None => (Vec::new(), 0),
        };
        let marker = Marker {
            what: What::Promote,
            target: item.target.name.clone(),
            release: item.image.release.clone(),
            digest: c.digest.clone(),
            from: self.source.clone(),
            revision: c.revision.clone(),
            // Lead time counts from dev running the digest healthily (the soak's start).
            applied_at: gate.and_then(|g| g.held.as_ref()).map(|h| h.since),
            superseded: false,
        };
        let evidence = Evidence {
            repository: item.image.repository.clone(),
            digest: c.digest.clone(),
            previous: item.target_digest.clone(),
            from: self.source.clone(),
            revision: c.revision.clone(),
            healthy_since: gate
                .and_then(|g| g.held.as_ref())
                .map(|h| rfc3339(h.since))
                .unwrap_or_default(),
            soak: p.soak.clone(),
            checks: m
                .checks
                .values()
                .map(|(o, _)| o.clone())
                .filter(|o| p.checks.iter().any(|c| c.http.url == o.name))
                .collect(),
            registry,
            file: edit.path.clone(),
            key: edit.key.clone(),
            log,
            more,
        };
        (evidence, marker)
    }

    async fn act(
        &self,
        m: &mut Memory,
        item: &Item<'_>,
        candidate: Option<&Candidate>,
        seen: &[Seen],
        action: Action,
    ) -> Result<(), ForgeError> {
        let target = &item.target.name;
        let release = &item.image.release;
        let branch = proposal::branch(target, release);
        match action {
            Action::Nothing(why) => {
                tracing::debug!(target = %target, release = %release, why, "promotion: nothing to do");
                Ok(())
            }
            Action::Open | Action::Update { .. } => {
                let Some(c) = candidate else { return Ok(()) };
                let (head, edit) = self.edit_at_head(item, &c.digest).await?;
                if edit.before == edit.after {
                    return Ok(());
                }
                let (evidence, marker) = self.evidence(m, item, c, &edit);
                let title = proposal::title(target, release, &c.digest, &self.source, &c.revision);
                let body = proposal::body(&evidence, &marker);
                self.forge
                    .commit(
                        &branch,
                        &head,
                        &[(edit.path.clone(), edit.after.into_bytes())],
                        &format!("{title}\n\n{}", marker.render()),
                    )
                    .await?;
                match action {
                    Action::Update { number, from } => {
                        self.forge
                            .edit(number, Kind::PullRequest, &title, &body)
                            .await?;
                        self.forge
                            .comment(
                                number,
                                &format!(
                                    "Updated from `{}` to `{}`, which {} has now run healthily. A review of the earlier digest does not cover this one.",
                                    gate::short(&from),
                                    gate::short(&c.digest),
                                    self.source
                                ),
                            )
                            .await?;
                        tracing::info!(target = %target, release = %release, number, digest = %c.digest, "promotion pull request updated");
                    }
                    _ => {
                        let pr = crate::forge::open_labelled_pull(
                            &*self.forge,
                            &title,
                            &body,
                            &branch,
                            &self.base,
                            proposal::LABEL,
                        )
                        .await?;
                        m.urls
                            .insert((target.clone(), release.clone()), pr.url.clone());
                        m.written
                            .insert((target.clone(), release.clone()), pr.number);
                        tracing::info!(target = %target, release = %release, number = pr.number, digest = %c.digest, "promotion pull request opened");
                    }
                }
                self.metrics
                    .promotions_total
                    .with_label_values(&[&self.source, target, "proposed"])
                    .inc();
                Ok(())
            }
            Action::Close { number, comment } => {
                self.forge.comment(number, &comment).await?;
                if let Some(body) = seen
                    .iter()
                    .find(|s| s.number == number)
                    .and(m.requests.as_ref())
                    .and_then(|(l, _)| l.iter().find(|r| r.number == number))
                    .and_then(|r| Marker::supersede(&r.body))
                {
                    self.forge
                        .edit_body(number, Kind::PullRequest, &body)
                        .await?;
                }
                self.forge.close(number, Kind::PullRequest).await?;
                if !seen.iter().any(|s| s.open && s.number != number) {
                    self.forge.delete_branch(&branch).await?;
                }
                self.metrics
                    .promotions_total
                    .with_label_values(&[&self.source, target, "superseded"])
                    .inc();
                Ok(())
            }
        }
    }

    /// `commit` mode: the edit as one commit on the tracked branch, fast-forward only.
    async fn commit(
        &self,
        m: &mut Memory,
        item: &Item<'_>,
        c: &Candidate,
    ) -> Result<(), ForgeError> {
        if item.target_digest.as_deref() == Some(c.digest.as_str()) {
            return Ok(());
        }
        let (head, edit) = self.edit_at_head(item, &c.digest).await?;
        if edit.before == edit.after {
            return Ok(());
        }
        let (evidence, marker) = self.evidence(m, item, c, &edit);
        let title = proposal::title(
            &item.target.name,
            &item.image.release,
            &c.digest,
            &self.source,
            &c.revision,
        );
        let message = format!("{title}\n\n{}", proposal::body(&evidence, &marker));
        let sha = self
            .forge
            .advance(
                &self.base,
                &head,
                &[(edit.path.clone(), edit.after.into_bytes())],
                &message,
            )
            .await?;
        tracing::info!(target = %item.target.name, release = %item.image.release, commit = %sha, digest = %c.digest, "promotion committed");
        m.urls
            .insert((item.target.name.clone(), item.image.release.clone()), sha);
        self.metrics
            .promotions_total
            .with_label_values(&[&self.source, &item.target.name, "committed"])
            .inc();
        Ok(())
    }
}

/// The agent's promotion requests for one (target, release), found by their marker.
fn seen_for(list: &[Request], item: &Item<'_>) -> Vec<Seen> {
    list.iter()
        .filter(|r| r.kind == Kind::PullRequest)
        .filter_map(|r| {
            let marker = Marker::parse(&r.body)?;
            (marker.what == What::Promote
                && marker.target == item.target.name
                && marker.release == item.image.release)
                .then_some(Seen {
                    number: r.number,
                    open: r.open,
                    merged: r.merged,
                    marker,
                })
        })
        .collect()
}

/// The registry's verification, in words.
fn describe(v: &Verification) -> String {
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
fn rollout(cache: &LiveCache, applied: &Applied, release: &str, digest: &str) -> Rollout {
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

/// The repository paths a release's Git log follows: its local chart and its values files.
fn release_paths(env: &Environment, release: &str) -> Vec<String> {
    let Some(r) = env.release(release) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let crate::environment::Chart::Local(dir) = &r.chart {
        out.push(
            dir.strip_prefix(&env.repo)
                .unwrap_or(dir)
                .to_string_lossy()
                .to_string(),
        );
    }
    for v in &r.values {
        out.push(
            v.strip_prefix(&env.repo)
                .unwrap_or(v)
                .to_string_lossy()
                .to_string(),
        );
    }
    out
}

async fn http_check(c: &crate::environment::HttpCheck) -> CheckOutcome {
    let timeout = c
        .timeout
        .as_deref()
        .and_then(crate::duration::parse)
        .unwrap_or(Duration::from_secs(5));
    let name = c.url.clone();
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            return CheckOutcome {
                name,
                passed: false,
                message: format!("cannot make an HTTP client: {e}"),
            }
        }
    };
    match client.get(&c.url).send().await {
        Err(e) => CheckOutcome {
            name,
            passed: false,
            message: format!("no answer: {}", without_url(&e)),
        },
        Ok(resp) => {
            let code = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let contains = c.expect.as_deref().is_none_or(|x| body.contains(x));
            let passed = code.is_success() && contains;
            let message = match (code.is_success(), contains, &c.expect) {
                (false, _, _) => format!("HTTP {}", code.as_u16()),
                (true, false, Some(x)) => {
                    format!("HTTP {}, the body does not contain {x:?}", code.as_u16())
                }
                (true, _, Some(x)) => format!("HTTP {}, contains {x:?}", code.as_u16()),
                (true, _, None) => format!("HTTP {}", code.as_u16()),
            };
            CheckOutcome {
                name,
                passed,
                message,
            }
        }
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "the check's URL");
    }
    s
}
