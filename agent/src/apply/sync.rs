//! One sync of an environment's plan: wave by wave, server-side apply, health gates, hooks, then
//! prune and inventory. Writes nothing for an object whose live state already matches Git.
//! Live state comes from a `LiveView` where one is given and knows the kind (the daemon's watch
//! cache), else from one LIST per kind and namespace.

use super::cluster::{Cluster, ClusterError};
use super::inventories;
use super::result::{ObjectResult, Outcome, SyncFailure, SyncResult, WaveResult};
use super::view::{self, LiveView};
use crate::compare::{Comparison, Keep};
use crate::environment::Environment;
use crate::object::{Object, ObjectRef, LABEL_ENVIRONMENT, LABEL_MANAGED_BY, MANAGER};
use crate::plan::Plan;
use futures::{stream, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub dry_run: bool,
    pub force_conflicts: bool,
    pub prune: bool,
    pub create_namespace: bool,
    pub wave_timeout: Duration,
    /// Objects of one wave applied at once.
    pub concurrency: usize,
    /// Where inventories live.
    pub agent_namespace: String,
    /// How often health is read while waiting for a wave; with a `live` view, which wakes the
    /// gates on every change, how long they wait at most for one (at least a second).
    pub poll_interval: Duration,
    /// When it turns true, no new wave starts (the current wave's writes finish): graceful
    /// shutdown.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// How much one revision may prune without an operator's yes.
    pub prune_guard: super::prune::PruneGuard,
    /// The longest a whole sync may take (`spec.sync.timeout`); then it stops where it is.
    pub deadline: Duration,
    /// Releases whose live drift this sync leaves as it is (a resync under a `report` or
    /// `pull-request` drift policy): their objects that differ from Git, or are gone, are not
    /// written.
    pub hold: HashSet<String>,
    /// A resync of the revision already applied (not a new commit).
    pub resync: bool,
    /// Leave drift the release's policy leaves in place (`report`, `pull-request`) out of what
    /// is applied, so that a new commit applies in full beside it (the daemon's syncs). `false`
    /// (the CLI), or with `force_conflicts`: Git claims every field it sets, and a field
    /// another manager holds is a conflict a person resolves.
    pub leave_drift: bool,
    /// Live objects kept current by watches (the daemon's cache): read instead of listing, and
    /// waited on by health gates. `None` (the CLI): everything is read from the API.
    pub live: Option<Arc<dyn LiveView>>,
}

impl SyncOptions {
    /// The environment's own settings (`spec.sync`), with the agent's defaults.
    pub fn for_environment(env: &Environment) -> Self {
        SyncOptions {
            dry_run: false,
            force_conflicts: env.sync.force_conflicts,
            prune: env.sync.prune,
            create_namespace: env.sync.create_namespace,
            wave_timeout: env.sync.wave_timeout.get(),
            concurrency: 8,
            agent_namespace: "sextant-system".into(),
            poll_interval: Duration::from_millis(250),
            stop: None,
            prune_guard: super::prune::PruneGuard {
                limit_percent: env.sync.prune_limit_percent(),
                allow_mass_prune: env.sync.allow_mass_prune,
            },
            deadline: env.sync.timeout.get(),
            hold: HashSet::new(),
            resync: false,
            leave_drift: false,
            live: None,
        }
    }
}

pub use super::error::SyncError;
pub use crate::object::ObjectKey as Identity;

/// The identity of the object `r` names, its version aside.
pub fn identity(r: &ObjectRef) -> Identity {
    r.key()
}

pub(super) struct Run<'a, C> {
    pub(super) cluster: &'a C,
    pub(super) env: &'a Environment,
    pub(super) plan: &'a Plan,
    pub(super) opts: &'a SyncOptions,
    pub(super) live: HashMap<Identity, Option<Value>>,
    /// Objects this sync wrote: their prefetched state is stale.
    pub(super) written: HashSet<Identity>,
    /// The resourceVersion each write of this sync returned.
    pub(super) versions: HashMap<Identity, String>,
    pub(super) changed_releases: HashSet<String>,
}

