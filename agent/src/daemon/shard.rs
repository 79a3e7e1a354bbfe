//! Sharded leadership: each environment has its own Lease, and the replicas share the
//! environments by rendezvous hashing over their member Leases (`sextant_core::shard` decides;
//! this loop reads and writes the Leases). An environment changes hands only through a free or
//! expired Lease: the replica giving it up stops its passes, waits for the one under way
//! (its guard), and then releases the Lease, renewing it until then. Every write is a
//! compare-and-swap on the Lease's resourceVersion.

use super::status::{ShardStatus, Status};
use crate::metrics::Metrics;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use sextant_core::shard::{self, LeaseView, Step};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The label every Lease of one agent's shards carries: its value is the lease name prefix.
pub const GROUP_LABEL: &str = "sextant.io/shard-group";
/// `member` (a replica) or `environment`.
pub const ROLE_LABEL: &str = "sextant.io/shard-role";

/// What each environment's loops read: whether this replica leads it, and the guard a pass
/// holds while it writes (the handover waits on it).
#[derive(Clone, Default)]
pub struct Leadership {
    leading: HashMap<String, watch::Receiver<bool>>,
    guards: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

impl Leadership {
    /// Every environment led together, by one flag (one Lease, or none).
    pub fn together(environments: &[String], leading: &watch::Receiver<bool>) -> Self {
        Leadership {
            leading: environments
                .iter()
                .map(|e| (e.clone(), leading.clone()))
                .collect(),
            guards: environments
                .iter()
                .map(|e| (e.clone(), Arc::default()))
                .collect(),
        }
    }

    pub fn leading(&self, environment: &str) -> watch::Receiver<bool> {
        self.leading
            .get(environment)
            .cloned()
            .unwrap_or_else(|| watch::channel(false).1)
    }

    pub fn guard(&self, environment: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.guards.get(environment).cloned().unwrap_or_default()
    }
}

#[derive(Debug)]
enum Held {
    No,
    Yes,
    /// Giving it up: passes stopped; the flag turns true once the pass under way has finished.
    Draining(Arc<AtomicBool>),
}

struct Shard {
    name: String,
    lease: String,
    leading: watch::Sender<bool>,
    guard: Arc<tokio::sync::Mutex<()>>,
    held: Held,
    renewed: Option<tokio::time::Instant>,
}

pub struct Sharder {
    api: Api<Lease>,
    client: kube::Client,
    namespace: String,
    group: String,
    identity: String,
    duration: Duration,
    shards: Vec<Shard>,
    metrics: Metrics,
    status: Arc<Mutex<Status>>,
    drained: Arc<Notify>,
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

fn view(lease: &Lease) -> LeaseView {
    let spec = lease.spec.clone().unwrap_or_default();
    LeaseView {
        holder: spec.holder_identity,
        renewed_ms: spec.renew_time.map(|MicroTime(t)| t.as_millisecond()),
        duration_ms: i64::from(spec.lease_duration_seconds.unwrap_or(15)) * 1000,
    }
}

impl Sharder {
    /// The sharder of `environments`, and the leadership their loops read.
    pub fn new(
        client: kube::Client,
        settings: &crate::config::Settings,
        metrics: Metrics,
        status: Arc<Mutex<Status>>,
    ) -> (Self, Leadership) {
        let group = settings.leader_election.lease_name.clone();
        let mut leadership = Leadership::default();
        let shards = settings
            .environments
            .iter()
            .map(|env| {
                let (tx, rx) = watch::channel(false);
                let guard: Arc<tokio::sync::Mutex<()>> = Arc::default();
                leadership.leading.insert(env.clone(), rx);
                leadership.guards.insert(env.clone(), guard.clone());
                Shard {
                    name: env.clone(),
                    lease: format!("{group}-env-{env}"),
                    leading: tx,
                    guard,
                    held: Held::No,
                    renewed: None,
                }
            })
            .collect();
        let sharder = Sharder {
            api: Api::namespaced(client.clone(), &settings.namespace),
            client,
            namespace: settings.namespace.clone(),
            group,
            identity: settings.leader_election.identity.clone(),
            duration: settings.leader_election.lease_duration,
            shards,
            metrics,
            status,
            drained: Arc::new(Notify::new()),
        };
        (sharder, leadership)
    }

    fn member_lease(&self) -> String {
        format!("{}-member-{}", self.group, self.identity)
    }

    /// Writes `name` with `holder` (renewed now), creating it if `current` is `None`. `Ok(false)`
    /// when another replica wrote first (409), or the namespace had to be created.
    async fn put(
        &self,
        name: &str,
        role: &str,
        current: Option<&Lease>,
        holder: Option<&str>,
        transition: bool,
    ) -> Result<bool, kube::Error> {
        let labels = [
            (GROUP_LABEL.to_string(), self.group.clone()),
            (ROLE_LABEL.to_string(), role.to_string()),
        ]
        .into();
        let write = super::leader::Write {
            name,
            labels,
            holder,
            transition,
            duration: self.duration,
        };
        super::leader::write(&self.api, &self.client, &self.namespace, current, write).await
    }

