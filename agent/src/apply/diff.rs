//! `sextant diff`: what an apply would change, as a unified diff per object, like `kubectl diff`.
//! An object is shown exactly when `compare` says it is not in sync — the decision apply makes —
//! as live against live with Git's fields merged over it.

use super::cluster::{Cluster, ClusterError};
use crate::compare::{self, Comparison, Keep};
use crate::object::{Object, ObjectRef};
use crate::plan::Plan;
use crate::secrets::Sealed;
use futures::{stream, StreamExt};
// The core's drift (the agent's `drift` module acts on it, and reads apply: no circle).
use serde_json::Value;
use sextant_core::drift::{self, ObjectDrift};

/// One object that would change.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff {
    pub release: String,
    pub reference: ObjectRef,
    pub diff: String,
}

/// Drops what the server owns (status, bookkeeping metadata) so that only intent is compared.
pub fn normalize(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "generation",
                "uid",
                "creationTimestamp",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
    }
    v
}

/// A unified diff between live and desired YAML, or `None` when they are equal.
pub fn unified(label: &str, live: Option<&Value>, desired: &Value) -> Option<String> {
    unified_to("git", label, live, desired)
}

/// [`unified`], the right side's header naming where it comes from (`git`, `dry-run`).
fn unified_to(source: &str, label: &str, live: Option<&Value>, desired: &Value) -> Option<String> {
    let before = live
        .map(|l| crate::yaml::to_string(&normalize(l.clone())))
        .unwrap_or_default();
    let after = crate::yaml::to_string(&normalize(desired.clone()));
    if before == after {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&before, &after);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(&format!("live/{label}"), &format!("{source}/{label}"))
            .to_string(),
    )
}

/// Diffs every object of a plan (hooks aside) against the cluster: what a sync would write, so
/// fields drift ignores keep their live values (`Comparison::respecting`).
/// A value decrypted from a SOPS file shows as `(encrypted value)` (`sealed`).
pub async fn diff(
    cluster: &impl Cluster,
    env: &crate::environment::Environment,
    plan: &Plan,
    concurrency: usize,
    sealed: &Sealed,
) -> Result<Vec<ObjectDiff>, ClusterError> {
    per_object(plan, concurrency, |o| diff_one(cluster, env, o, sealed)).await
}

/// `f` of every object of a plan (hooks aside), `concurrency` at a time, in the plan's order;
/// the objects it has nothing to say about left out; the first error ends it.
async fn per_object<'p, T, Fut>(
    plan: &'p Plan,
    concurrency: usize,
    f: impl Fn(&'p Object) -> Fut,
) -> Result<Vec<T>, ClusterError>
where
    Fut: std::future::Future<Output = Result<Option<T>, ClusterError>>,
{
    let objects: Vec<&Object> = plan.objects().filter(|o| o.hook.is_none()).collect();
    let results: Vec<Result<Option<T>, ClusterError>> =
        stream::iter(objects.into_iter().map(f).collect::<Vec<_>>())
            .buffered(concurrency.max(1))
            .collect()
            .await;
    results.into_iter().filter_map(Result::transpose).collect()
}

/// Every object of a plan (hooks aside) that departs from Git live, field by field with the
/// manager who changed it — the drift watch's comparison, ignore rules included, against one
/// GET per object. Secret values are masked. `sextant diff --output json` prints it.
pub async fn drift(
    cluster: &impl Cluster,
    env: &crate::environment::Environment,
    plan: &Plan,
    concurrency: usize,
) -> Result<Vec<ObjectDrift>, ClusterError> {
    per_object(plan, concurrency, |o| async move {
        let live = live_of(cluster, o).await?;
        Ok(drift::evaluate(env, o, live.as_ref()).map(|d| d.masked()))
    })
    .await
}

