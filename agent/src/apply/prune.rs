//! Pruning: deleting what left Git, in reverse wave order — and only what is the agent's.
//!
//! Spared, and reported:
//! - objects annotated `sextant.io/prune: disabled`, objects no longer labelled as the
//!   agent's, and objects labelled as another environment's (it took them over);
//! - a namespace that still holds objects this environment does not manage;
//! - a CustomResourceDefinition while custom resources of it exist that this environment does
//!   not manage (deleting a CRD deletes every resource of its kind, anyone's);
//! - anything whose check could not be made: a list that fails means "unknown", never "empty".
//!   Such an object stays in the inventory, so the next sync tries again.
//!
//! And nothing at all is pruned when a revision would delete more than the environment's
//! `spec.sync.pruneLimit` share of its objects, or all of them, unless an operator confirms
//! (`sextant apply --allow-mass-prune`, or `spec.sync.allowMassPrune` in that commit): a commit
//! that empties an environment by mistake must not empty the cluster (Argo CD's `allowEmpty`).

use super::cluster::{Cluster, ClusterError};
use super::error::SyncError;
use super::inventory::{self, Entry};
use super::result::{ObjectResult, Outcome};
use crate::object::ObjectKey as Identity;
use crate::object::{ObjectRef, ANNOTATION_PRUNE, LABEL_ENVIRONMENT, LABEL_MANAGED_BY, MANAGER};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a prune did: the objects it deleted or kept, and those it left for the next sync.
#[derive(Debug, Default)]
pub(super) struct Pruned {
    pub results: Vec<ObjectResult>,
    /// Left Git but not deleted because a check could not be made; they stay in their
    /// release's inventory.
    pub deferred: BTreeMap<String, Vec<Entry>>,
}

/// How much of an environment one revision may prune without an operator's yes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PruneGuard {
    /// The largest share, in percent, of the previous objects one sync may delete.
    pub limit_percent: u32,
    /// The operator's yes: prune whatever left Git.
    pub allow_mass_prune: bool,
}

impl Default for PruneGuard {
    fn default() -> Self {
        PruneGuard {
            limit_percent: 50,
            allow_mass_prune: false,
        }
    }
}

/// Whether pruning `count` of `total` previous objects, leaving `remaining`, needs an operator's
/// yes: more than the limit's share, or everything. `None` when it may go ahead.
pub fn mass_prune(
    guard: &PruneGuard,
    count: usize,
    total: usize,
    remaining: usize,
) -> Option<String> {
    if guard.allow_mass_prune || count == 0 {
        return None;
    }
    let everything = remaining == 0;
    let over = count * 100 > total * guard.limit_percent as usize;
    (everything || over).then(|| {
        format!(
            "prune blocked: this revision would delete {count} of the environment's {total} objects ({}; spec.sync.pruneLimit is {}%). Nothing was deleted. If that is intended, confirm once with `sextant apply --allow-mass-prune`, or set spec.sync.allowMassPrune: true in the commit",
            if everything { "all of them" } else { "more than the limit" },
            guard.limit_percent
        )
    })
}

/// What left Git since the inventories `previous` were written, and the mass-prune guard's
/// refusal when deleting it needs an operator's yes: what a sync would prune (and `sextant
/// preview` shows).
pub fn would_prune(
    guard: &PruneGuard,
    previous: &BTreeMap<String, Vec<Entry>>,
    desired: &BTreeMap<String, Vec<Entry>>,
) -> (Vec<Entry>, Option<String>) {
    let all_desired: Vec<Entry> = desired.values().flatten().cloned().collect();
    let all_previous: Vec<Entry> = previous.values().flatten().cloned().collect();
    let doomed = inventory::to_prune(&all_previous, &all_desired);
    let total = all_previous
        .iter()
        .map(Entry::identity)
        .collect::<BTreeSet<_>>()
        .len();
    let blocked = mass_prune(guard, doomed.len(), total, all_desired.len());
    (doomed, blocked)
}