/// Applies a plan. Never panics on cluster errors: they end up in the result's `error`.
pub async fn sync(
    cluster: &impl Cluster,
    env: &Environment,
    plan: &Plan,
    opts: &SyncOptions,
) -> SyncResult {
    let started = Instant::now();
    let mut result = SyncResult {
        environment: env.name.clone(),
        revision: plan.revision.clone(),
        dry_run: opts.dry_run,
        succeeded: false,
        error: None,
        duration_seconds: 0.0,
        waves: Vec::new(),
        pruned: Vec::new(),
        totals: Default::default(),
        unhealthy: false,
    };
    let outcome = tokio::time::timeout(opts.deadline, run(cluster, env, plan, opts, &mut result))
        .await
        .unwrap_or(Err(SyncError::Deadline {
            after: opts.deadline,
        }));
    if let Err(e) = outcome {
        tracing::warn!(environment = %env.name, error = %e, "sync failed");
        result.unhealthy = matches!(e, SyncError::Timeout { .. } | SyncError::Degraded { .. });
        result.error = Some(SyncFailure::from(&e));
    }
    result.succeeded = result.error.is_none();
    result.duration_seconds = started.elapsed().as_secs_f64();
    result.count();
    result
}

async fn run(
    cluster: &impl Cluster,
    env: &Environment,
    plan: &Plan,
    opts: &SyncOptions,
    result: &mut SyncResult,
) -> Result<(), SyncError> {
    // Read everything first: what is live decides what to write; the inventories decide which
    // releases changed in Git (hooks of an unchanged release do not run, so neither a repeated
    // sync nor a heal of live drift runs them).
    let objects: Vec<&Object> = plan.objects().collect();
    let live = prefetch(cluster, opts.live.as_deref(), &objects, opts.concurrency).await?;
    let store = inventories::Store::new(cluster, &opts.agent_namespace, &env.name);
    let previous = store.read().await?;
    let desired = inventories::desired(plan);
    let mut run = Run {
        cluster,
        env,
        plan,
        opts,
        live,
        written: HashSet::new(),
        versions: HashMap::new(),
        changed_releases: inventories::changed_releases(&previous, &desired),
    };
    let namespaces = run.ensure_namespaces(env, plan).await?;
    if !opts.dry_run {
        store.record_pending(&previous, &desired).await?;
    }
    run.waves(namespaces, result).await?;
    let mut deferred = BTreeMap::new();
    if opts.prune {
        let pruned = super::prune::prune(
            cluster,
            &env.name,
            opts.dry_run,
            &opts.prune_guard,
            &previous,
            &desired,
        )
        .await?;
        result.pruned = pruned.results;
        deferred = pruned.deferred;
    }
    if !opts.dry_run {
        store
            .settle(opts.prune, &previous, &desired, &deferred)
            .await?;
        if let Some(revision) = &plan.revision {
            super::state::record(cluster, &opts.agent_namespace, &env.name, revision).await?;
        }
    }
    Ok(())
}

