//! `sextant promote`: what qualifies for promotion between two environments, and the values
//! patch written into the working tree unless it is a dry run.

use super::cluster;
use crate::{ClusterArgs, DriftOutput};
use anyhow::Context as _;
use sextant::promotion::gate::Gate;
use sextant::report::promotion::Row;
use std::collections::BTreeMap;
use std::path::Path;

/// The command's flags, as given.
pub struct Args<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub repo: &'a Path,
    pub release: Option<&'a str>,
    pub dry_run: bool,
}

pub fn promote(args: &Args, cluster: &ClusterArgs, output: DriftOutput) -> anyhow::Result<String> {
    let settings = sextant::config::RegistrySettings::from_env()?;
    let registry = sextant_registry::Registries::new(settings.config(), None);
    let trust = settings.trust()?;
    let rows = tokio::runtime::Runtime::new()?.block_on(async {
        let gates = recorded_gates(cluster, args.from).await;
        let sources = sextant::report::promotion::Sources {
            registry: &registry,
            trust: trust.as_ref(),
            gates: gates.as_ref(),
        };
        sextant::report::promotion::report(args.repo, args.from, args.to, args.release, &sources)
            .await
    })?;
    if !args.dry_run {
        write_patches(args.repo, &rows)?;
    }
    Ok(match output {
        DriftOutput::Table => sextant::report::promotion::table(&rows),
        DriftOutput::Json => serde_json::to_string_pretty(&rows)? + "\n",
        DriftOutput::Patch => sextant::report::promotion::patch(&rows),
    })
}

/// The gates the source's agent recorded, when its cluster answers.
async fn recorded_gates(
    args: &ClusterArgs,
    from: &str,
) -> Option<BTreeMap<(String, String), Gate>> {
    let c = cluster(args).await.ok()?;
    sextant::apply::record::load::<Vec<((String, String), Gate)>>(
        &c,
        &args.agent_namespace,
        &sextant::apply::record::gates_name(from),
    )
    .await
    .ok()
    .flatten()
    .map(|v| v.into_iter().collect())
}

/// Writes each row's patched values file into the working tree.
fn write_patches(repo: &Path, rows: &[Row]) -> anyhow::Result<()> {
    for r in rows {
        if let (Some(file), Some(after)) = (&r.file, &r.after) {
            std::fs::write(repo.join(file), after).with_context(|| format!("writing {file}"))?;
        }
    }
    Ok(())
}
