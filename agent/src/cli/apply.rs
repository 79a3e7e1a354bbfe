//! `sextant apply`: one sync of an environment, stopped cleanly by SIGTERM or SIGINT.

use super::{on_cluster, renderer, write_out};
use crate::{Cli, ClusterArgs, EnvArgs, PlanOutput};
use anyhow::Context as _;
use sextant::apply::sync::SyncOptions;
use sextant::environment::Environment;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// The flags of `apply` that override the environment's sync settings.
pub struct Overrides<'a> {
    pub dry_run: bool,
    pub force_conflicts: bool,
    pub prune: Option<bool>,
    pub allow_mass_prune: bool,
    pub wave_timeout: Option<&'a str>,
}

pub fn apply(
    cli: &Cli,
    EnvArgs { env, repo }: &EnvArgs,
    cluster: &ClusterArgs,
    overrides: &Overrides,
    output: PlanOutput,
) -> anyhow::Result<ExitCode> {
    let (environment, plan) = sextant::plan_environment(&renderer(cli, repo)?, repo, env)?;
    let mut opts = options(&environment, cluster, overrides)?;
    // SIGTERM or SIGINT stops the sync as the agent's shutdown does (no new wave, no
    // more waiting; the writes under way finish), and the partial result is printed.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    opts.stop = Some(stopping);
    let caught = Arc::new(AtomicU8::new(0));
    let result = on_cluster(cluster, async |cluster| {
        let signals = tokio::spawn(stop_on_signal(stop, caught.clone()));
        let result = sextant::apply::sync::sync(cluster, &environment, &plan, &opts).await;
        signals.abort();
        anyhow::Ok(result)
    })?;
    let signal = caught.load(Ordering::SeqCst);
    write_out(&match output {
        PlanOutput::Table => result.to_table(),
        PlanOutput::Json => serde_json::to_string_pretty(&result)? + "\n",
    })?;
    Ok(match signal {
        0 if result.succeeded => ExitCode::SUCCESS,
        0 => ExitCode::FAILURE,
        // The shell's convention for a process ended by a signal.
        s => ExitCode::from(128 + s),
    })
}

/// The environment's sync settings, with the command line's overrides.
fn options(
    environment: &Environment,
    cluster: &ClusterArgs,
    overrides: &Overrides,
) -> anyhow::Result<SyncOptions> {
    let mut opts = SyncOptions::for_environment(environment);
    opts.dry_run = overrides.dry_run;
    opts.force_conflicts |= overrides.force_conflicts;
    opts.prune = overrides.prune.unwrap_or(opts.prune);
    opts.prune_guard.allow_mass_prune |= overrides.allow_mass_prune;
    opts.agent_namespace = cluster.agent_namespace.clone();
    if let Some(t) = overrides.wave_timeout {
        opts.wave_timeout = sextant::duration::parse(t)
            .with_context(|| format!("--wave-timeout {t:?} is not a duration such as 90s or 5m"))?;
    }
    Ok(opts)
}

/// Waits for SIGTERM or SIGINT, records its number in `caught` and asks the sync to stop. A
/// second signal ends the process at once.
async fn stop_on_signal(stop: tokio::sync::watch::Sender<bool>, caught: Arc<AtomicU8>) {
    use tokio::signal::unix::{signal, SignalKind};
    // Linux and the BSDs agree on these numbers.
    const SIGINT: u8 = 2;
    const SIGTERM: u8 = 15;
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let (number, name) = tokio::select! {
        _ = term.recv() => (SIGTERM, "SIGTERM"),
        _ = int.recv() => (SIGINT, "SIGINT"),
    };
    caught.store(number, Ordering::SeqCst);
    eprintln!("{name}: stopping after the writes under way; the summary follows (a second signal exits at once)");
    let _ = stop.send(true);
    let again = tokio::select! {
        _ = term.recv() => SIGTERM,
        _ = int.recv() => SIGINT,
    };
    std::process::exit(128 + i32::from(again));
}
