//! One environment's drift pull requests: for every release under policy `pull-request`, the
//! drift watch's feed and the forge's open and closed requests go into `drift::pr::next`, and
//! the action is carried out here — provenance maps the drift to values keys, the values files
//! are edited in place, the edit is proved by rendering, and the forge gets one commit on
//! `sextant/drift/<env>/<release>` and one pull request (or an issue, when nothing maps). The
//! loop writes nothing to the cluster: a rejected drift is healed by asking the reconciler.

mod listed;

use super::applied::Applied;
use super::drift::DriftFeed;
use super::forge_backoff::Backoff;
use super::shared::{either, settle, PassFailure, Shared};
use super::status::{DriftRequest, Failed};
use crate::apply::sync::{identity, Identity};
use crate::drift::pr::{self, Action, Current, Kind, Marker, OpenRequest};
use crate::drift::{proposal, provenance, ObjectDrift};
use crate::environment::{DriftPolicy, Environment};
use crate::forge::{ErrorKind, Forge, ForgeError, Query};
use crate::render::Renderer;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
// tokio's clock: a test pauses it and moves a drift past its delay.
use listed::{listed, Listed};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub struct PullRequests<F> {
    pub environment: String,
    pub forge: Arc<F>,
    /// The branch the agent tracks: pull requests are based on it.
    pub base: String,
    pub renderer: Arc<Renderer>,
    pub applied: watch::Receiver<Option<Arc<Applied>>>,
    pub feed: watch::Receiver<Arc<DriftFeed>>,
    pub heal: mpsc::Sender<Vec<Identity>>,
    pub shared: Shared,
}

#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("forge: {0}")]
    Forge(#[from] ForgeError),
    #[error("release {release}: {message}")]
    Propose { release: String, message: String },
    /// The pass opened a request and the forge does not list it: writing again would open
    /// another, so nothing more is written until it is seen.
    #[error("release {release}: request #{number} was opened on {branch} but the forge does not list it there; nothing more is written until it does")]
    Unseen {
        release: String,
        number: u64,
        branch: String,
    },
}

impl PassFailure for PassError {
    /// A bounded label for `/status`: the forge's, or what the loop itself found.
    fn label(&self) -> &'static str {
        match self {
            Self::Forge(e) => e.label,
            Self::Propose { .. } => "proposal_failed",
            Self::Unseen { .. } => "unseen",
        }
    }

    /// What the loop's backoff makes of it.
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Forge(e) => e.kind,
            Self::Propose { .. } => ErrorKind::Other,
            Self::Unseen { .. } => ErrorKind::Permanent,
        }
    }
}

/// What the loop remembers between passes (the rest is read back from the forge).
#[derive(Default)]
struct Memory {
    /// Since when each release's drift has held, by fingerprint.
    first_seen: HashMap<String, (String, Instant)>,
    /// Whether a fingerprint's drift maps to values (computed once per fingerprint).
    mappable: HashMap<String, bool>,
    /// When each open request was first seen (for the metric the 24 h alert reads).
    opened: HashMap<String, f64>,
    /// Requests this loop opened, by release, until the forge lists them.
    written: BTreeMap<String, (u64, Kind)>,
    backoff: Backoff,
}

