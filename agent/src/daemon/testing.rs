//! What the daemon's tests share: the pinned helm's renderer, and an environment `prod`'s
//! reconciler over the in-memory cluster.

use super::promote::Job;
use super::reconcile::Reconciler;
use crate::apply::cluster::Cluster;
use crate::render::Renderer;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The renderer with the workspace's pinned helm, its cache under `dir`.
pub fn renderer(dir: &Path) -> Arc<Renderer> {
    let helm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/helm");
    Arc::new(Renderer::new(
        crate::render::helm::Helm::new(helm),
        crate::render::cache::RenderCache::new(dir.join("cache")),
        crate::render::Settings::default(),
    ))
}

/// prod's reconciler over `cluster` (the in-memory one), reading it directly (no live cache),
/// its records in `namespace`; its forge jobs (reverts, commit statuses) read from the receiver.
pub fn reconciler<C: Cluster>(
    dir: &Path,
    namespace: &str,
    cluster: Arc<C>,
) -> (Reconciler<C>, mpsc::Receiver<Job>) {
    let (jobs, received) = mpsc::channel(16);
    let r = Reconciler {
        environment: "prod".into(),
        renderer: renderer(dir),
        cluster,
        metrics: crate::metrics::Metrics::new().unwrap(),
        status: Arc::default(),
        agent_namespace: namespace.into(),
        stop: tokio::sync::watch::channel(false).1,
        object_series: std::sync::Mutex::new(Vec::new()),
        applied: tokio::sync::watch::channel(None).0,
        live: None,
        history: None,
        rollback: tokio::sync::Mutex::new(None),
        statuses: super::commit_status::CommitStatuses::new("prod", Some(jobs.clone())),
        jobs: Some(jobs),
        identity: "sextant-0".into(),
    };
    (r, received)
}
