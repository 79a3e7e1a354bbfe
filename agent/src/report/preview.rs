//! `sextant preview`: what a change to the repository would do to one environment's live
//! cluster, before it is merged (docs/preview.md). Renders the base and the head, lists the
//! objects Git changes (`sextant_core::preview`), reads what a sync of the head would write for
//! each (the comparison `sextant diff` shows, Secret values masked) and what it would prune
//! (the inventories in the cluster, the mass-prune guard), and writes nothing.

use crate::apply::cluster::Cluster;
use crate::apply::inventories::{desired, Store};
use crate::apply::prune::{would_prune, PruneGuard};
use crate::plan::Plan;
use crate::render::Renderer;
use sextant_core::preview::{
    git_changes, Change, ClusterChange, PolicyFinding, Preview, ValuesChange, Verdict,
};
use std::path::Path;

/// Where the two renderings come from.
pub struct Sides<'a> {
    /// A checkout of the base revision, and that revision.
    pub base: (&'a Path, &'a str),
    /// A checkout of the head revision (or the working tree), and its revision.
    pub head: (&'a Path, &'a str),
}

/// The preview of `environment` for a change from `sides.base` to `sides.head`.
pub async fn preview(
    renderer: &Renderer,
    cluster: &Cluster,
    agent_namespace: &str,
    environment: &str,
    sides: &Sides<'_>,
) -> Preview {
    let mut p = Preview::new(environment, sides.base.1, sides.head.1);
    let (env, head) = match crate::plan_environment(renderer, sides.head.0, environment) {
        Ok(planned) => planned,
        Err(e) => {
            return failed(
                p,
                Verdict::Failure,
                format!("the head does not render: {}", why_not_rendered(&e)),
            )
        }
    };
    let (base_env, base) = match plan_base(renderer, sides.base.0, environment) {
        Ok(planned) => planned,
        Err(e) => return failed(p, Verdict::Error, format!("the base does not render: {e}")),
    };
    p.git = git_changes(&base, &head);
    if let Some(base_env) = &base_env {
        p.values = values_changes(renderer, base_env, &env, &p.git);
    }
    match promoted_digests(base_env.as_ref(), &env, sides.head.0) {
        Ok(digests) => p.digests = digests,
        Err(e) => return failed(p, Verdict::Failure, e.to_string()),
    }
    let changed = changed_only(&head, &p.git);
    match policy(&base, &head, &p.git) {
        Ok(findings) => p.policy = findings,
        Err(e) => {
            return failed(
                p,
                Verdict::Error,
                format!("the tracked branch's Gatekeeper policies cannot be read: {e}"),
            )
        }
    }
    match cluster_changes(cluster, &env, &changed).await {
        Ok(changes) => p.cluster = changes,
        Err(e) => {
            return failed(
                p,
                Verdict::Error,
                format!("the cluster cannot be read: {e}"),
            )
        }
    }
    let store = Store {
        cluster,
        namespace: agent_namespace,
        environment,
    };
    let previous = match store.read().await {
        Ok(previous) => previous,
        Err(e) => {
            return failed(
                p,
                Verdict::Error,
                format!("the inventories cannot be read: {e}"),
            )
        }
    };
    let refused = sextant_core::preview::rejected(&p.digests)
        .or_else(|| sextant_core::preview::denied(&p.policy));
    if let Some(reason) = refused {
        p = failed(p, Verdict::Failure, reason);
    }
    if env.sync.prune {
        let guard = PruneGuard {
            limit_percent: env.sync.prune_limit_percent(),
            allow_mass_prune: env.sync.allow_mass_prune,
        };
        let (doomed, blocked) = would_prune(&guard, &previous, &desired(&head));
        p.prunes = doomed.iter().map(|e| e.reference().to_string()).collect();
        if let Some(why) = blocked {
            if p.verdict == Verdict::Success {
                p.verdict = Verdict::Failure;
                p.reason = Some("the mass-prune guard would stop the sync".into());
            }
            p.prune_blocked = Some(why);
        }
    }
    p
}

/// The base's environment and plan; a base where the environment does not load (a new
/// environment) compares as empty: everything is added.
fn plan_base(
    renderer: &Renderer,
    dir: &Path,
    environment: &str,
) -> Result<(Option<crate::environment::Environment>, Plan), crate::Error> {
    match crate::plan_environment(renderer, dir, environment) {
        Ok((env, plan)) => Ok((Some(env), plan)),
        Err(crate::Error::Environment(_)) => Ok((
            None,
            Plan {
                environment: environment.to_string(),
                revision: None,
                waves: Vec::new(),
            },
        )),
        Err(e) => Err(e),
    }
}

/// The promoted digests the head moves (`spec.promotion.images`, the head's declaration read
/// against both sides), each marked when the head's `rejected.yaml` lists it; a broken
/// `rejected.yaml` is the change's failure, naming the file.
fn promoted_digests(
    base_env: Option<&crate::environment::Environment>,
    head_env: &crate::environment::Environment,
    head_dir: &Path,
) -> Result<Vec<sextant_core::preview::DigestChange>, sextant_core::promotion::rejected::ReadError>
{
    let Some(promotion) = &head_env.promotion else {
        return Ok(Vec::new());
    };
    let head = sextant_core::promotion::digests(head_env, &promotion.images);
    let base = base_env
        .map(|b| sextant_core::promotion::digests(b, &promotion.images))
        .unwrap_or_default();
    let rejected = sextant_core::promotion::rejected::read(head_dir, &head_env.name)?;
    Ok(sextant_core::preview::digest_changes(
        &promotion.from,
        &base,
        &head,
        &rejected,
    ))
}

/// At most this many values keys are followed per release (one render each).
const MAX_KEYS: usize = 10;