/// The live state of every object of the plan: from the view for the kinds it knows, else with
/// one LIST per kind and namespace rather than a GET per object. A sync that changes nothing
/// costs a handful of requests, none for watched kinds.
async fn prefetch(
    cluster: &impl Cluster,
    view: Option<&dyn LiveView>,
    objects: &[&Object],
    concurrency: usize,
) -> Result<HashMap<Identity, Option<Value>>, ClusterError> {
    let mut known: HashMap<Identity, Option<Value>> = HashMap::new();
    let mut groups: BTreeMap<(String, String, String, Option<String>), ObjectRef> = BTreeMap::new();
    for o in objects {
        let r = &o.reference;
        if let Some(seen) = view.and_then(|v| v.lookup(r)) {
            known.insert(identity(r), seen.map(|c| c.object));
            continue;
        }
        let key = (
            r.group.clone(),
            r.version.clone(),
            r.kind.clone(),
            r.namespace.clone(),
        );
        groups.entry(key).or_insert_with(|| r.clone());
    }
    let lists: Vec<Vec<Value>> = stream::iter(
        groups
            .values()
            .map(|r| list_of(cluster, r))
            .collect::<Vec<_>>(),
    )
    .buffered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<_, _>>()?;
    let mut found: HashMap<Identity, Value> = HashMap::new();
    for (r, items) in groups.values().zip(lists) {
        for item in items {
            let name = item
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let id = Identity::new(&r.group, &r.kind, r.namespace.as_deref(), name);
            found.insert(id, item);
        }
    }
    Ok(objects
        .iter()
        .map(|o| {
            let id = identity(&o.reference);
            let live = match known.remove(&id) {
                Some(seen) => seen,
                None => found.remove(&id),
            };
            (id, live)
        })
        .collect())
}

// Named async functions rather than closures: their futures are `Send` for any lifetime, so a
// sync can run in a spawned task.
async fn list_of(cluster: &impl Cluster, r: &ObjectRef) -> Result<Vec<Value>, ClusterError> {
    cluster.list(r, "").await
}

/// What `apply_one` did.
struct Step {
    outcome: Outcome,
    message: Option<String>,
    /// The resourceVersion a write returned.
    version: Option<String>,
    /// A failure a later try may fix (the API server was down or throttling).
    transient: bool,
}

impl Step {
    fn unchanged(message: Option<String>) -> Step {
        Step {
            outcome: Outcome::Unchanged,
            message,
            version: None,
            transient: false,
        }
    }

    fn failed(message: String, transient: bool) -> Step {
        Step {
            outcome: Outcome::Failed,
            message: Some(message),
            version: None,
            transient,
        }
    }
}

/// Why a sync does not write `o` over `live`: the live object is labelled as another
/// environment's, and the sync does not force conflicts.
pub(crate) fn held_by_another(
    env: &Environment,
    o: &Object,
    live: Option<&Value>,
    force: bool,
) -> Option<String> {
    let other = live.and_then(|l| crate::object::other_environment(l, &env.name))?;
    (!force).then(|| format!(
        "{} belongs to environment {other:?} (labelled {LABEL_ENVIRONMENT}={other}); environment {:?} would take it over. Give the object another name in one of them, or apply with --force-conflicts to move it to {:?}",
        o.reference, env.name, env.name
    ))
}

