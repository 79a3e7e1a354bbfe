//! `sextant preview`: what a change to the repository would do to one environment's live
//! cluster, before it is merged (docs/preview.md). Renders the base and the head, lists the
//! objects Git changes (`sextant_core::preview`), asks the API server what a sync of the head
//! would write for each (a server-side dry-run, Secret values masked) and reads what it would
//! prune and which hooks would run (the inventories in the cluster, the mass-prune guard), and
//! writes nothing.

use crate::apply::cluster::Cluster;
use crate::apply::diff::DryRun;
use crate::apply::inventories::{changed_releases, desired, Store};
use crate::apply::prune::{would_prune, PruneGuard};
use crate::plan::Plan;
use crate::render::Renderer;
use sextant_core::preview::{
    git_changes, Change, ClusterChange, HookRun, PolicyFinding, Preview, Seen, ValuesChange,
    Verdict,
};
use std::path::Path;

/// Where the two renderings come from.
pub struct Sides<'a> {
    /// A checkout of the base revision, and that revision.
    pub base: (&'a Path, &'a str),
    /// A checkout of the head revision (or the working tree), and its revision.
    pub head: (&'a Path, &'a str),
}

/// The preview of `environment` for a change from `sides.base` to `sides.head`: [`render`],
/// then [`Rendered::against`] the cluster.
pub async fn preview(
    renderer: &Renderer,
    cluster: &impl Cluster,
    agent_namespace: &str,
    environment: &str,
    sides: &Sides<'_>,
) -> Preview {
    render(renderer, environment, sides)
        .against(cluster, agent_namespace)
        .await
}

/// The half of a preview that reads no cluster: both sides loaded, rendered and compared, the
/// values keys, the promoted digests and Gatekeeper's verdicts. Helm runs here: off the async
/// runtime, call it on a blocking thread.
pub struct Rendered {
    preview: Preview,
    /// What the cluster half reads; `None` when the verdict is already given (the head does
    /// not render, the base cannot be read).
    next: Option<Next>,
}

struct Next {
    env: crate::environment::Environment,
    head: Plan,
    /// The head's plan with only what Git adds or changes.
    changed: Plan,
    /// The values decrypted from either side's SOPS files: shown nowhere.
    sealed: crate::secrets::Sealed,
}

/// Renders and compares both sides of a change (see [`Rendered`]).
pub fn render(renderer: &Renderer, environment: &str, sides: &Sides<'_>) -> Rendered {
    let p = Preview::new(environment, sides.base.1, sides.head.1);
    let decided = |p, verdict, reason| Rendered {
        preview: failed(p, verdict, reason),
        next: None,
    };
    let env = match crate::environment::load(sides.head.0, environment) {
        Ok(env) => env,
        Err(e) => {
            return decided(
                p,
                Verdict::Failure,
                format!("the head does not render: {e}"),
            )
        }
    };
    // A base where the environment does not load (a new environment) compares as empty.
    let base_env = crate::environment::load(sides.base.0, environment).ok();
    if let Some(why) = new_chart_source(renderer, sides.base.0, &env) {
        return decided(p, Verdict::Failure, why);
    }
    let head = match crate::plan_loaded(renderer, sides.head.0, &env) {
        Ok(plan) => plan,
        Err(e) => {
            return decided(
                p,
                Verdict::Failure,
                format!("the head does not render: {}", why_not_rendered(&e)),
            )
        }
    };
    let base = match &base_env {
        Some(b) => match crate::plan_loaded(renderer, sides.base.0, b) {
            Ok(plan) => plan,
            Err(e) => return decided(p, Verdict::Error, format!("the base does not render: {e}")),
        },
        None => Plan {
            environment: environment.to_string(),
            revision: None,
            waves: Vec::new(),
        },
    };
    let mut p = p;
    p.git = git_changes(&base, &head);
    p.crds = sextant_core::preview::crds(&p.git);
    // Both sides rendered: every value decrypted from either side's SOPS files is known.
    let sealed = renderer.sealed();
    if let Some(base_env) = &base_env {
        p.values = values_changes(renderer, base_env, &env, &p.git, &sealed);
    }
    match promoted_digests(base_env.as_ref(), &env, sides) {
        Ok(digests) => p.digests = digests,
        Err(e) => return decided(p, Verdict::Failure, e.to_string()),
    }
    match policy(&base, &head, &p.git) {
        Ok(findings) => p.policy = findings,
        Err(e) => {
            return decided(
                p,
                Verdict::Error,
                format!("the tracked branch's Gatekeeper policies cannot be read: {e}"),
            )
        }
    }
    let changed = changed_only(&head, &p.git);
    Rendered {
        preview: p,
        next: Some(Next {
            env,
            head,
            changed,
            sealed,
        }),
    }
}