    /// One round: renew this replica's membership, then take, renew or release each
    /// environment's Lease. Returns when the next round could decide differently.
    async fn round(&mut self) -> Result<Option<i64>, kube::Error> {
        let params = ListParams::default().labels(&format!("{GROUP_LABEL}={}", self.group));
        let leases: HashMap<String, Lease> = self
            .api
            .list(&params)
            .await?
            .items
            .into_iter()
            .filter_map(|l| Some((l.metadata.name.clone()?, l)))
            .collect();
        let member = self.member_lease();
        let me = self.identity.clone();
        if !self
            .put(&member, "member", leases.get(&member), Some(&me), false)
            .await?
        {
            // Our own member Lease changed under us: read again next round.
            return Ok(None);
        }
        let now = now_ms();
        let is_member = |l: &&Lease| {
            l.metadata
                .labels
                .as_ref()
                .and_then(|m| m.get(ROLE_LABEL))
                .is_some_and(|r| r == "member")
        };
        for (name, lease) in leases.iter().filter(|(_, l)| is_member(l)) {
            if shard::departed(&view(lease), &me, now) {
                // A replica long gone (a crash; a stopped one deletes its own).
                let _ = self.api.delete(name, &Default::default()).await;
            }
        }
        let members_views: Vec<LeaseView> = leases.values().filter(is_member).map(view).collect();
        let members = shard::live_members(&members_views, &me, now);
        let views: Vec<LeaseView> = leases.values().map(view).collect();
        let next = shard::next_change(&views, &me, now);
        let environments: Vec<String> = self.shards.iter().map(|s| s.name.clone()).collect();
        let owners = shard::assign(&environments, &members);
        let mut holders = BTreeMap::new();
        for i in 0..self.shards.len() {
            let lease = leases.get(&self.shards[i].lease);
            let seen = lease.map(view);
            let owner = owners.get(&self.shards[i].name).cloned();
            let step = shard::step(owner.as_deref(), seen.as_ref(), &me, now);
            self.apply_step(i, lease, step).await;
            let holder = match self.shards[i].held {
                Held::No => seen
                    .as_ref()
                    .and_then(|v| v.live_holder(now))
                    .map(str::to_string),
                _ => Some(me.clone()),
            };
            holders.insert(self.shards[i].name.clone(), ShardStatus { holder, owner });
        }
        self.publish(&members, holders);
        Ok(next)
    }

    async fn apply_step(&mut self, i: usize, lease: Option<&Lease>, step: Step) {
        let name = self.shards[i].lease.clone();
        let me = self.identity.clone();
        let write = match (&step, &self.shards[i].held) {
            (Step::Take { transition }, _) => {
                self.put(&name, "environment", lease, Some(&me), *transition)
                    .await
            }
            (Step::Renew, _) => {
                self.put(&name, "environment", lease, Some(&me), false)
                    .await
            }
            (Step::Release, Held::Draining(done)) if done.load(Ordering::SeqCst) => {
                let released = self.put(&name, "environment", lease, None, false).await;
                if matches!(released, Ok(true)) {
                    tracing::info!(environment = %self.shards[i].name, "released the environment to its new owner");
                    self.shards[i].held = Held::No;
                    self.shards[i].renewed = None;
                }
                return;
            }
            (Step::Release, Held::No) => {
                // Held under our name from an earlier life: nothing of ours runs; release it.
                let _ = self.put(&name, "environment", lease, None, false).await;
                return;
            }
            (Step::Release, _) => {
                self.drain(i);
                self.put(&name, "environment", lease, Some(&me), false)
                    .await
            }
            (Step::Wait { .. } | Step::Idle, _) => {
                if !matches!(self.shards[i].held, Held::No) {
                    // Another replica holds it now: our Lease must have run out.
                    tracing::warn!(environment = %self.shards[i].name, "lost the environment's lease");
                    self.stop_leading(i);
                }
                return;
            }
        };
        let shard = &mut self.shards[i];
        match write {
            Ok(true) => {
                shard.renewed = Some(tokio::time::Instant::now());
                if matches!(step, Step::Take { .. } | Step::Renew) {
                    if !matches!(shard.held, Held::Yes) {
                        tracing::info!(environment = %shard.name, identity = %me, "leading the environment");
                    }
                    shard.held = Held::Yes;
                    shard
                        .leading
                        .send_if_modified(|l| !std::mem::replace(l, true));
                }
            }
            Ok(false) => {
                if !matches!(shard.held, Held::No) {
                    self.stop_leading(i);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, lease = %name, "cannot write the environment's lease");
                self.expire_unrenewed(i);
            }
        }
    }

