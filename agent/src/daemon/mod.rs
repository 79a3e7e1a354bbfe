//! `sextant run`: the agent that lives in the cluster. A source publishes the latest snapshot;
//! one reconciler per environment renders, plans and applies it (one sync at a time, the latest
//! revision wins, a periodic resync even without commits) while this replica holds the lease;
//! every replica serves health, metrics and status.

pub mod allocator;
pub mod applied;
pub mod clock;
pub mod commit_status;
pub mod drift;
pub mod failure;
pub mod forge_backoff;
pub mod http;
pub mod leader;
pub mod preview;
pub mod promote;
pub mod pullrequest;
pub mod reconcile;
pub mod reconcile_loop;
pub mod revert;
pub mod rollback;
pub mod shard;
pub mod shared;
pub mod source;
pub mod status;
#[cfg(test)]
mod testing;
pub mod verify;

use crate::apply::cluster::KubeCluster;
use crate::config::{Repo, Settings};
use crate::metrics::Metrics;
use crate::render::{cache::RenderCache, helm::Helm, Renderer};
use reconcile::Reconciler;
use status::{EnvironmentStatus, Status};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// An immutable view of the repository at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub revision: String,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot reach the Kubernetes API (KUBECONFIG, or in-cluster): {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("webhook secret {file}: {source}")]
    WebhookSecret {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Helm(#[from] crate::render::helm::HelmError),
    #[error(transparent)]
    Source(#[from] sextant_source::SourceError),
    #[error("forge: {0}")]
    Forge(#[from] sextant_forge::Error),
    #[error("cannot wait for signals: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// What every environment's loops share: the settings, the ports (cluster, renderer, forge,
/// registry, source history), metrics, status, and the shutdown and leadership signals.
struct Context {
    settings: Settings,
    metrics: Metrics,
    status: Arc<Mutex<Status>>,
    cluster: Arc<KubeCluster>,
    renderer: Arc<Renderer>,
    forge: Option<Arc<sextant_forge::GitHub>>,
    registry: Arc<sextant_registry::Registries>,
    /// The Sigstore trusted root keyless signatures verify against.
    trust: Option<Arc<sextant_signature::TrustRoot>>,
    stop: watch::Receiver<bool>,
    /// Whether this replica leads each environment, and the guard of its passes.
    leadership: shard::Leadership,
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    history: Option<reconcile::History>,
    git_log: Option<promote::GitLog>,
    /// The Git source's cache, for what previews fetch beside the tracked branch.
    git: Option<Arc<sextant_source::GitSource>>,
    /// Bumped by a pull request webhook.
    pulls: Arc<watch::Sender<u64>>,
}

/// Runs until SIGTERM or Ctrl-C; then no new wave starts, the current wave's writes finish.
pub async fn run(settings: Settings) -> Result<(), DaemonError> {
    let metrics = Metrics::new()?;
    let mut kube_config = kube::Config::infer()
        .await
        .map_err(|e| DaemonError::Kube(kube::Error::InferConfig(e)))?;
    crate::apply::cluster::identify(&mut kube_config, &settings.leader_election.identity);
    let api_server = kube_config.cluster_url.to_string();
    let client = crate::apply::cluster::client(kube_config.clone())?;
    let status = Arc::new(Mutex::new(initial_status(&settings)));
    let (stop_tx, stop_rx) = watch::channel(false);

    // Every replica serves health, metrics, status and the webhook.
    let trigger = Arc::new(Notify::new());
    let pulls = Arc::new(watch::Sender::new(0_u64));
    let server = serve(
        &settings,
        &metrics,
        &status,
        &trigger,
        &pulls,
        stop_rx.clone(),
    )
    .await?;
    let mut tasks = Vec::new();
    // Held to the end: with election off nothing else sends, and a dropped sender would end
    // every loop that waits on leadership.
    let (_lead_tx, leadership) = lead(
        &settings,
        (&client, &kube_config),
        &metrics,
        &status,
        &stop_rx,
        &mut tasks,
    )?;
    let (snap_tx, snapshots) = watch::channel::<Option<Arc<Snapshot>>>(None);
    let (git, history, git_log) = start_source(
        &settings, &metrics, &status, trigger, snap_tx, &stop_rx, &mut tasks,
    );
    let forge = match &settings.forge {
        Some(f) => Some(Arc::new(forge_client(f, &metrics)?)),
        None => None,
    };
    let registry = Arc::new(sextant_registry::Registries::new(
        settings.registry.config(),
        Some(Arc::new(crate::metrics::RegistryObserver(metrics.clone()))),
    ));
    let trust = settings.registry.trust()?.map(Arc::new);
    let ctx = Context {
        trust,
        renderer: renderer(&settings)?,
        cluster: Arc::new(KubeCluster::new(client).with_server(api_server.trim_end_matches('/'))),
        settings,
        metrics,
        status,
        forge,
        registry,
        stop: stop_rx,
        leadership,
        snapshots,
        history,
        git_log,
        git,
        pulls,
    };
    let reconcilers: Vec<_> = ctx
        .settings
        .environments
        .iter()
        .map(|env| ctx.start_environment(env, &mut tasks))
        .collect();

    wait_for_signal().await?;
    tracing::info!("shutting down: no new wave starts; the current one finishes");
    let _ = stop_tx.send(true);
    // A render in progress would hold its environment's reconcile until helm's timeout.
    let killed = crate::render::helm::shutdown();
    if killed > 0 {
        tracing::info!(killed, "stopped the helm processes still running");
    }
    for r in reconcilers {
        let _ = r.await;
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(())
}

fn initial_status(settings: &Settings) -> Status {
    Status {
        identity: settings.leader_election.identity.clone(),
        leader: !settings.leader_election.enabled,
        environments: settings
            .environments
            .iter()
            .map(|e| (e.clone(), EnvironmentStatus::default()))
            .collect(),
        stuck_after: Some(settings.stuck_after),
        ..Status::default()
    }
}

/// Health, metrics, status and the webhook, on every replica, until the stop signal.
async fn serve(
    settings: &Settings,
    metrics: &Metrics,
    status: &Arc<Mutex<Status>>,
    trigger: &Arc<Notify>,
    pulls: &Arc<watch::Sender<u64>>,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    let webhook = match (&settings.webhook_secret_file, &settings.repo) {
        (Some(file), Repo::Git { branch, .. }) => {
            let secret = std::fs::read(file).map_err(|source| DaemonError::WebhookSecret {
                file: file.clone(),
                source,
            })?;
            let trimmed = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
            Some(http::Webhook {
                secret: Arc::new(trimmed),
                branch: branch.clone(),
                trigger: trigger.clone(),
                pulls: pulls.clone(),
            })
        }
        _ => None,
    };
    let listen_failed = |source| DaemonError::Listen {
        addr: settings.listen_addr,
        source,
    };
    let listener = tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .map_err(listen_failed)?;
    let addr = listener.local_addr().map_err(listen_failed)?;
    tracing::info!(%addr, identity = %settings.leader_election.identity, "listening");
    let app = http::router(http::AppState {
        metrics: metrics.clone(),
        status: status.clone(),
        webhook,
    });
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "HTTP server failed");
        }
    }))
}