impl Rendered {
    /// The preview, completed against the live cluster: a server-side dry-run of each object
    /// Git adds or changes, the inventories (prunes, the mass-prune guard, the hooks that would
    /// run). Reads only.
    pub async fn against(self, cluster: &impl Cluster, agent_namespace: &str) -> Preview {
        let Rendered { mut preview, next } = self;
        let Some(Next {
            env,
            head,
            changed,
            sealed,
        }) = next
        else {
            return preview;
        };
        let p = &mut preview;
        match cluster_changes(cluster, &env, &changed, &sealed).await {
            Ok(changes) => p.cluster = changes,
            Err(e) => {
                return failed(
                    preview,
                    Verdict::Error,
                    format!("the cluster cannot be read: {e}"),
                )
            }
        }
        let store = Store::new(cluster, agent_namespace, &env.name);
        let previous = match store.read().await {
            Ok(previous) => previous,
            Err(e) => {
                return failed(
                    preview,
                    Verdict::Error,
                    format!("the inventories cannot be read: {e}"),
                )
            }
        };
        let desired = desired(&head);
        let changed_releases = changed_releases(&previous, &desired);
        p.hooks = head
            .objects()
            .filter(|o| changed_releases.contains(&o.release))
            .filter_map(|o| {
                o.hook.as_ref().map(|h| HookRun {
                    release: o.release.clone(),
                    object: o.reference.to_string(),
                    phase: h.phase.to_string(),
                })
            })
            .collect();
        let refused = sextant_core::preview::rejected(&p.digests)
            .or_else(|| sextant_core::preview::denied(&p.policy))
            .or_else(|| sextant_core::preview::refused(&p.cluster));
        if let Some(reason) = refused {
            preview = failed(preview, Verdict::Failure, reason);
        }
        if env.sync.prune {
            let guard = PruneGuard {
                limit_percent: env.sync.prune_limit_percent(),
                allow_mass_prune: env.sync.allow_mass_prune,
            };
            let (doomed, blocked) = would_prune(&guard, &previous, &desired);
            preview.prunes = doomed.iter().map(|e| e.reference().to_string()).collect();
            if let Some(why) = blocked {
                if preview.verdict == Verdict::Success {
                    preview.verdict = Verdict::Failure;
                    preview.reason = Some("the mass-prune guard would stop the sync".into());
                }
                preview.prune_blocked = Some(why);
            }
        }
        preview
    }
}

/// Why the head may not render: a remote chart from a repository no environment on the
/// tracked branch (the base checkout) pulls from, and no mirror serves.
fn new_chart_source(
    renderer: &Renderer,
    base_dir: &Path,
    head: &crate::environment::Environment,
) -> Option<String> {
    let remote = |env: &crate::environment::Environment| -> Vec<(String, String)> {
        env.releases
            .iter()
            .filter_map(|r| match &r.chart {
                crate::environment::Chart::Remote { repository, .. } => {
                    Some((r.name.clone(), repository.clone()))
                }
                crate::environment::Chart::Local(_) => None,
            })
            .collect()
    };
    let wanted = remote(head);
    if wanted.is_empty() {
        return None;
    }
    let allowed: std::collections::BTreeSet<String> = crate::environment::list(base_dir)
        .iter()
        .filter_map(|name| crate::environment::load(base_dir, name).ok())
        .flat_map(|env| remote(&env).into_iter().map(|(_, repo)| repo))
        .collect();
    sextant_core::preview::new_chart_source(&allowed, &wanted, |r| renderer.mirrored(r))
}

/// The promoted digests the head moves (`spec.promotion.images`, the head's declaration read
/// against both sides and against the `from` environment on the tracked branch), each marked
/// when the head's `rejected.yaml` lists it; a broken `rejected.yaml` is the change's failure,
/// naming the file.
fn promoted_digests(
    base_env: Option<&crate::environment::Environment>,
    head_env: &crate::environment::Environment,
    sides: &Sides<'_>,
) -> Result<Vec<sextant_core::preview::DigestChange>, sextant_core::promotion::rejected::ReadError>
{
    let Some(promotion) = &head_env.promotion else {
        return Ok(Vec::new());
    };
    let digests = |env: Option<&crate::environment::Environment>| {
        env.map(|e| sextant_core::promotion::digests(e, &promotion.images))
            .unwrap_or_default()
    };
    let source = crate::environment::load(sides.base.0, &promotion.from).ok();
    let rejected = sextant_core::promotion::rejected::read(sides.head.0, &head_env.name)?;
    Ok(sextant_core::preview::digest_changes(
        &promotion.from,
        [
            &digests(base_env),
            &digests(Some(head_env)),
            &digests(source.as_ref()),
        ],
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
    sealed: &crate::secrets::Sealed,
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
            let encrypted = [&m.before, &m.after]
                .into_iter()
                .flatten()
                .any(|v| sealed.in_value(v));
            let text = |v: &Option<serde_json::Value>| match (secret, v) {
                (_, None) => None,
                (true, Some(_)) => Some("(masked: it renders into a Secret)".to_string()),
                (false, Some(_)) if encrypted => {
                    Some(crate::secrets::ENCRYPTED_CHANGED.to_string())
                }
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

/// What a sync of `changed` would write, per object, asked of the API server with a dry-run
/// (`apply::diff::dry_run`): the diff from the live object to its answer, or why it refuses.
async fn cluster_changes(
    cluster: &impl Cluster,
    env: &crate::environment::Environment,
    changed: &Plan,
    sealed: &crate::secrets::Sealed,
) -> Result<Vec<ClusterChange>, crate::apply::cluster::ClusterError> {
    let answers = crate::apply::diff::dry_run(cluster, env, changed, 8, sealed).await?;
    Ok(answers
        .into_iter()
        .map(|a| match a {
            DryRun::Answered(d) => ClusterChange {
                release: d.release,
                object: d.reference.to_string(),
                diff: d.diff,
                seen: Seen::DryRun,
                refused: None,
            },
            DryRun::Merged(d) => ClusterChange {
                release: d.release,
                object: d.reference.to_string(),
                diff: d.diff,
                seen: Seen::Merged,
                refused: None,
            },
            DryRun::Refused {
                release,
                reference,
                why,
            } => ClusterChange {
                release,
                object: reference.to_string(),
                diff: String::new(),
                seen: Seen::DryRun,
                refused: Some(why),
            },
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
