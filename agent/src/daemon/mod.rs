//! `sextant run`: the agent that lives in the cluster. A source publishes the latest snapshot;
//! one reconciler per environment renders, plans and applies it (one sync at a time, the latest
//! revision wins, a periodic resync even without commits) while this replica holds the lease;
//! every replica serves health, metrics and status.

pub mod applied;
pub mod clock;
pub mod drift;
pub mod failure;
pub mod forge_backoff;
pub mod http;
pub mod leader;
pub mod promote;
pub mod pullrequest;
pub mod reconcile;
pub mod reconcile_loop;
pub mod revert;
pub mod rollback;
pub mod source;
pub mod status;

use crate::apply::cluster::Cluster;
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
    Forge(String),
    #[error("cannot wait for signals: {0}")]
    Signal(std::io::Error),
}

/// Runs until SIGTERM or Ctrl-C; then no new wave starts, the current wave's writes finish.
pub async fn run(settings: Settings) -> Result<(), DaemonError> {
    let metrics = Metrics::new()?;
    let kube_config = kube::Config::infer()
        .await
        .map_err(|e| DaemonError::Kube(kube::Error::InferConfig(e)))?;
    let api_server = kube_config.cluster_url.to_string();
    let client = crate::apply::cluster::client(kube_config)?;
    let leading_initially = !settings.leader_election.enabled;
    let status = Arc::new(Mutex::new(Status {
        identity: settings.leader_election.identity.clone(),
        leader: leading_initially,
        environments: settings
            .environments
            .iter()
            .map(|e| (e.clone(), EnvironmentStatus::default()))
            .collect(),
        stuck_after: Some(settings.stuck_after),
        ..Status::default()
    }));
    let (stop_tx, stop_rx) = watch::channel(false);

    // Every replica serves health, metrics, status and the webhook.
    let trigger = Arc::new(Notify::new());
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
            })
        }
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: settings.listen_addr,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| DaemonError::Listen {
            addr: settings.listen_addr,
            source,
        })?;
    tracing::info!(%addr, identity = %settings.leader_election.identity, "listening");
    let app = http::router(http::AppState {
        metrics: metrics.clone(),
        status: status.clone(),
        webhook,
    });
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = http_stop.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });

    // Leadership.
    let (lead_tx, lead_rx) = watch::channel(leading_initially);
    let mut tasks = Vec::new();
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
            stop_rx.clone(),
            metrics.clone(),
        )));
    } else {
        metrics.leader.set(1);
    }
    {
        let mut lead = lead_rx.clone();
        let status = status.clone();
        let mut stop = stop_rx.clone();
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
    }

    // The source.
    let (snap_tx, snap_rx) = watch::channel::<Option<Arc<Snapshot>>>(None);
    let mut history: Option<reconcile::History> = None;
    let mut git_log: Option<promote::GitLog> = None;
    match &settings.repo {
        Repo::Git { url, branch, auth } => {
            let git_source = Arc::new(source::git_source(url, branch, auth, &settings.cache_dir));
            history = Some(source::history(git_source.clone()));
            git_log = Some(source::git_log(git_source.clone()));
            let git = source::GitLoop {
                source: git_source,
                poll_interval: settings.poll_interval,
                trigger: trigger.clone(),
                publish: snap_tx,
                stop: stop_rx.clone(),
                metrics: metrics.clone(),
                status: status.clone(),
                environments: settings.environments.clone(),
            };
            tasks.push(tokio::spawn(git.run()));
        }
        Repo::Local { path } => {
            let path = path.clone();
            let stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = source::local_loop(path, snap_tx, stop).await {
                    tracing::error!(error = %e, "cannot watch the working tree");
                }
            }));
        }
    }

    // One reconciler per environment.
    let helm = Helm::locate(
        settings.helm.as_deref(),
        &std::env::current_dir().unwrap_or_default(),
    )?;
    let renderer = Arc::new(Renderer::new(
        helm,
        RenderCache::new(settings.cache_dir.join("render")),
        crate::render::Settings {
            kube_version: settings.kube_version.clone(),
            api_versions: settings.api_versions.clone(),
            timeout: settings.render_timeout,
            chart_mirrors: settings.chart_mirrors.clone(),
            ..Default::default()
        },
    ));
    let cluster = Arc::new(Cluster::new(client).with_server(api_server.trim_end_matches('/')));
    let forge = match &settings.forge {
        Some(f) => Some(Arc::new(forge_client(f, &metrics)?)),
        None => None,
    };
    let registry = Arc::new(sextant_registry::Registries::new(
        settings.registry.config(),
        Some(Arc::new(crate::metrics::RegistryObserver(metrics.clone()))),
    ));
    let mut reconcilers = Vec::new();
    for env in &settings.environments {
        // A reconcile stops at a wave boundary on shutdown and when leadership is lost.
        let halt = halted(stop_rx.clone(), lead_rx.clone());
        let (applied_tx, applied_rx) = watch::channel(None);
        let applied_rx_pr = applied_rx.clone();
        let applied_rx_promo = applied_rx.clone();
        // Bounded: a loop that asks for heals or jobs faster than they are carried out waits
        // (the reconciler coalesces the heals it finds queued).
        let (heal_tx, heal_rx) = tokio::sync::mpsc::channel(QUEUE);
        let (feed_tx, feed_rx) = watch::channel(Arc::new(drift::DriftFeed::default()));
        let heal_tx_pr = heal_tx.clone();
        let (cache, changes) = crate::live::LiveCache::new(env, cluster.client().clone());
        let cache = Arc::new(cache);
        let promo_cache = cache.clone();
        let (jobs_tx, jobs_rx) = tokio::sync::mpsc::channel(QUEUE);
        let jobs = match (&forge, &settings.repo) {
            (Some(forge), Repo::Git { branch, .. }) => {
                tasks.push(tokio::spawn(
                    promote::Jobs {
                        forge: forge.clone(),
                        base: branch.clone(),
                        jobs: jobs_rx,
                        metrics: metrics.clone(),
                        status: status.clone(),
                        stop: stop_rx.clone(),
                    }
                    .run(),
                ));
                Some(jobs_tx)
            }
            _ => None,
        };
        let r = Reconciler {
            environment: env.clone(),
            renderer: renderer.clone(),
            cluster: cluster.clone(),
            metrics: metrics.clone(),
            status: status.clone(),
            agent_namespace: settings.namespace.clone(),
            stop: halt,
            object_series: Mutex::new(Vec::new()),
            applied: applied_tx,
            live: cache.clone(),
            history: history.clone(),
            rollback: tokio::sync::Mutex::new(None),
            jobs,
            identity: settings.leader_election.identity.clone(),
        };
        tasks.push(tokio::spawn(
            drift::DriftWatch {
                environment: env.clone(),
                cluster: cluster.clone(),
                metrics: metrics.clone(),
                status: status.clone(),
                applied: applied_rx,
                heal: heal_tx.clone(),
                leading: lead_rx.clone(),
                stop: stop_rx.clone(),
                identity: settings.leader_election.identity.clone(),
                feed: feed_tx,
                cache,
                changes,
            }
            .run(),
        ));
        if let (Some(forge), Repo::Git { branch, .. }) = (&forge, &settings.repo) {
            tasks.push(tokio::spawn(
                promote::Promoter {
                    source: env.clone(),
                    forge: forge.clone(),
                    registry: registry.clone(),
                    base: branch.clone(),
                    applied: applied_rx_promo,
                    snapshots: snap_rx.clone(),
                    feed: feed_rx.clone(),
                    cache: promo_cache.clone(),
                    cluster: cluster.clone(),
                    agent_namespace: settings.namespace.clone(),
                    leading: lead_rx.clone(),
                    stop: stop_rx.clone(),
                    metrics: metrics.clone(),
                    status: status.clone(),
                    tick: Duration::from_secs(1),
                    log: git_log.clone(),
                }
                .run(),
            ));
            tasks.push(tokio::spawn(
                pullrequest::PullRequests {
                    environment: env.clone(),
                    forge: forge.clone(),
                    base: branch.clone(),
                    renderer: renderer.clone(),
                    applied: applied_rx_pr,
                    feed: feed_rx,
                    heal: heal_tx_pr,
                    leading: lead_rx.clone(),
                    stop: stop_rx.clone(),
                    metrics: metrics.clone(),
                    status: status.clone(),
                }
                .run(),
            ));
        }
        reconcilers.push(tokio::spawn(reconcile_loop::run(
            r,
            reconcile_loop::Inputs {
                snapshots: snap_rx.clone(),
                leading: lead_rx.clone(),
                heals: heal_rx,
                resync: settings.resync_interval,
                stop: stop_rx.clone(),
            },
        )));
    }

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
        } => sextant_forge::Auth::App(
            sextant_forge::AppAuth::from_pem_file(app_id.to_string(), *installation_id, key_file)
                .map_err(|e| DaemonError::Forge(e.to_string()))?,
        ),
    };
    sextant_forge::GitHub::with_observer(
        sextant_forge::Config::new(&f.api_url, &f.owner, &f.repo, auth),
        Arc::new(crate::metrics::ForgeObserver(metrics.clone())),
    )
    .map_err(|e| DaemonError::Forge(e.to_string()))
}

/// How many heal requests or forge jobs may wait before their sender waits too.
const QUEUE: usize = 64;

/// The wait before retrying an environment whose last reconcile failed for the `failures`-th
/// time in a row: 5 s doubling, at most 5 min — sooner than the resync, never a hot loop.
pub fn retry_delay(failures: u32) -> Duration {
    let base = Duration::from_secs(5);
    let cap = Duration::from_secs(300);
    base.saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(cap)
}

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
        let secs: Vec<u64> = (1..=9).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(300));
    }
}
