//! What the daemon's tests share: the pinned helm's renderer, and an environment `prod`'s
//! reconciler over the in-memory cluster.

use super::applied::Applied;
use super::promote::Job;
use super::reconcile::Reconciler;
use crate::apply::cluster::Cluster;
use crate::object::ObjectRef;
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
        verifying: tokio::sync::Mutex::new(None),
        clock: super::clock::Clock::manual(1_800_000_000),
        statuses: super::commit_status::CommitStatuses::new("prod", Some(jobs.clone())),
        jobs: Some(jobs),
        identity: "sextant-0".into(),
        signatures: None,
        signed: std::sync::Mutex::default(),
    };
    (r, received)
}

/// A checkout of a repository whose prod runs `digest` (a ConfigMap `app` carries it) and
/// promotes it from dev, with `verify` (YAML lines of `promotion.verify`) when given.
pub fn checkout(dir: &Path, digest: &str, verify: &str) {
    let files = [
        ("charts/app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n".to_string()),
        (
            "charts/app/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  image: {{ .Values.image.digest | quote }}\n".to_string(),
        ),
        (
            "environments/prod/environment.yaml",
            format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {{name: app, namespace: default, chart: charts/app, values: [values/app.yaml]}}\n  promotion:\n    from: dev\n    mode: pull-request\n    soak: 1s\n    images:\n      - {{release: app, path: image.digest, repository: registry.example/app}}\n{verify}"),
        ),
        ("environments/prod/values/app.yaml", format!("image:\n  digest: {digest}\n")),
        (
            "environments/dev/environment.yaml",
            "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: dev\nspec:\n  releases: []\n".to_string(),
        ),
    ];
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

/// What `revision` of a checkout renders to, as a successful sync would have applied it.
pub fn rendered<C: Cluster>(r: &Reconciler<C>, repo: &Path, revision: &str) -> Arc<Applied> {
    let (env, plan) = crate::plan_environment(&r.renderer, repo, "prod").unwrap();
    let objects = plan
        .objects()
        .filter(|o| o.hook.is_none())
        .cloned()
        .collect();
    Arc::new(Applied::new(env, Some(revision.into()), objects))
}

/// The digest the live ConfigMap `app` in `namespace` carries.
pub async fn live_image<C: Cluster>(cluster: &C, namespace: &str) -> Option<String> {
    let cm = ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some(namespace.into()),
        name: "app".into(),
    };
    cluster.get(&cm).await.unwrap().and_then(|o| {
        o.pointer("/data/image")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    })
}
