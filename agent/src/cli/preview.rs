//! `sextant preview`: what merging a change would do to one environment's live cluster, for a
//! person or for CI, against the kubeconfig's cluster (docs/preview.md). Exit 0 when the change
//! would apply, 1 when it would fail (it does not render, or the sync would stop), 2 when the
//! preview could not tell.

use super::{on_cluster, renderer, write_out};
use crate::{ClusterArgs, EnvArgs, PreviewOutput};
use sextant::report::preview::{preview as compute, Sides};
use sextant_core::preview::{markdown, Verdict};
use std::process::ExitCode;

/// The revisions compared: `base` (a name `git rev-parse` takes), and `head` (the same), or
/// the working tree when `head` is `None`.
pub struct Revisions<'a> {
    pub base: &'a str,
    pub head: Option<&'a str>,
}

pub fn preview(
    cli: &crate::Cli,
    EnvArgs { env, repo }: &EnvArgs,
    cluster: &ClusterArgs,
    revisions: &Revisions<'_>,
    output: PreviewOutput,
) -> anyhow::Result<ExitCode> {
    let scratch = tempfile::tempdir()?;
    let base_dir = scratch.path().join("base");
    let base = sextant_source::export_revision(repo, revisions.base, &base_dir)?;
    let (head_dir, head_rev) = match revisions.head {
        Some(rev) => {
            let dir = scratch.path().join("head");
            let head = sextant_source::export_revision(repo, rev, &dir)?;
            (dir, head.revision.to_string())
        }
        None => {
            let (snapshot, dirty) = sextant_source::local_snapshot(repo)?;
            let label = if dirty {
                format!("{} (working tree)", snapshot.revision)
            } else {
                snapshot.revision.to_string()
            };
            (repo.clone(), label)
        }
    };
    let renderer = renderer(cli, repo)?;
    let sides = Sides {
        base: (&base_dir, base.revision.as_str()),
        head: (&head_dir, &head_rev),
    };
    let p = on_cluster(cluster, async |c| {
        Ok(compute(&renderer, c, &cluster.agent_namespace, env, &sides).await)
    })?;
    write_out(&match output {
        PreviewOutput::Markdown => markdown(&p),
        PreviewOutput::Json => serde_json::to_string_pretty(&p)? + "\n",
    })?;
    Ok(match p.verdict {
        Verdict::Success => ExitCode::SUCCESS,
        Verdict::Failure => ExitCode::from(1),
        Verdict::Error => ExitCode::from(2),
    })
}
