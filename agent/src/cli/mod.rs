//! What the commands share: the renderer the global flags describe, the cluster a command talks
//! to, a runtime to talk to it on, and the one way output is written.

pub mod apply;
pub mod compare;
pub mod daemon;
pub mod edit;
pub mod preview;
pub mod promote;
pub mod show;

use crate::{Cli, ClusterArgs};
use anyhow::Context as _;
use sextant::apply::cluster::KubeCluster;
use sextant::render::{cache::RenderCache, helm::Helm, Renderer, Settings};
use std::io::Write;
use std::process::ExitCode;

/// The cluster `apply` and `diff` talk to: the kubeconfig (or in-cluster), its context checked.
async fn kube_config(args: &ClusterArgs) -> anyhow::Result<kube::Config> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let (kubeconfig, origin) = match &args.kubeconfig {
        Some(path) => (
            Some(
                Kubeconfig::read_from(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?,
            ),
            path.display().to_string(),
        ),
        None => (
            Kubeconfig::read().ok(),
            "the kubeconfig ($KUBECONFIG or ~/.kube/config)".into(),
        ),
    };
    let Some(kc) = kubeconfig else {
        return kube::Config::incluster()
            .context("no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not in a cluster");
    };
    if let Some(want) = &args.context {
        if !kc.contexts.iter().any(|c| &c.name == want) {
            let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
            anyhow::bail!(
                "{origin} has no context {want:?} (its contexts: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .with_context(|| format!("using {origin}"))
}

pub async fn cluster(args: &ClusterArgs) -> anyhow::Result<KubeCluster> {
    Ok(KubeCluster::connect(kube_config(args).await?)?)
}

/// Connects to the cluster on a runtime of its own and runs `work` against it.
pub fn on_cluster<T>(
    args: &ClusterArgs,
    work: impl AsyncFnOnce(&KubeCluster) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let cluster = cluster(args).await?;
        work(&cluster).await
    })
}

/// kubectl's convention for `diff`: 1 when something differs, 0 when nothing does.
pub fn differs(anything: bool) -> ExitCode {
    if anything {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn write_out(text: &str) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to standard output")
}

pub fn renderer(cli: &Cli, repo: &std::path::Path) -> anyhow::Result<Renderer> {
    let helm = Helm::locate(cli.helm.as_deref(), repo)?;
    let cache = RenderCache::new(
        cli.cache_dir
            .clone()
            .unwrap_or_else(sextant::default_cache_dir),
    );
    Ok(Renderer::new(
        helm,
        cache,
        Settings {
            kube_version: cli.kube_version.clone(),
            api_versions: cli.api_versions.clone(),
            parallelism: cli
                .render_parallelism
                .unwrap_or(Settings::default().parallelism),
            timeout: match &cli.render_timeout {
                None => sextant::render::helm::DEFAULT_TIMEOUT,
                Some(t) => sextant::duration::parse(t).with_context(|| {
                    format!("--render-timeout {t:?} is not a duration such as 30s or 2m")
                })?,
            },
            chart_mirrors: cli.chart_mirrors.clone().unwrap_or_default(),
        },
    ))
}