/// The live object; `None` as well for a kind the server does not serve yet (its CRD is in
/// this plan).
async fn live_of(cluster: &impl Cluster, o: &Object) -> Result<Option<Value>, ClusterError> {
    match cluster.get(&o.reference).await {
        Ok(live) => Ok(live),
        Err(ClusterError::UnknownKind { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn diff_one(
    cluster: &impl Cluster,
    env: &crate::environment::Environment,
    o: &Object,
    sealed: &Sealed,
) -> Result<Option<ObjectDiff>, ClusterError> {
    let live = live_of(cluster, o).await?;
    let comparison = Comparison::of(env, o, live.as_ref());
    Ok((!comparison.in_sync(Keep::Ignored))
        .then(|| merged_diff(o, live.as_ref(), &comparison, sealed)))
}

/// What the server would answer a sync's write, asked without writing (docs/preview.md).
#[derive(Debug, Clone, PartialEq)]
pub enum DryRun {
    /// The server's answer (defaults, mutating admission and the other managers' fields
    /// included) against the live object.
    Answered(ObjectDiff),
    /// The server cannot be asked yet (the kind or the namespace is created by the same
    /// change): Git's fields merged over the live object by the agent, as `sextant diff` does.
    Merged(ObjectDiff),
    /// The server refuses the write, and why (a field-manager conflict, an invalid object, an
    /// admission webhook's denial), Secret values scrubbed: the sync would fail here.
    Refused {
        release: String,
        reference: ObjectRef,
        why: String,
    },
}

/// Every object of a plan (hooks aside) that a sync would write, sent to the API server as
/// the sync would send it (`Comparison::respecting`, the environment's `forceConflicts`) with
/// `dryRun=All`: nothing is stored. An object already as Git says is not sent; one the server
/// would store unchanged is not listed. A value decrypted from a SOPS file shows as
/// `(encrypted value)` (`sealed`).
pub async fn dry_run(
    cluster: &impl Cluster,
    env: &crate::environment::Environment,
    plan: &Plan,
    concurrency: usize,
    sealed: &Sealed,
) -> Result<Vec<DryRun>, ClusterError> {
    per_object(plan, concurrency, |o| dry_run_one(cluster, env, o, sealed)).await
}

async fn dry_run_one(
    cluster: &impl Cluster,
    env: &crate::environment::Environment,
    o: &Object,
    sealed: &Sealed,
) -> Result<Option<DryRun>, ClusterError> {
    let refused = |why: String| DryRun::Refused {
        release: o.release.clone(),
        reference: o.reference.clone(),
        why: sealed.scrub(&crate::secrets::scrub(&why, &o.manifest)),
    };
    let live = live_of(cluster, o).await?;
    let comparison = Comparison::of(env, o, live.as_ref());
    if comparison.in_sync(Keep::Ignored) {
        return Ok(None);
    }
    let force = env.sync.force_conflicts;
    if let Some(why) = super::sync::held_by_another(env, o, live.as_ref(), force) {
        return Ok(Some(refused(why)));
    }
    let merged = || {
        Some(DryRun::Merged(merged_diff(
            o,
            live.as_ref(),
            &comparison,
            sealed,
        )))
    };
    let respected = comparison.respecting(Keep::Ignored);
    let manifest = respected.as_ref().map_or(&o.manifest, |r| &r.manifest);
    match cluster.apply(&o.reference, manifest, force, true).await {
        Ok(answer) => {
            let (shown_live, shown_answer) = crate::secrets::mask_pair(live.as_ref(), &answer);
            let (shown_live, shown_answer) = sealed.mask_pair(shown_live.as_ref(), &shown_answer);
            let label = label(&o.reference);
            Ok(
                unified_to("dry-run", &label, shown_live.as_ref(), &shown_answer).map(|diff| {
                    DryRun::Answered(ObjectDiff {
                        release: o.release.clone(),
                        reference: o.reference.clone(),
                        diff,
                    })
                }),
            )
        }
        Err(ClusterError::Conflict { message, .. }) => Ok(Some(refused(format!(
            "conflict with another field manager: {message}"
        )))),
        // A kind whose CRD the same change brings, or a namespace the same sync creates first.
        Err(ClusterError::UnknownKind { .. }) => Ok(merged()),
        Err(e) if e.is_not_found() && live.is_none() => Ok(merged()),
        Err(ClusterError::Api {
            message,
            transient: false,
            ..
        }) => Ok(Some(refused(message))),
        Err(e) => Err(e),
    }
}

/// `Kind/namespace/name`, as the diff's header names an object.
fn label(r: &ObjectRef) -> String {
    let ns = r
        .namespace
        .as_deref()
        .map(|n| format!("{n}/"))
        .unwrap_or_default();
    format!("{}/{ns}{}", r.kind, r.name)
}

/// Git's fields merged over `live` (the fields drift ignores keep their live values), as a
/// unified diff, for an object `comparison` (its one comparison) finds out of sync.
fn merged_diff(
    o: &Object,
    live: Option<&Value>,
    comparison: &Comparison,
    sealed: &Sealed,
) -> ObjectDiff {
    let respected = comparison.respecting(Keep::Ignored);
    let manifest = respected.as_ref().map_or(&o.manifest, |r| &r.manifest);
    let after = match live {
        Some(l) => compare::merged(manifest, l),
        None => compare::canonical(manifest),
    };
    let label = label(&o.reference);
    // A Secret's values are masked on both sides; a changed one still shows as a changed line.
    let (shown_live, shown_after) = crate::secrets::mask_pair(live, &after);
    let (shown_live, shown_after) = sealed.mask_pair(shown_live.as_ref(), &shown_after);
    let secret = crate::secrets::is_secret(&after);
    // Never "in sync" here when compare says otherwise: a difference the YAML text does not show
    // (a number's type, say) is listed by field.
    let diff = unified(&label, shown_live.as_ref(), &shown_after).unwrap_or_else(|| {
        let fields = comparison.overwritten(Keep::Ignored);
        let mut text = format!("--- live/{label}\n+++ git/{label}\n");
        for f in fields {
            let (before, after) = if secret {
                ("*** (before)".to_string(), "*** (after)".to_string())
            } else {
                (
                    f.live.as_ref().map_or("absent".into(), |v| v.to_string()),
                    f.git.to_string(),
                )
            };
            text.push_str(&format!("# {}: live {before} → git {after}\n", f.path));
        }
        sealed.scrub(&text)
    });
    ObjectDiff {
        release: o.release.clone(),
        reference: o.reference.clone(),
        diff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_after_normalising_is_no_diff_and_a_change_shows_both_lines() {
        let live = json!({"kind": "Deployment", "metadata": {"name": "d", "uid": "1", "resourceVersion": "9", "managedFields": []},
                          "spec": {"replicas": 5}, "status": {"readyReplicas": 5}});
        let same =
            json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 5}});
        assert_eq!(unified("d", Some(&live), &same), None);
        let git = json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 2}});
        let d = unified("Deployment/ns/d", Some(&live), &git).unwrap();
        assert!(
            d.contains("-  replicas: 5") && d.contains("+  replicas: 2"),
            "{d}"
        );
        assert!(d.contains("live/Deployment/ns/d"), "{d}");
    }
}