async fn apply_one(
    cluster: &impl Cluster,
    env: &Environment,
    opts: &SyncOptions,
    live: &HashMap<Identity, Option<Value>>,
    o: &Object,
) -> Step {
    let current = live.get(&identity(&o.reference)).and_then(Option::as_ref);
    if let Some(message) = held_by_another(env, o, current, opts.force_conflicts) {
        return Step::failed(message, false);
    }
    // Fields drift ignores keep their live values (an HPA's replicas): neither a difference nor
    // overwritten. So does drift the release's policy leaves in place (report, pull-request):
    // claiming it would conflict with its manager and fail the whole commit.
    let keep = if opts.leave_drift && !opts.force_conflicts {
        Keep::AsPolicySays
    } else {
        Keep::Ignored
    };
    let comparison = Comparison::of(env, o, current);
    let respected = comparison.respecting(keep);
    let manifest = respected.as_ref().map_or(&o.manifest, |r| &r.manifest);
    let kept = respected.as_ref().filter(|r| !r.left.is_empty()).map(|r| {
        format!(
            "kept live {}: drift left in place (drift policy {})",
            r.left.join(", "),
            env.drift_policy(&o.release).as_str()
        )
    });
    let held = opts.hold.contains(&o.release);
    // A resync leaves an object annotated `sextant.io/drift: ignore` as it is; a new revision
    // applies it.
    let ignored = opts.resync && comparison.exists && comparison.annotated;
    match current {
        Some(_) if comparison.in_sync(keep) => Step::unchanged(None),
        _ if held => Step::unchanged(Some(
            "drifted; left as it is (the drift policy is not heal)".into(),
        )),
        Some(_) if ignored => Step::unchanged(Some(
            "left as it is: annotated sextant.io/drift: ignore".into(),
        )),
        current => match cluster
            .apply(&o.reference, manifest, opts.force_conflicts, opts.dry_run)
            .await
        {
            Ok(answer) => Step {
                outcome: if current.is_some() {
                    Outcome::Configured
                } else {
                    Outcome::Created
                },
                message: kept,
                version: view::resource_version(&answer).map(str::to_string),
                transient: false,
            },
            // A dry run cannot ask the server about an object in a namespace that only this
            // sync would create (the server answers 404 for the namespace, as a real one does).
            Err(e) if opts.dry_run && current.is_none() && e.is_not_found() => Step {
                outcome: Outcome::Created,
                message: Some(
                    "would be created; not checked by the server, as its namespace does not exist yet"
                        .into(),
                ),
                version: None,
                transient: false,
            },
            Err(e) => Step::failed(
                crate::secrets::scrub(&e.to_string(), &o.manifest),
                e.is_transient(),
            ),
        },
    }
}

fn namespace_ref(name: &str) -> ObjectRef {
    ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        name: name.to_string(),
    }
}

/// Creates namespace `ns` for environment `env`, labelled as the agent's, unless it exists;
/// returns whether it was created.
pub async fn ensure_namespace(
    cluster: &impl Cluster,
    env: &str,
    ns: &str,
    dry_run: bool,
) -> Result<bool, ClusterError> {
    let r = namespace_ref(ns);
    if cluster.get(&r).await?.is_some() {
        return Ok(false);
    }
    let manifest = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
        "labels": {LABEL_MANAGED_BY: MANAGER, LABEL_ENVIRONMENT: env}}});
    cluster.apply(&r, &manifest, false, dry_run).await?;
    Ok(true)
}