/// The values keys the change moves in each release it changes, with the fields each moves
/// (provenance, forwards); a key that moves a Secret's field shows neither value.
fn values_changes(
    renderer: &Renderer,
    base_env: &crate::environment::Environment,
    head_env: &crate::environment::Environment,
    git: &[sextant_core::preview::ObjectChange],
) -> Vec<ValuesChange> {
    let releases: std::collections::BTreeSet<&str> =
        git.iter().map(|g| g.release.as_str()).collect();
    let mut out = Vec::new();
    for name in releases {
        let (Some(b), Some(h)) = (base_env.release(name), head_env.release(name)) else {
            continue;
        };
        let moved =
            crate::drift::provenance::moved_keys(renderer, (base_env, b), (head_env, h), MAX_KEYS);
        let (moves, left_out) = match moved {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(environment = %head_env.name, release = name, error = %e, "preview: the values keys a change moves could not be followed");
                continue;
            }
        };
        if left_out > 0 {
            tracing::info!(environment = %head_env.name, release = name, left_out, "preview: more values keys changed than are followed");
        }
        for m in moves {
            let secret = m
                .fields
                .iter()
                .any(|(r, _)| r.group.is_empty() && r.kind == "Secret");
            let text = |v: &Option<serde_json::Value>| match (secret, v) {
                (_, None) => None,
                (true, Some(_)) => Some("(masked: it renders into a Secret)".to_string()),
                (false, Some(v)) => Some(v.to_string()),
            };
            out.push(ValuesChange {
                release: name.to_string(),
                key: m.key,
                before: text(&m.before),
                after: text(&m.after),
                fields: m
                    .fields
                    .iter()
                    .map(|(r, path)| format!("{r} {path}").trim_end().to_string())
                    .collect(),
            });
        }
    }
    out
}

/// What a sync of `changed` would write, per object, as `sextant diff` shows it.
async fn cluster_changes(
    cluster: &Cluster,
    env: &crate::environment::Environment,
    changed: &Plan,
) -> Result<Vec<ClusterChange>, crate::apply::cluster::ClusterError> {
    let diffs = crate::apply::diff::diff(cluster, env, changed, 8).await?;
    Ok(diffs
        .into_iter()
        .map(|d| ClusterChange {
            release: d.release,
            object: d.reference.to_string(),
            diff: d.diff,
        })
        .collect())
}

/// The Gatekeeper constraints of the base (the tracked branch's: a change cannot weaken the
/// policies it is judged by) on every object the head adds or changes, hooks included (the
/// admission webhook reviews them when they are created), as Gatekeeper would decide
/// (`sextant-policy`: the templates' Rego on a real Rego engine, each constraint's match).
fn policy(
    base: &Plan,
    head: &Plan,
    git: &[sextant_core::preview::ObjectChange],
) -> Result<Vec<PolicyFinding>, sextant_policy::Error> {
    let policies = base
        .objects()
        .filter(|o| {
            o.reference.kind == "ConstraintTemplate"
                || o.reference.group == "constraints.gatekeeper.sh"
        })
        .map(|o| &o.manifest);
    let set = sextant_policy::PolicySet::from_objects(policies)?;
    if set.constraints.is_empty() {
        return Ok(Vec::new());
    }
    let touched: std::collections::HashSet<&crate::object::ObjectKey> = git
        .iter()
        .filter(|g| g.change != Change::Removed)
        .map(|g| &g.key)
        .collect();
    let mut out = Vec::new();
    for o in head
        .objects()
        .filter(|o| touched.contains(&o.reference.key()))
    {
        let mut reviewed = o.manifest.clone();
        if let (Some(ns), true) = (
            &o.reference.namespace,
            reviewed["metadata"].get("namespace").is_none(),
        ) {
            reviewed["metadata"]["namespace"] = serde_json::Value::String(ns.clone());
        }
        for (name, message) in set.review(&reviewed)? {
            let (kind, action) = set
                .constraint(&name)
                .map(|c| (c.kind.clone(), c.enforcement_action.clone()))
                .unwrap_or_default();
            out.push(PolicyFinding {
                object: o.reference.to_string(),
                constraint: format!("{kind}/{name}"),
                action,
                message,
            });
        }
    }
    Ok(out)
}

/// A render error said for one environment's preview, shortest first: helm's own message (which
/// names the template and its line) after the release, without the environment and chart the
/// preview already names, so a commit status's 140 characters still hold the file and line.
fn why_not_rendered(e: &crate::Error) -> String {
    match e {
        crate::Error::Render(crate::render::Error::Template {
            release,
            source: crate::render::helm::HelmError::Failed(message),
            ..
        }) => format!(
            "release {release}: {}",
            message.trim().trim_start_matches("Error: ")
        ),
        e => e.to_string(),
    }
}

fn failed(mut p: Preview, verdict: Verdict, reason: String) -> Preview {
    p.verdict = verdict;
    p.reason = Some(reason);
    p
}

/// The head's plan with only the objects Git adds or changes (hooks aside: they are not
/// applied as objects).
fn changed_only(head: &Plan, git: &[sextant_core::preview::ObjectChange]) -> Plan {
    let touched: std::collections::HashSet<&crate::object::ObjectKey> = git
        .iter()
        .filter(|g| g.change != Change::Removed)
        .map(|g| &g.key)
        .collect();
    Plan {
        environment: head.environment.clone(),
        revision: head.revision.clone(),
        waves: head
            .waves
            .iter()
            .map(|w| crate::plan::WavePlan {
                wave: w.wave,
                objects: w
                    .objects
                    .iter()
                    .filter(|o| o.hook.is_none() && touched.contains(&o.reference.key()))
                    .cloned()
                    .collect(),
            })
            .collect(),
    }
}
