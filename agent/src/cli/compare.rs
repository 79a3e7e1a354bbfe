//! `sextant diff` and `sextant drift`: what the cluster holds against what Git says; exit 1 when
//! they differ.

use super::{differs, on_cluster, renderer, write_out};
use crate::{Cli, ClusterArgs, DriftOutput, EnvArgs};
use std::process::ExitCode;

/// `sextant diff --output json`: the drifted objects, field by field with who changed each.
pub fn diff_json(
    cli: &Cli,
    EnvArgs { env, repo }: &EnvArgs,
    cluster: &ClusterArgs,
) -> anyhow::Result<ExitCode> {
    let renderer = renderer(cli, repo)?;
    let (environment, plan) = sextant::plan_environment(&renderer, repo, env)?;
    let drifted = on_cluster(cluster, async |cluster| {
        Ok(sextant::apply::diff::drift(cluster, &environment, &plan, 8).await?)
    })?;
    let sealed = renderer.sealed();
    let drifted: Vec<_> = drifted.iter().map(|d| d.sealed(&sealed)).collect();
    let objects: Vec<serde_json::Value> = drifted
        .iter()
        .map(|d| {
            let r = &d.reference;
            serde_json::json!({
                "release": d.release, "apiVersion": r.api_version(), "kind": r.kind,
                "namespace": r.namespace, "name": r.name, "deleted": d.deleted,
                "fields": d.fields,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "environment": environment.name, "revision": plan.revision,
        "in_sync": objects.is_empty(), "objects": objects,
    });
    write_out(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
    Ok(differs(!drifted.is_empty()))
}

/// `sextant diff`: a unified diff per object apply would change.
pub fn diff_text(
    cli: &Cli,
    EnvArgs { env, repo }: &EnvArgs,
    cluster: &ClusterArgs,
) -> anyhow::Result<ExitCode> {
    let renderer = renderer(cli, repo)?;
    let (environment, plan) = sextant::plan_environment(&renderer, repo, env)?;
    let sealed = renderer.sealed();
    let diffs = on_cluster(cluster, async |cluster| {
        Ok(sextant::apply::diff::diff(cluster, &environment, &plan, 8, &sealed).await?)
    })?;
    let text: String = diffs.iter().map(|d| d.diff.clone()).collect();
    write_out(&text)?;
    Ok(differs(!diffs.is_empty()))
}

/// `sextant drift`: the live drift per release and the values patch a drift pull request would
/// propose.
pub fn drift(
    cli: &Cli,
    EnvArgs { env, repo }: &EnvArgs,
    cluster: &ClusterArgs,
    output: DriftOutput,
) -> anyhow::Result<ExitCode> {
    let renderer = renderer(cli, repo)?;
    let (environment, plan) = sextant::plan_environment(&renderer, repo, env)?;
    let reports = on_cluster(cluster, async |cluster| {
        Ok(sextant::report::drift::report(&renderer, cluster, &environment, &plan).await?)
    })?;
    write_out(&match output {
        DriftOutput::Table => sextant::report::drift::table(&reports),
        DriftOutput::Json => {
            let doc = serde_json::json!({
                "environment": environment.name, "revision": plan.revision,
                "in_sync": reports.is_empty(), "releases": reports,
            });
            serde_json::to_string_pretty(&doc)? + "\n"
        }
        DriftOutput::Patch => sextant::report::drift::patch(&reports),
    })?;
    Ok(differs(!reports.is_empty()))
}