/// Deletes what left Git, in reverse wave order, sparing what is not the agent's to delete.
pub(super) async fn prune(
    cluster: &impl Cluster,
    environment: &str,
    dry_run: bool,
    guard: &PruneGuard,
    previous: &BTreeMap<String, Vec<Entry>>,
    desired: &BTreeMap<String, Vec<Entry>>,
) -> Result<Pruned, SyncError> {
    let mut by_identity: HashMap<Identity, String> = HashMap::new();
    for (release, entries) in previous {
        for e in entries {
            by_identity.insert(e.reference().key(), release.clone());
        }
    }
    let (doomed, blocked) = would_prune(guard, previous, desired);
    if let Some(why) = blocked {
        return Err(SyncError::MassPrune { message: why });
    }
    let mine = Ownership { environment };
    let mut out = Pruned::default();
    for e in doomed {
        let r = e.reference();
        let release = by_identity.get(&r.key()).cloned().unwrap_or_default();
        let Some(live) = cluster.get(&r).await? else {
            continue;
        };
        let kept = |why: String| {
            ObjectResult::new(&release, &r, None, Outcome::Unchanged)
                .with_message(format!("left Git; kept: {why}"))
        };
        let annotation = live
            .pointer(&format!(
                "/metadata/annotations/{}",
                ANNOTATION_PRUNE.replace('/', "~1")
            ))
            .and_then(Value::as_str);
        if annotation == Some("disabled") {
            out.results.push(kept("sextant.io/prune=disabled".into()));
            continue;
        }
        if !mine.labelled(&live, false) {
            out.results
                .push(kept("no longer labelled as managed by sextant".into()));
            continue;
        }
        if let Some(other) = crate::object::other_environment(&live, environment) {
            out.results.push(kept(format!(
                "labelled {LABEL_ENVIRONMENT}={other}: environment {other:?} holds it now"
            )));
            continue;
        }
        let blocker = if r.kind == "Namespace" && r.group.is_empty() {
            unmanaged_in_namespace(cluster, &mine, &r.name).await
        } else if r.kind == "CustomResourceDefinition" && r.group == "apiextensions.k8s.io" {
            unmanaged_of_crd(cluster, &mine, &live).await
        } else {
            Ok(None)
        };
        match blocker {
            Ok(Some(other)) => {
                out.results.push(kept(other));
                continue;
            }
            Ok(None) => {}
            Err(unknown) => {
                tracing::warn!(object = %r, reason = %unknown, "prune skipped: cannot tell whether it is safe");
                out.results.push(
                    ObjectResult::new(&release, &r, None, Outcome::Unchanged).with_message(
                        format!(
                            "left Git; not pruned this time: {unknown}; the next sync tries again"
                        ),
                    ),
                );
                out.deferred.entry(release.clone()).or_default().push(e);
                continue;
            }
        }
        if !dry_run {
            cluster.delete(&r).await?;
        }
        out.results
            .push(ObjectResult::new(&release, &r, None, Outcome::Pruned));
    }
    Ok(out)
}

/// What counts as this environment's own object when deciding a prune.
struct Ownership<'a> {
    environment: &'a str,
}

impl Ownership<'_> {
    /// Labelled as the agent's — and, with `this_environment`, as this environment's.
    fn labelled(&self, o: &Value, this_environment: bool) -> bool {
        let label = |k: &str| {
            o.pointer(&format!("/metadata/labels/{}", k.replace('/', "~1")))
                .and_then(Value::as_str)
        };
        label(LABEL_MANAGED_BY) == Some(MANAGER)
            && (!this_environment || label(LABEL_ENVIRONMENT) == Some(self.environment))
    }

    /// Whether an object in a doomed namespace or of a doomed CRD may go with it: this
    /// environment's, owned by another object (it goes with its owner), or one of the objects
    /// Kubernetes puts in every namespace.
    fn may_go(&self, kind: &str, o: &Value) -> bool {
        let name = o
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let owned = o
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
        let default = matches!(
            (kind, name),
            ("ServiceAccount", "default") | ("ConfigMap", "kube-root-ca.crt")
        );
        self.labelled(o, true) || owned || default
    }
}