/// Leadership: with sharding, each environment's Lease (`shard::Sharder`); else the one Lease's
/// elector when election is on, or this replica leads; mirrored in `/status`. With election
/// off, the sender is returned, for the caller to keep.
fn lead(
    settings: &Settings,
    (client, config): (&kube::Client, &kube::Config),
    metrics: &Metrics,
    status: &Arc<Mutex<Status>>,
    stop: &watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<(Option<watch::Sender<bool>>, shard::Leadership), DaemonError> {
    if settings.leader_election.enabled && settings.leader_election.sharded {
        let (leadership, done) = shard::Sharder::start(
            config.clone(),
            settings,
            metrics.clone(),
            status.clone(),
            stop.clone(),
        )?;
        tasks.push(done);
        return Ok((None, leadership));
    }
    let (lead_tx, lead_rx) = watch::channel(!settings.leader_election.enabled);
    let mut kept = None;
    if settings.leader_election.enabled {
        let elector = leader::Elector::new(
            client.clone(),
            &settings.namespace,
            &settings.leader_election.lease_name,
            &settings.leader_election.identity,
            settings.leader_election.lease_duration,
        );
        tasks.push(tokio::spawn(elector.run(
            lead_tx,
            stop.clone(),
            metrics.clone(),
        )));
    } else {
        metrics.leader.set(1);
        kept = Some(lead_tx);
    }
    let leadership = shard::Leadership::together(&settings.environments, &lead_rx);
    let mut lead = lead_rx;
    let status = status.clone();
    let mut stop = stop.clone();
    tokio::spawn(async move {
        loop {
            if let Ok(mut s) = status.lock() {
                s.leader = *lead.borrow_and_update();
            }
            tokio::select! {
                changed = lead.changed() => if changed.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    });
    Ok((kept, leadership))
}

/// The source loop (Git, or a working tree) publishing snapshots; for Git, also any revision's
/// snapshot (a rollback's) and the Git log (a promotion's body).
fn start_source(
    settings: &Settings,
    metrics: &Metrics,
    status: &Arc<Mutex<Status>>,
    trigger: Arc<Notify>,
    publish: watch::Sender<Option<Arc<Snapshot>>>,
    stop: &watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> (
    Option<Arc<sextant_source::GitSource>>,
    Option<reconcile::History>,
    Option<promote::GitLog>,
) {
    match &settings.repo {
        Repo::Git { url, branch, auth } => {
            let git_source = Arc::new(source::git_source(url, branch, auth, &settings.cache_dir));
            let git = source::GitLoop {
                source: git_source.clone(),
                poll_interval: settings.poll_interval,
                trigger,
                publish,
                stop: stop.clone(),
                metrics: metrics.clone(),
                status: status.clone(),
                environments: settings.environments.clone(),
            };
            tasks.push(tokio::spawn(git.run()));
            (
                Some(git_source.clone()),
                Some(source::history(git_source.clone())),
                Some(source::git_log(git_source)),
            )
        }
        Repo::Local { path } => {
            let path = path.clone();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = source::local_loop(path, publish, stop).await {
                    tracing::error!(error = %e, "cannot watch the working tree");
                }
            }));
            (None, None, None)
        }
    }
}

fn renderer(settings: &Settings) -> Result<Arc<Renderer>, DaemonError> {
    let helm = Helm::locate(
        settings.helm.as_deref(),
        &std::env::current_dir().unwrap_or_default(),
    )?;
    Ok(Arc::new(Renderer::new(
        helm,
        RenderCache::new(settings.cache_dir.join("render")),
        crate::render::Settings {
            kube_version: settings.kube_version.clone(),
            api_versions: settings.api_versions.clone(),
            timeout: settings.render_timeout,
            chart_mirrors: settings.chart_mirrors.clone(),
            ..Default::default()
        },
    )))
}

impl Context {
    /// One environment's loops: its reconciler (returned: shutdown waits for it), the drift
    /// watch, and with a forge and a Git source, the promoter, the drift pull requests and the
    /// forge jobs (reverts, lead times).
    fn start_environment(
        &self,
        env: &str,
        tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> tokio::task::JoinHandle<()> {
        let (applied_tx, applied_rx) = watch::channel(None);
        // Bounded: a loop that asks for heals or jobs faster than they are carried out waits
        // (the reconciler coalesces the heals it finds queued).
        let (heal_tx, heal_rx) = tokio::sync::mpsc::channel(QUEUE);
        let (feed_tx, feed_rx) = watch::channel(Arc::new(drift::DriftFeed::default()));
        let (cache, changes) = crate::live::LiveCache::new(env, self.cluster.client().clone());
        let cache = Arc::new(cache);
        let git_forge = match (&self.forge, &self.settings.repo) {
            (Some(forge), Repo::Git { branch, .. }) => Some((forge.clone(), branch.clone())),
            _ => None,
        };
        let jobs = git_forge
            .as_ref()
            .map(|(forge, base)| self.jobs(forge, base, tasks));
        tasks.push(tokio::spawn(
            drift::DriftWatch {
                environment: env.to_string(),
                cluster: self.cluster.clone(),
                metrics: self.metrics.clone(),
                status: self.status.clone(),
                applied: applied_rx.clone(),
                heal: heal_tx.clone(),
                leading: self.leadership.leading(env),
                stop: self.stop.clone(),
                identity: self.settings.leader_election.identity.clone(),
                feed: feed_tx,
                cache: cache.clone(),
                changes,
            }
            .run(),
        ));
        if let (Some((forge, base)), Some(git)) = (&git_forge, &self.git) {
            tasks.push(tokio::spawn(self.previews(
                env,
                forge,
                base,
                git,
                &applied_rx,
            )));
        }
        if let Some((forge, base)) = git_forge {
            tasks.push(tokio::spawn(self.promoter(
                env,
                &forge,
                &base,
                &applied_rx,
                &feed_rx,
                &cache,
            )));
            tasks.push(tokio::spawn(
                pullrequest::PullRequests {
                    environment: env.to_string(),
                    forge,
                    base,
                    renderer: self.renderer.clone(),
                    applied: applied_rx,
                    feed: feed_rx,
                    heal: heal_tx,
                    shared: self.shared(env),
                }
                .run(),
            ));
        }
        let reconciler = self.reconciler(env, applied_tx, cache, jobs);
        tokio::spawn(reconcile_loop::run(
            reconciler,
            reconcile_loop::Inputs {
                snapshots: self.snapshots.clone(),
                leading: self.leadership.leading(env),
                guard: self.leadership.guard(env),
                heals: heal_rx,
                resync: self.settings.resync_interval,
                retry: self.settings.retry,
                stop: self.stop.clone(),
            },
        ))
    }

    /// `env`'s reconciler: its applied state goes to `applied_tx`, it reads the live `cache`,
    /// and asks for reverts and commit statuses through `jobs` when there is a forge.
    fn reconciler(
        &self,
        env: &str,
        applied_tx: watch::Sender<Option<Arc<reconcile::Applied>>>,
        cache: Arc<crate::live::LiveCache>,
        jobs: Option<tokio::sync::mpsc::Sender<promote::Job>>,
    ) -> Reconciler {
        Reconciler {
            environment: env.to_string(),
            renderer: self.renderer.clone(),
            cluster: self.cluster.clone(),
            metrics: self.metrics.clone(),
            status: self.status.clone(),
            agent_namespace: self.settings.namespace.clone(),
            // A reconcile stops at a wave boundary on shutdown and when leadership is lost.
            stop: halted(self.stop.clone(), self.leadership.leading(env)),
            object_series: Mutex::new(Vec::new()),
            applied: applied_tx,
            live: Some(cache),
            history: self.history.clone(),
            rollback: tokio::sync::Mutex::new(None),
            verifying: tokio::sync::Mutex::new(None),
            clock: clock::Clock::system(),
            statuses: commit_status::CommitStatuses::new(env, jobs.clone()),
            jobs,
            identity: self.settings.leader_election.identity.clone(),
            signatures: Some(crate::signature::checker(
                self.registry.clone(),
                self.trust.clone(),
                self.metrics.clone(),
            )),
            signed: Mutex::default(),
        }
    }

    /// What `env`'s leader-only forge loops share with the daemon.
    fn shared(&self, env: &str) -> shared::Shared {
        shared::Shared {
            leading: self.leadership.leading(env),
            stop: self.stop.clone(),
            metrics: self.metrics.clone(),
            status: self.status.clone(),
            retry: self.settings.retry,
        }
    }

    /// The pull request previews of an environment (docs/preview.md).
    fn previews(
        &self,
        env: &str,
        forge: &Arc<sextant_forge::GitHub>,
        base: &str,
        git: &Arc<sextant_source::GitSource>,
        applied: &watch::Receiver<Option<Arc<applied::Applied>>>,
    ) -> impl std::future::Future<Output = ()> {
        preview::Previews {
            environment: env.to_string(),
            forge: forge.clone(),
            base: base.to_string(),
            git: git.clone(),
            renderer: self.renderer.clone(),
            cluster: self.cluster.clone(),
            agent_namespace: self.settings.namespace.clone(),
            applied: applied.clone(),
            wake: self.pulls.subscribe(),
            poll: self.settings.poll_interval,
            shared: self.shared(env),
        }
        .run()
    }

    /// The forge jobs of an environment (reverts, commit statuses, lead times), started; the
    /// sender that queues them.
    fn jobs(
        &self,
        forge: &Arc<sextant_forge::GitHub>,
        base: &str,
        tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> tokio::sync::mpsc::Sender<promote::Job> {
        let (jobs_tx, jobs_rx) = tokio::sync::mpsc::channel(QUEUE);
        tasks.push(tokio::spawn(
            promote::Jobs {
                forge: forge.clone(),
                base: base.to_string(),
                jobs: jobs_rx,
                retry: self.settings.retry,
                metrics: self.metrics.clone(),
                status: self.status.clone(),
                stop: self.stop.clone(),
            }
            .run(),
        ));
        jobs_tx
    }

    /// The promoter of `env` as a source: its gates, checks, registry verification and the
    /// promotion pull requests.
    fn promoter(
        &self,
        env: &str,
        forge: &Arc<sextant_forge::GitHub>,
        base: &str,
        applied: &watch::Receiver<Option<Arc<reconcile::Applied>>>,
        feed: &watch::Receiver<Arc<drift::DriftFeed>>,
        cache: &Arc<crate::live::LiveCache>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        promote::Promoter {
            source: env.to_string(),
            forge: forge.clone(),
            registry: self.registry.clone(),
            trust: self.trust.clone(),
            base: base.to_string(),
            applied: applied.clone(),
            snapshots: self.snapshots.clone(),
            feed: feed.clone(),
            cache: cache.clone(),
            records: Arc::new(crate::apply::record::ConfigMaps {
                cluster: self.cluster.clone(),
                namespace: self.settings.namespace.clone(),
            }),
            shared: self.shared(env),
            tick: Duration::from_secs(1),
            log: self.git_log.clone(),
            clock: clock::Clock::system(),
            targets_of: crate::promotion::targets,
        }
        .run()
    }
}

/// The GitHub client for drift pull requests, its requests and rate limit counted in metrics.
fn forge_client(
    f: &crate::config::ForgeSettings,
    metrics: &Metrics,
) -> Result<sextant_forge::GitHub, DaemonError> {
    let auth = match &f.auth {
        crate::config::ForgeAuth::TokenFile(path) => sextant_forge::Auth::TokenFile(path.clone()),
        crate::config::ForgeAuth::App {
            app_id,
            installation_id,
            key_file,
        } => sextant_forge::Auth::App(sextant_forge::AppAuth::from_pem_file(
            app_id.to_string(),
            *installation_id,
            key_file,
        )?),
    };
    sextant_forge::GitHub::with_observer(
        sextant_forge::Config::new(&f.api_url, &f.owner, &f.repo, auth),
        Arc::new(crate::metrics::ForgeObserver(metrics.clone())),
    )
    .map_err(DaemonError::from)
}

/// How many heal requests or forge jobs may wait before their sender waits too.
const QUEUE: usize = 64;

/// A flag that turns true on shutdown and while this replica does not lead.
fn halted(
    mut stop: watch::Receiver<bool>,
    mut leading: watch::Receiver<bool>,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(*stop.borrow() || !*leading.borrow());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                c = stop.changed() => if c.is_err() { return },
                c = leading.changed() => if c.is_err() { return },
            }
            let halt = *stop.borrow() || !*leading.borrow();
            if tx.send(halt).is_err() || *stop.borrow() {
                return;
            }
        }
    });
    rx
}

async fn wait_for_signal() -> Result<(), DaemonError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(DaemonError::Signal)?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_after_failures_back_off_from_5s_to_a_5_minute_cap() {
        let retry = crate::config::RETRY;
        let secs: Vec<u64> = (1..=9).map(|n| retry.delay(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(retry.delay(u32::MAX), Duration::from_secs(300));
    }
}