impl<F: Forge + 'static> PullRequests<F> {
    pub async fn run(mut self) {
        let mut memory = Memory {
            backoff: Backoff::new(self.shared.retry),
            ..Memory::default()
        };
        loop {
            let applied = self.applied.borrow().clone();
            // Before the first sync, the default delay paces the loop.
            let delay = applied.as_ref().map_or_else(
                || {
                    crate::environment::PullRequestSettings::default()
                        .delay
                        .get()
                },
                |a| a.environment.drift.pull_request.delay.get(),
            );
            let waiting = memory.backoff.remaining(tokio::time::Instant::now());
            if let (Some(a), true, None) = (applied, self.shared.is_leading(), waiting) {
                if wants_pull_requests(&a.environment) {
                    let result = self.pass(&a, &mut memory, delay).await;
                    let failed = settle(&mut memory.backoff, &result);
                    self.record_error(failed, &memory.backoff);
                }
            }
            // Forge state (a merge, a close) is polled; drift changes wake the loop at once.
            let tick = delay.clamp(Duration::from_secs(1), Duration::from_secs(10));
            let tick = memory
                .backoff
                .remaining(tokio::time::Instant::now())
                .map_or(tick, |w| w.max(Duration::from_millis(1)));
            let woken = either(&mut self.feed, &mut self.applied);
            if !self.shared.wait(tick, woken).await {
                return;
            }
        }
    }

    /// The pass's failure, or `None`, in `/status` and the log.
    fn record_error(&self, failed: Option<Failed>, backoff: &Backoff) {
        let waiting = backoff.status(tokio::time::Instant::now());
        let (label, error) = failed.map(|f| (f.label, f.message)).unzip();
        if let Some(e) = &error {
            match &waiting {
                Some(w) => {
                    tracing::warn!(environment = %self.environment, error = %e, until = %w.until, failures = w.failures, "drift pull requests: the forge refused; leaving it alone until then")
                }
                None => {
                    tracing::warn!(environment = %self.environment, error = %e, "drift pull requests")
                }
            }
        }
        if let Ok(mut s) = self.shared.status.lock() {
            let d = &mut s
                .environments
                .entry(self.environment.clone())
                .or_default()
                .drift_requests;
            d.last_error = error;
            d.error = label;
            d.waiting = waiting;
        }
    }

    async fn pass(
        &self,
        a: &Applied,
        memory: &mut Memory,
        delay: Duration,
    ) -> Result<(), PassError> {
        let env = &a.environment;
        let feed = self.feed.borrow().clone();
        if !feed.known {
            // Nothing is decided on a cache that is listing or down.
            return Ok(());
        }
        // The agent's own requests: by their branch (one per release), whatever else the
        // repository holds; issues by label. The marker in the body decides what each is.
        let query = Query {
            branches: env
                .releases
                .iter()
                .map(|r| pr::branch(&env.name, &r.name))
                .collect(),
            issue_label: Some(pr::LABEL.to_string()),
        };
        let requests = self.forge.requests(&query).await?;
        // A request this loop opened and cannot see: write nothing more until it shows.
        seen_what_was_written(&env.name, &requests, &mut memory.written)?;
        let Listed {
            open,
            bodies,
            closed,
        } = listed(&env.name, &requests);
        let mut by_release: BTreeMap<String, Vec<ObjectDrift>> = BTreeMap::new();
        for d in &feed.objects {
            if env.drift_policy(&d.release) == DriftPolicy::PullRequest {
                by_release
                    .entry(d.release.clone())
                    .or_default()
                    .push(d.clone());
            }
        }
        let releases: BTreeSet<String> = by_release.keys().chain(open.keys()).cloned().collect();
        let mut acted = false;
        for release in releases {
            let drifts = by_release.get(&release).cloned().unwrap_or_default();
            let o = open.get(&release);
            let current = if drifts.is_empty() {
                memory.first_seen.remove(&release);
                None
            } else {
                let fingerprint = pr::fingerprint(&drifts);
                let seen = memory
                    .first_seen
                    .entry(release.clone())
                    .or_insert_with(|| (fingerprint.clone(), Instant::now()));
                if seen.0 != fingerprint {
                    *seen = (fingerprint.clone(), Instant::now());
                }
                let mappable = match o.filter(|o| o.marker.fingerprint == fingerprint) {
                    Some(o) => o.kind == Kind::PullRequest,
                    None => match memory.mappable.get(&fingerprint) {
                        Some(m) => *m,
                        None => {
                            let m = self
                                .propose(env, &release, &drifts, &feed, None)
                                .await
                                .map(|p| !p.mapping.edits.is_empty())?;
                            memory.mappable.insert(fingerprint.clone(), m);
                            m
                        }
                    },
                };
                Some(Current {
                    fingerprint: fingerprint.clone(),
                    held: seen.1.elapsed(),
                    mappable,
                })
            };
            let c = current.as_ref();
            let was_closed = c.and_then(|c| closed.get(&(release.clone(), c.fingerprint.clone())));
            let action = pr::next(c, o, was_closed.copied(), delay);
            tracing::debug!(environment = %env.name, release, ?action, "drift pull request decision");
            let body = o.and_then(|o| bodies.get(&o.number)).cloned();
            acted |= !matches!(action, Action::Nothing | Action::Wait(_));
            if let Some(written) = self
                .act(env, &release, &drifts, &feed, o, body.as_deref(), c, action)
                .await?
            {
                memory.written.insert(release.clone(), written);
            }
        }
        // What was read at the start still holds unless this pass changed the forge.
        let requests = if acted {
            let requests = self.forge.requests(&query).await?;
            seen_what_was_written(&env.name, &requests, &mut memory.written)?;
            requests
        } else {
            requests
        };
        self.publish(&requests, memory);
        Ok(())
    }

    /// Publishes the open requests in status and metrics.
    fn publish(&self, requests: &[crate::forge::Request], memory: &mut Memory) {
        let mut list = Vec::new();
        for r in requests.iter().filter(|r| r.open) {
            let Some(m) = Marker::parse(&r.body).filter(|m| m.environment == self.environment)
            else {
                continue;
            };
            let opened = r
                .created_at
                .as_deref()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map(|t| t.as_second() as f64);
            list.push((
                DriftRequest {
                    release: m.release,
                    kind: r.kind,
                    number: r.number,
                    url: r.url.clone(),
                },
                opened,
            ));
        }
        let env = self.environment.as_str();
        for (state, kind) in [("open", Kind::PullRequest), ("issue", Kind::Issue)] {
            self.shared
                .metrics
                .drift_pull_requests
                .with_label_values(&[env, state])
                .set(list.iter().filter(|(r, _)| r.kind == kind).count() as i64);
        }
        let now = super::clock::unix_now();
        let releases: BTreeMap<&str, Option<f64>> = list
            .iter()
            .map(|(r, opened)| (r.release.as_str(), *opened))
            .collect();
        memory.opened.retain(|release, _| {
            let keep = releases.contains_key(release.as_str());
            if !keep {
                let _ = self
                    .shared
                    .metrics
                    .drift_pull_request_opened_timestamp_seconds
                    .remove_label_values(&[env, release]);
            }
            keep
        });
        for (release, opened) in releases {
            // The forge's own creation time, so a restart does not reset the age; when it
            // gives none, when this leader first saw the request.
            let at = *memory
                .opened
                .entry(release.to_string())
                .or_insert(opened.unwrap_or(now));
            self.shared
                .metrics
                .drift_pull_request_opened_timestamp_seconds
                .with_label_values(&[env, release])
                .set(at);
        }
        if let Ok(mut s) = self.shared.status.lock() {
            s.environments
                .entry(self.environment.clone())
                .or_default()
                .drift_requests
                .open = list.into_iter().map(|(r, _)| r).collect();
        }
    }

    /// The proposal for a release's drift (no edits: nothing maps, an issue then). With `base`,
    /// the values files are read at that commit of the forge, edited, and proved.
    async fn propose(
        &self,
        env: &Environment,
        release: &str,
        drifts: &[ObjectDrift],
        feed: &DriftFeed,
        base: Option<&str>,
    ) -> Result<Proposal, PassError> {
        let perr = |message: String| PassError::Propose {
            release: release.to_string(),
            message,
        };
        let r = env
            .release(release)
            .cloned()
            .ok_or_else(|| perr("no longer in the environment".into()))?;
        let live = feed.live.get(release).cloned().unwrap_or_default();
        let (renderer, e, d, l, rel) = (
            self.renderer.clone(),
            env.clone(),
            drifts.to_vec(),
            live.clone(),
            r.clone(),
        );
        let mut mapping =
            tokio::task::spawn_blocking(move || provenance::map(&renderer, &e, &rel, &d, &l))
                .await
                .map_err(|e| perr(e.to_string()))?
                .map_err(|e| perr(e.to_string()))?;
        proposal::without_secrets(&mut mapping, drifts);
        proposal::without_unsealable(&env.repo, &mut mapping, drifts, |f| self.renderer.opens(f));
        let Some(base) = base.filter(|_| !mapping.edits.is_empty()) else {
            return Ok(Proposal::unmapped(mapping));
        };
        let mut texts = HashMap::new();
        for path in proposal::files(&env.repo, &mapping.edits).map_err(|e| perr(e.to_string()))? {
            if let Some(bytes) = self.forge.file(&path, base).await? {
                texts.insert(path, String::from_utf8_lossy(&bytes).to_string());
            }
        }
        let sealing = proposal::Sealing::of(&self.renderer);
        let files = proposal::edit_files(
            &env.repo,
            &mapping.edits,
            |p| texts.get(p).cloned(),
            &sealing,
        )
        .map_err(|e| perr(e.to_string()))?;
        let replaced: Vec<_> = files
            .iter()
            .map(|f| (env.repo.join(&f.path), f.after.clone()))
            .collect();
        let targets = mapping.targets();
        let (renderer, e) = (self.renderer.clone(), env.clone());
        let proof = tokio::task::spawn_blocking(move || {
            provenance::prove_with_files(&renderer, &e, &r, &replaced, &targets, &live)
        })
        .await
        .map_err(|e| perr(e.to_string()))?
        .map_err(|e| perr(e.to_string()))?;
        if !proof.holds() {
            return Err(perr(format!(
                "the edited values files do not render what is live ({} differences); nothing proposed",
                proof.failures.len()
            )));
        }
        Ok(Proposal { mapping, files })
    }

    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        env: &Environment,
        release: &str,
        drifts: &[ObjectDrift],
        feed: &DriftFeed,
        open: Option<&OpenRequest>,
        body: Option<&str>,
        current: Option<&Current>,
        action: Action,
    ) -> Result<Option<(u64, Kind)>, PassError> {
        let kind_of = |n: u64| {
            open.filter(|o| o.number == n)
                .map_or(Kind::PullRequest, |o| o.kind)
        };
        let branch = pr::branch(&env.name, release);
        match action {
            Action::Nothing | Action::Wait(_) => Ok(None),
            Action::Close(n) => {
                self.forge
                    .comment(n, "The drift is gone: the cluster and Git agree again (the live change was undone, or Git changed to match). Closing.")
                    .await?;
                self.close(n, kind_of(n), &branch, body).await?;
                tracing::info!(environment = %env.name, release, number = n, "drift request closed: drift resolved");
                Ok(None)
            }
            Action::Heal(n) => {
                if let Some(n) = n {
                    self.forge
                        .comment(n, "A pull request with this drift was closed without merging: Sextant restores Git.")
                        .await?;
                    self.close(n, kind_of(n), &branch, body).await?;
                }
                let ids: Vec<Identity> = drifts.iter().map(|d| identity(&d.reference)).collect();
                tracing::info!(environment = %env.name, release, objects = ids.len(), "drift rejected in review: healing");
                let _ = self.heal.send(ids).await;
                Ok(None)
            }
            Action::Replace(n, kind) => {
                self.forge
                    .comment(
                        n,
                        "Superseded: the drift changed, and a new request replaces this one.",
                    )
                    .await?;
                self.close(n, kind_of(n), &branch, body).await?;
                self.open(env, release, drifts, feed, current, kind, None)
                    .await
            }
            Action::Open(kind) => {
                self.open(env, release, drifts, feed, current, kind, None)
                    .await
            }
            Action::Update(n) => {
                let kind = kind_of(n);
                self.open(env, release, drifts, feed, current, kind, Some(n))
                    .await
            }
        }
    }

    /// Closes a request the agent itself ends, its marker marked resolved first, so that a
    /// later pass does not read the close as a reviewer's rejection.
    async fn close(
        &self,
        n: u64,
        kind: Kind,
        branch: &str,
        body: Option<&str>,
    ) -> Result<(), PassError> {
        if let Some(resolved) = body.and_then(Marker::resolve) {
            self.forge.edit_body(n, kind, &resolved).await?;
        }
        self.forge.close(n, kind).await?;
        if kind == Kind::PullRequest {
            self.forge.delete_branch(branch).await?;
        }
        Ok(())
    }

    /// A request's title and body, with no Secret's value and no value decrypted from a SOPS
    /// file in them.
    fn texts(
        &self,
        marker: &Marker,
        drifts: &[ObjectDrift],
        mapping: &provenance::Mapping,
        files: &[proposal::FileEdit],
    ) -> (String, String) {
        let masked: Vec<ObjectDrift> = drifts.iter().map(ObjectDrift::masked).collect();
        let sealed = self.renderer.sealed();
        let (env, release) = (&marker.environment, &marker.release);
        let title = proposal::title(env, release, mapping, &masked, &sealed);
        let body = proposal::body(marker, &masked, mapping, files, &sealed);
        (sealed.scrub(&title), sealed.scrub(&body))
    }

    /// Opens (or, with `update`, rewrites) the release's request.
    #[allow(clippy::too_many_arguments)]
    async fn open(
        &self,
        env: &Environment,
        release: &str,
        drifts: &[ObjectDrift],
        feed: &DriftFeed,
        current: Option<&Current>,
        kind: Kind,
        update: Option<u64>,
    ) -> Result<Option<(u64, Kind)>, PassError> {
        let Some(c) = current else { return Ok(None) };
        let marker = Marker {
            environment: env.name.clone(),
            release: release.to_string(),
            fingerprint: c.fingerprint.clone(),
            resolved: false,
        };
        let settings = &env.drift.pull_request;
        let mut labels = vec![pr::LABEL.to_string()];
        labels.extend(settings.labels.iter().cloned());
        match kind {
            Kind::PullRequest => {
                let base = self.forge.head(&self.base).await?;
                let p = self
                    .propose(env, release, drifts, feed, Some(&base))
                    .await?;
                if p.files.is_empty() {
                    return Err(PassError::Propose {
                        release: release.to_string(),
                        message: "nothing maps to a values key any more".into(),
                    });
                }
                let (title, body) = self.texts(&marker, drifts, &p.mapping, &p.files);
                let branch = pr::branch(&env.name, release);
                let files: Vec<(String, Vec<u8>)> = p
                    .files
                    .iter()
                    .map(|f| (f.path.clone(), f.after.clone().into_bytes()))
                    .collect();
                self.forge
                    .commit(
                        &branch,
                        &base,
                        &files,
                        &format!("{title}\n\n{}", marker.render()),
                    )
                    .await?;
                let number = match update {
                    Some(n) => {
                        self.forge.edit(n, kind, &title, &body).await?;
                        n
                    }
                    None => {
                        let r = self
                            .forge
                            .open_pull(&title, &body, &branch, &self.base)
                            .await?;
                        self.forge
                            .decorate(
                                r.number,
                                kind,
                                &labels,
                                &settings.reviewers,
                                &settings.assignees,
                            )
                            .await?;
                        r.number
                    }
                };
                tracing::info!(environment = %env.name, release, number, updated = update.is_some(), "drift pull request");
                Ok(Some((number, kind)))
            }
            Kind::Issue => {
                let mapping = self
                    .propose(env, release, drifts, feed, None)
                    .await?
                    .mapping;
                let (title, body) = self.texts(&marker, drifts, &mapping, &[]);
                let number = match update {
                    Some(n) => {
                        self.forge.edit(n, kind, &title, &body).await?;
                        n
                    }
                    None => {
                        let r = self.forge.open_issue(&title, &body, &labels).await?;
                        self.forge
                            .decorate(r.number, kind, &[], &[], &settings.assignees)
                            .await?;
                        r.number
                    }
                };
                tracing::info!(environment = %env.name, release, number, "drift issue (nothing maps to values)");
                Ok(Some((number, kind)))
            }
        }
    }
}