    /// Stops passes of shard `i` and, in the background, waits for the one under way.
    fn drain(&mut self, i: usize) {
        if !matches!(self.shards[i].held, Held::Yes) {
            return;
        }
        let shard = &mut self.shards[i];
        tracing::info!(environment = %shard.name, "handing the environment over: finishing the pass under way");
        shard
            .leading
            .send_if_modified(|l| std::mem::replace(l, false));
        let done = Arc::new(AtomicBool::new(false));
        shard.held = Held::Draining(done.clone());
        let guard = shard.guard.clone();
        let drained = self.drained.clone();
        tokio::spawn(async move {
            drop(guard.lock().await);
            done.store(true, Ordering::SeqCst);
            drained.notify_one();
        });
    }

    fn stop_leading(&mut self, i: usize) {
        let shard = &mut self.shards[i];
        shard
            .leading
            .send_if_modified(|l| std::mem::replace(l, false));
        shard.held = Held::No;
        shard.renewed = None;
    }

    /// A shard whose last renewal is too old to be surely still valid stops leading: before its
    /// Lease could have expired in another replica's eyes.
    fn expire_unrenewed(&mut self, i: usize) {
        let margin = self.duration - self.duration / 3;
        if self.shards[i].renewed.is_none_or(|t| t.elapsed() >= margin) {
            self.stop_leading(i);
        }
    }

    fn publish(&self, members: &[String], holders: BTreeMap<String, ShardStatus>) {
        let mut any = false;
        for s in &self.shards {
            let held = !matches!(s.held, Held::No);
            any |= held;
            self.metrics
                .shard_environments
                .with_label_values(&[&s.name])
                .set(i64::from(held));
        }
        self.metrics.shard_members.set(members.len() as i64);
        self.metrics.leader.set(i64::from(any));
        if let Ok(mut status) = self.status.lock() {
            status.leader = any;
            status.members = members.to_vec();
            for (env, shard) in holders {
                if let Some(e) = status.environments.get_mut(&env) {
                    e.shard = Some(shard);
                }
            }
        }
    }

    /// Starts the sharder on a thread of its own, with a runtime and an API client of its own
    /// (from `config`): no render or apply keeping the daemon's workers busy can delay a
    /// renewal past the Lease, nor the step down when one fails. Returns the leadership the
    /// environments' loops read, and a task that ends when the sharder has stepped down.
    pub fn start(
        config: kube::Config,
        settings: &crate::config::Settings,
        metrics: Metrics,
        status: Arc<Mutex<Status>>,
        stop: watch::Receiver<bool>,
    ) -> Result<(Leadership, tokio::task::JoinHandle<()>), kube::Error> {
        let settings = settings.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sextant-shards".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(kube::Error::Service(Box::new(e))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let client = match crate::apply::cluster::client(config) {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let (sharder, leadership) = Sharder::new(client, &settings, metrics, status);
                    let _ = tx.send(Ok(leadership));
                    sharder.run(stop).await;
                });
            })
            .map_err(|e| kube::Error::Service(Box::new(e)))?;
        let leadership = rx.recv().map_err(|e| kube::Error::Service(Box::new(e)))??;
        let done = tokio::task::spawn_blocking(move || {
            let _ = thread.join();
        });
        Ok((leadership, done))
    }

    /// Runs rounds until `stop`: every third of the Lease duration, at the moment another
    /// replica's Lease runs out, and when a handover's pass has finished. A round that takes
    /// longer than a third of the duration counts as failed. On stop, waits for each held
    /// environment's pass and releases its Lease and the member Lease.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let period = self.duration / 3;
        loop {
            let round = tokio::time::timeout(period, self.round()).await;
            let wait = match round {
                Ok(Ok(next)) => next
                    .map(|at| Duration::from_millis((at - now_ms()).max(0) as u64 + 5))
                    .map_or(period, |d| d.min(period)),
                failed => {
                    match failed {
                        Ok(Err(e)) => tracing::warn!(error = %e, "shard round failed"),
                        _ => tracing::warn!(
                            seconds = period.as_secs_f64(),
                            "shard round took too long"
                        ),
                    }
                    for i in 0..self.shards.len() {
                        self.expire_unrenewed(i);
                    }
                    period / 4
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.drained.notified() => {}
                _ = stop.changed() => break,
            }
        }
        self.step_down().await;
    }

    async fn step_down(&mut self) {
        for i in 0..self.shards.len() {
            if matches!(self.shards[i].held, Held::No) {
                continue;
            }
            self.shards[i].leading.send_replace(false);
            let guard = self.shards[i].guard.clone();
            drop(guard.lock().await);
            let name = self.shards[i].lease.clone();
            if let Ok(Some(lease)) = self.api.get_opt(&name).await {
                if view(&lease).holder.as_deref() == Some(self.identity.as_str()) {
                    let _ = self
                        .put(&name, "environment", Some(&lease), None, false)
                        .await;
                }
            }
            self.stop_leading(i);
        }
        // Leaving: the others see one member fewer at their next round.
        let _ = self
            .api
            .delete(&self.member_lease(), &Default::default())
            .await;
        self.metrics.leader.set(0);
    }
}