impl<C: Cluster> Run<'_, C> {
    /// Creates the agent's namespace and each release's namespace that is missing and not
    /// declared in the plan itself (as `helm --create-namespace` does).
    async fn ensure_namespaces(
        &mut self,
        env: &Environment,
        plan: &Plan,
    ) -> Result<Vec<ObjectResult>, SyncError> {
        let declared: HashSet<&str> = plan
            .objects()
            .filter(|o| o.reference.kind == "Namespace" && o.reference.group.is_empty())
            .map(|o| o.reference.name.as_str())
            .collect();
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        if !self.opts.dry_run {
            wanted.insert(self.opts.agent_namespace.clone(), String::new());
        }
        if self.opts.create_namespace {
            for r in &env.releases {
                wanted
                    .entry(r.namespace.clone())
                    .or_insert_with(|| r.name.clone());
            }
        }
        let mut out = Vec::new();
        for (ns, release) in wanted {
            if declared.contains(ns.as_str()) {
                continue;
            }
            let r = namespace_ref(&ns);
            if !ensure_namespace(self.cluster, &env.name, &ns, self.opts.dry_run).await? {
                continue;
            }
            if !release.is_empty() {
                out.push(
                    ObjectResult::new(&release, &r, None, Outcome::Created)
                        .with_message("release namespace created"),
                );
            }
        }
        Ok(out)
    }

    /// Applies the plan wave by wave, each one's result recorded as it ends (the namespaces
    /// created for the releases count in the first); no new wave starts once the sync is asked
    /// to stop.
    async fn waves(
        &mut self,
        namespaces: Vec<ObjectResult>,
        result: &mut SyncResult,
    ) -> Result<(), SyncError> {
        for (i, wave) in self.plan.waves.iter().enumerate() {
            if self.opts.stop.as_ref().is_some_and(|s| *s.borrow()) {
                return Err(SyncError::Stopped { wave: wave.wave.0 });
            }
            let started = Instant::now();
            let mut objects = if i == 0 {
                namespaces.clone()
            } else {
                Vec::new()
            };
            let outcome = self.wave(wave.wave.0, &wave.objects, &mut objects).await;
            result.waves.push(WaveResult {
                wave: wave.wave.0,
                duration_seconds: started.elapsed().as_secs_f64(),
                objects,
            });
            outcome?;
        }
        Ok(())
    }

    async fn wave(
        &mut self,
        wave: i32,
        objects: &[Object],
        results: &mut Vec<ObjectResult>,
    ) -> Result<(), SyncError> {
        self.await_required(wave).await?;
        let (hooks, main): (Vec<&Object>, Vec<&Object>) =
            objects.iter().partition(|o| o.hook.is_some());
        let (pre, post): (Vec<&Object>, Vec<&Object>) = hooks.into_iter().partition(|o| {
            o.hook
                .as_ref()
                .is_some_and(|h| h.phase == crate::object::HookPhase::PreSync)
        });
        for h in pre {
            self.hook(wave, h, results).await?;
        }
        // Namespaces and CRDs first, and CRDs established; then Gatekeeper's ConstraintTemplates,
        // created (their constraint kinds served); then the rest: so that nothing after them 404s.
        let deadline = tokio::time::Instant::now() + self.opts.wave_timeout;
        let (foundation, rest): (Vec<&Object>, Vec<&Object>) = main.iter().partition(|o| {
            matches!(
                o.reference.kind.as_str(),
                "Namespace" | "CustomResourceDefinition"
            )
        });
        let (templates, rest): (Vec<&Object>, Vec<&Object>) = rest.into_iter().partition(|o| {
            o.reference.group == "templates.gatekeeper.sh"
                && o.reference.kind == "ConstraintTemplate"
        });
        for tier in [foundation, templates] {
            let tier = self.await_kinds(wave, &tier, deadline, results).await?;
            self.apply_all(wave, &tier, results).await?;
            self.wait_healthy(wave, &tier).await?;
        }
        let rest = self.await_kinds(wave, &rest, deadline, results).await?;
        self.apply_all(wave, &rest, results).await?;
        self.wait_healthy(wave, &main).await?;
        for h in post {
            self.hook(wave, h, results).await?;
        }
        Ok(())
    }

    async fn apply_all(
        &mut self,
        wave: i32,
        objects: &[&Object],
        results: &mut Vec<ObjectResult>,
    ) -> Result<(), SyncError> {
        let cluster = self.cluster;
        let env = self.env;
        let opts = self.opts;
        let live = &self.live;
        let outcomes: Vec<Step> = stream::iter(
            objects
                .iter()
                .map(|o| apply_one(cluster, env, opts, live, o))
                .collect::<Vec<_>>(),
        )
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
        let mut failures = Vec::new();
        let mut transient = true;
        for (o, step) in objects.iter().zip(outcomes) {
            let Step {
                outcome,
                message,
                version,
                transient: retry,
            } = step;
            if outcome != Outcome::Unchanged {
                self.written.insert(identity(&o.reference));
            }
            if let Some(v) = version {
                self.versions.insert(identity(&o.reference), v);
            }
            let mut r = ObjectResult::new(&o.release, &o.reference, None, outcome);
            if let Some(m) = message {
                if outcome == Outcome::Failed {
                    failures.push(m.clone());
                    transient &= retry;
                }
                r = r.with_message(m);
            }
            results.push(r);
        }
        match failures.first() {
            None => Ok(()),
            Some(first) => Err(SyncError::Apply {
                wave,
                count: failures.len(),
                first: first.clone(),
                transient,
            }),
        }
    }
}