/// Why a prune cannot tell whether deleting an object is safe: a list it needed failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}{error}")]
struct CannotTell {
    /// What could not be told, as the start of the message ("" when the error says it).
    what: String,
    error: ClusterError,
}

/// The first object in a namespace that this environment does not manage, if any (events,
/// endpoints and leases do not count). `Err` when a list fails: then nobody knows.
async fn unmanaged_in_namespace(
    cluster: &impl Cluster,
    mine: &Ownership<'_>,
    ns: &str,
) -> Result<Option<String>, CannotTell> {
    let ignored: BTreeSet<&str> = ["Event", "Endpoints", "EndpointSlice", "Lease"].into();
    let kinds = cluster.listable().await.map_err(|error| CannotTell {
        what: String::new(),
        error,
    })?;
    for (kind, served) in kinds {
        if !served.namespaced || ignored.contains(kind.kind.as_str()) {
            continue;
        }
        let in_ns = ObjectRef {
            namespace: Some(ns.to_string()),
            ..kind
        };
        let items = cluster.list(&in_ns, "").await.map_err(|error| CannotTell {
            what: format!("cannot tell what namespace {ns} holds: "),
            error,
        })?;
        if let Some(o) = items.iter().find(|o| !mine.may_go(&in_ns.kind, o)) {
            return Ok(Some(format!(
                "namespace holds {} {}, which this environment does not manage",
                in_ns.kind,
                name_of(o)
            )));
        }
    }
    Ok(None)
}

/// The first custom resource of a CRD that this environment does not manage, if any. `Err`
/// when its list fails.
async fn unmanaged_of_crd(
    cluster: &impl Cluster,
    mine: &Ownership<'_>,
    crd: &Value,
) -> Result<Option<String>, CannotTell> {
    let text = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let (group, kind) = (text("/spec/group"), text("/spec/names/kind"));
    let crd_name = text("/metadata/name");
    let versions: Vec<&str> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    let Some(version) = versions.first() else {
        return Ok(None); // serves nothing: no resource of it can exist
    };
    let any = ObjectRef {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        namespace: None,
        name: String::new(),
    };
    let items = cluster.list(&any, "").await.map_err(|error| CannotTell {
        what: format!("cannot tell which {kind} resources exist: "),
        error,
    })?;
    Ok(items.iter().find(|o| !mine.may_go(kind, o)).map(|o| {
        let ns = o
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(|n| format!("{n}/"))
            .unwrap_or_default();
        format!(
            "{kind} {ns}{} exists, which this environment does not manage; deleting CRD {crd_name} would delete it too",
            name_of(o)
        )
    }))
}

fn name_of(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_may_prune_up_to_the_limit_and_never_everything_without_a_yes() {
        let guard = PruneGuard::default();
        assert_eq!(mass_prune(&guard, 0, 10, 0), None);
        assert_eq!(mass_prune(&guard, 5, 10, 5), None, "exactly the limit");
        let e = mass_prune(&guard, 6, 10, 4).unwrap();
        assert!(
            e.contains("delete 6 of the environment's 10 objects (more than the limit"),
            "{e}"
        );
        let e = mass_prune(&guard, 1, 1, 0).unwrap();
        assert!(e.contains("(all of them"), "{e}");
        let yes = PruneGuard {
            allow_mass_prune: true,
            ..guard
        };
        assert_eq!(mass_prune(&yes, 10, 10, 0), None);
        let all = PruneGuard {
            limit_percent: 100,
            ..guard
        };
        assert_eq!(mass_prune(&all, 9, 10, 1), None);
        assert!(mass_prune(&all, 10, 10, 0).is_some(), "emptying still asks");
    }
}