/// Forgets each written request the forge now lists; a written one it does not list is
/// [`PassError::Unseen`] (the loop then backs off instead of writing another).
fn seen_what_was_written(
    environment: &str,
    requests: &[crate::forge::Request],
    written: &mut BTreeMap<String, (u64, Kind)>,
) -> Result<(), PassError> {
    written.retain(|_, (n, kind)| !requests.iter().any(|r| r.number == *n && r.kind == *kind));
    match written.iter().next() {
        None => Ok(()),
        Some((release, (number, kind))) => Err(PassError::Unseen {
            release: release.clone(),
            number: *number,
            branch: match kind {
                Kind::PullRequest => pr::branch(environment, release),
                Kind::Issue => format!("the issues labelled {}", pr::LABEL),
            },
        }),
    }
}

/// A release's mapping, with its values files edited (empty before a base commit is known).
struct Proposal {
    mapping: provenance::Mapping,
    files: Vec<proposal::FileEdit>,
}

impl Proposal {
    fn unmapped(mapping: provenance::Mapping) -> Self {
        Proposal {
            mapping,
            files: Vec::new(),
        }
    }
}

fn wants_pull_requests(env: &Environment) -> bool {
    env.releases
        .iter()
        .any(|r| env.drift_policy(&r.name) == DriftPolicy::PullRequest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::Status;
    use crate::forge::Request;
    use crate::metrics::Metrics;
    use std::sync::Mutex;
    use tokio::time::Duration;

    fn request(number: u64, kind: Kind) -> Request {
        Request {
            number,
            kind,
            url: format!("https://github.example/acme/deploy/pull/{number}"),
            body: String::new(),
            open: true,
            merged: false,
            created_at: None,
        }
    }

    /// prod, its release `web` under `pull-request`, as applied, and a scale of it as the drift
    /// watch feeds it.
    fn drifted_prod(repo: &std::path::Path) -> (Arc<Applied>, Arc<DriftFeed>) {
        let chart = repo.join("charts/web");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: web\n").unwrap();
        let dir = repo.join("environments/prod");
        std::fs::create_dir_all(&dir).unwrap();
        let text = "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {name: web, namespace: web, chart: charts/web}\n  drift:\n    policy: pull-request\n";
        std::fs::write(dir.join("environment.yaml"), text).unwrap();
        let env = crate::environment::load(repo, "prod").unwrap();
        let reference = crate::object::ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: Some("web".into()),
            name: "web".into(),
        };
        let drift = ObjectDrift {
            release: "web".into(),
            object: reference.to_string(),
            reference,
            deleted: false,
            fields: vec![crate::drift::FieldDrift {
                path: "/spec/replicas".into(),
                git: serde_json::json!(2),
                live: Some(serde_json::json!(5)),
                manager: Some("kubectl".into()),
                changed_at: None,
            }],
        };
        let feed = DriftFeed {
            known: true,
            objects: vec![drift],
            live: HashMap::new(),
        };
        let applied = Applied::new(env, Some("a".repeat(40)), Vec::new());
        (Arc::new(applied), Arc::new(feed))
    }

    /// A forge that refuses the token (401, permanent) is left alone 5, 10, then 20 s, one
    /// request a pass, and `/status` shows the wait with its reason; the pass after it answers
    /// goes on (here to the proposal, which fails on its own: no helm, so no backoff).
    #[tokio::test(start_paused = true)]
    async fn a_refused_token_is_backed_off_5_10_20_s_one_request_a_pass_and_shown() {
        use sextant_fakes::FakeForge;
        let repo = tempfile::tempdir().unwrap();
        let (applied, feed) = drifted_prod(repo.path());
        let forge = Arc::new(FakeForge::new());
        forge.fail("requests", FakeForge::unauthorized(), 3);
        let (_applied_tx, applied) = watch::channel(Some(applied));
        let (_feed_tx, feed) = watch::channel(feed);
        let (_lead_tx, leading) = watch::channel(true);
        let (_stop_tx, stop) = watch::channel(false);
        let (heal, _heals) = mpsc::channel(4);
        let status = Arc::new(Mutex::new(Status::default()));
        let renderer = Arc::new(Renderer::new(
            crate::render::helm::Helm::new(repo.path().join("no-helm")),
            crate::render::cache::RenderCache::new(repo.path().join("cache")),
            crate::render::Settings::default(),
        ));
        let task = tokio::spawn(
            PullRequests {
                environment: "prod".into(),
                forge: forge.clone(),
                base: "main".into(),
                renderer,
                applied,
                feed,
                heal,
                shared: Shared {
                    leading,
                    stop,
                    metrics: Metrics::new().unwrap(),
                    status: status.clone(),
                    retry: crate::config::RETRY,
                },
            }
            .run(),
        );
        let started = tokio::time::Instant::now();
        // (second, the forge's requests read so far, the failures /status shows)
        let table = [
            (1, 1, Some(1)),
            (4, 1, Some(1)),
            (6, 2, Some(2)),
            (14, 2, Some(2)),
            (16, 3, Some(3)),
            (34, 3, Some(3)),
            (36, 4, None),
        ];
        for (at, requests, failures) in table {
            tokio::time::sleep_until(started + Duration::from_secs(at)).await;
            assert_eq!(forge.count("requests"), requests, "at {at} s");
            let shown = status.lock().unwrap().environments["prod"]
                .drift_requests
                .clone();
            let waiting = shown.waiting.as_ref();
            assert_eq!(
                waiting.map(|w| w.failures),
                failures,
                "at {at} s: {waiting:?}"
            );
            if let Some(w) = waiting {
                assert_eq!(shown.error, Some("unauthorized"), "at {at} s");
                assert!(w.reason.contains("401"), "{w:?}");
                assert!(shown
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("401")));
            }
        }
        assert!(forge.stored().is_empty(), "nothing opened");
        task.abort();
    }

    #[test]
    fn a_written_request_the_forge_does_not_list_stops_the_pass_until_it_shows() {
        let mut written = BTreeMap::from([("web".to_string(), (7, Kind::PullRequest))]);
        // Listed (by number and kind): forgotten, the pass goes on.
        assert!(
            seen_what_was_written("prod", &[request(7, Kind::PullRequest)], &mut written).is_ok()
        );
        assert!(written.is_empty());
        // Not listed: an error naming the request and its branch, and it is kept.
        written.insert("web".into(), (8, Kind::PullRequest));
        let e =
            seen_what_was_written("prod", &[request(8, Kind::Issue)], &mut written).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::Permanent,
            "backed off, not retried each tick"
        );
        let text = e.to_string();
        assert!(
            text.contains("#8") && text.contains("sextant/drift/prod/web"),
            "{text}"
        );
        assert_eq!(written.len(), 1);
        // Shown at last: forgotten.
        assert!(
            seen_what_was_written("prod", &[request(8, Kind::PullRequest)], &mut written).is_ok()
        );
        assert!(written.is_empty());
    }

    /// prod with release `web` (a Deployment whose replicas come from `replicaCount`) under
    /// `pull-request` with a 2 minute delay, on disk and on the forge's main; what a sync
    /// applied; and the drift feed with the Deployment scaled to `live` replicas by kubectl.
    struct World {
        repo: tempfile::TempDir,
        forge: Arc<FakeForge>,
        applied: Arc<Applied>,
        feed: watch::Sender<Arc<DriftFeed>>,
        heals: mpsc::Receiver<Vec<Identity>>,
        loop_: PullRequests<FakeForge>,
    }

    use sextant_fakes::FakeForge;

    const VALUES: &str = "environments/prod/values/web.yaml";

    fn world() -> World {
        let repo = tempfile::tempdir().unwrap();
        let files = [
            ("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n".to_string()),
            (
                "charts/web/templates/deployment.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{ .Values.replicaCount }}\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - {name: web, image: example.com/web:1}\n".to_string(),
            ),
            (
                "environments/prod/environment.yaml",
                "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {name: web, namespace: web, chart: charts/web, values: [values/web.yaml]}\n  drift:\n    policy: pull-request\n    pullRequest:\n      delay: 2m\n".to_string(),
            ),
            (VALUES, "# web\nreplicaCount: 2\n".to_string()),
        ];
        let forge = Arc::new(FakeForge::new());
        for (path, text) in &files {
            let file = repo.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        let seeded: Vec<(&str, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
        let revision = forge.seed("main", &seeded);
        let renderer = super::super::testing::renderer(repo.path());
        let (env, plan) = crate::plan_environment(&renderer, repo.path(), "prod").unwrap();
        let objects: Vec<_> = plan.objects().cloned().collect();
        let applied = Arc::new(Applied::new(env, Some(revision), objects));
        let (feed, feed_rx) = watch::channel(Arc::new(DriftFeed::default()));
        let (heal, heals) = mpsc::channel(4);
        let loop_ = PullRequests {
            environment: "prod".into(),
            forge: forge.clone(),
            base: "main".into(),
            renderer,
            applied: watch::channel(Some(applied.clone())).1,
            feed: feed_rx,
            heal,
            shared: Shared::leading_alone(),
        };
        let w = World {
            repo,
            forge,
            applied,
            feed,
            heals,
            loop_,
        };
        w.scale(Some(5));
        w
    }

    impl World {
        /// The drift feed with the Deployment live at `replicas` (set by kubectl), or in sync.
        fn scale(&self, replicas: Option<i64>) {
            let o = &self.applied.objects[0];
            let mut live = o.manifest.clone();
            if let Some(n) = replicas {
                live["spec"]["replicas"] = serde_json::json!(n);
                live["metadata"]["managedFields"] = serde_json::json!([{"manager": "kubectl", "operation": "Update",
                    "apiVersion": "apps/v1", "time": "2026-12-07T00:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}}}]);
            }
            let drift = crate::drift::evaluate(&self.applied.environment, o, Some(&live));
            self.feed.send_replace(Arc::new(DriftFeed {
                known: true,
                objects: drift.into_iter().collect(),
                live: HashMap::from([("web".to_string(), vec![live])]),
            }));
        }

        async fn pass(&self, m: &mut Memory) {
            self.loop_
                .pass(&self.applied, m, Duration::from_secs(120))
                .await
                .unwrap();
        }

        fn requests(&self) -> Vec<sextant_fakes::Stored> {
            self.forge.stored()
        }
    }

    /// The loop's lifecycle over the fake forge, a pass at a time under a paused clock: a drift
    /// waits out its delay, then one pull request carries the values edit; later passes write
    /// nothing; a drift undone closes it and deletes its branch; a request closed unmerged
    /// asks the reconciler to heal and is not proposed again.
    #[tokio::test(start_paused = true)]
    async fn a_drift_waits_its_delay_then_one_pull_request_which_closes_when_undone_or_heals_when_rejected(
    ) {
        let mut w = world();
        let mut m = Memory::default();
        w.pass(&mut m).await;
        assert!(w.requests().is_empty(), "held less than the delay: waits");
        tokio::time::advance(Duration::from_secs(121)).await;
        w.pass(&mut m).await;
        let pulls = w.requests();
        assert_eq!(pulls.len(), 1, "{pulls:?}");
        let pr = &pulls[0];
        assert_eq!(
            (pr.kind, pr.head.as_deref()),
            (Kind::PullRequest, Some("sextant/drift/prod/web"))
        );
        assert!(
            pr.labels.iter().any(|l| l == "sextant-drift"),
            "{:?}",
            pr.labels
        );
        assert!(pr.title.contains("replicaCount 2 → 5"), "{}", pr.title);
        let proposed =
            String::from_utf8(w.forge.file_on("sextant/drift/prod/web", VALUES).unwrap()).unwrap();
        assert_eq!(
            proposed, "# web\nreplicaCount: 5\n",
            "the values edit, the comment kept"
        );
        for _ in 0..3 {
            w.pass(&mut m).await;
        }
        assert_eq!(w.forge.count("open_pull"), 1, "later passes open nothing");
        assert_eq!(w.forge.count("commit"), 1);

        // Undone live: the request is closed with a comment and its branch deleted.
        w.scale(None);
        w.pass(&mut m).await;
        let pr = &w.requests()[0];
        assert!(!pr.open, "{pr:?}");
        assert!(
            pr.comments.iter().any(|c| c.contains("The drift is gone")),
            "{:?}",
            pr.comments
        );
        assert_eq!(w.forge.branch_head("sextant/drift/prod/web"), None);

        // The same drift again: a new request after the delay; rejected in review, it heals.
        w.scale(Some(5));
        w.pass(&mut m).await;
        tokio::time::advance(Duration::from_secs(121)).await;
        w.pass(&mut m).await;
        let second = w
            .requests()
            .iter()
            .find(|r| r.open)
            .map(|r| r.number)
            .expect("a second request");
        w.forge.reject(second);
        w.pass(&mut m).await;
        let healed = w.heals.try_recv().expect("a heal asked of the reconciler");
        assert_eq!(healed, [identity(&w.applied.objects[0].reference)]);
        for _ in 0..2 {
            w.pass(&mut m).await;
        }
        assert!(w.requests().iter().all(|r| !r.open), "not proposed again");
        assert_eq!(w.forge.count("open_pull"), 2);
        let _ = &w.repo;
    }
}
