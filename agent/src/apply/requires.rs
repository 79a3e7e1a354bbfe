//! The kinds a release requires (`requires:` in environment.yaml), waited for before its wave
//! applies: each served by the API server and, when a CustomResourceDefinition serves it, that
//! CRD `Established` — within the wave timeout, asking discovery again every poll, as the sync
//! waits for a custom resource's kind ([`Run::pause`], [`Cluster::served`]). The plan already
//! checked that something provides each (`requires::check`); here the cluster catches up.
//! Discovery lists a CRD's versions once it is Established, but the condition is read as well,
//! since the agent's discovery cache may answer before (<https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#create-a-customresourcedefinition>).

use super::cluster::Cluster;
use super::error::SyncError;
use super::health::{self, Status};
use super::sync::Run;
use crate::environment::Requirement;
use crate::object::ObjectRef;
use tokio::time::Instant;

impl<C: Cluster> Run<'_, C> {
    /// Waits until every kind required by a release that starts in `wave` is ready; fails naming
    /// each release and kind still not ready at the wave timeout. A dry run creates nothing, so
    /// it waits for nothing.
    pub(super) async fn await_required(&self, wave: i32) -> Result<(), SyncError> {
        if self.opts.dry_run {
            return Ok(());
        }
        let deadline = Instant::now() + self.opts.wave_timeout;
        let mut pending: Vec<(&str, &Requirement)> = self
            .env
            .releases
            .iter()
            .filter(|r| crate::requires::start_wave(r, self.plan) == wave)
            .flat_map(|r| r.requires.iter().map(move |q| (r.name.as_str(), q)))
            .collect();
        loop {
            let mut still = Vec::new();
            for (release, required) in pending {
                if let Some(why) = not_ready(self.cluster, required).await? {
                    still.push((release, required, why));
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SyncError::RequiredKind {
                    wave,
                    count: still.len(),
                    timeout: self.opts.wave_timeout,
                    details: still
                        .iter()
                        .map(|(release, required, why)| {
                            format!("release {release} requires {required}: {why}")
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            tracing::debug!(wave, kinds = still.len(), "waiting for required kinds");
            if self.pause(deadline, None).await {
                return Err(SyncError::Stopped { wave });
            }
            pending = still.into_iter().map(|(r, q, _)| (r, q)).collect();
        }
    }
}

/// Why `required` is not ready yet, or `None` when it is served (and its CRD, if a CRD serves it,
/// Established).
async fn not_ready(
    cluster: &impl Cluster,
    required: &Requirement,
) -> Result<Option<String>, SyncError> {
    let kind = ObjectRef {
        group: required.group.clone(),
        version: required.version.clone(),
        kind: required.kind.clone(),
        namespace: None,
        name: String::new(),
    };
    let Some(resource) = cluster.served(&kind).await? else {
        return Ok(Some("the API server does not serve it".into()));
    };
    if crate::kinds::is_builtin_group(&required.group) {
        return Ok(None);
    }
    let crd = ObjectRef {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        kind: "CustomResourceDefinition".into(),
        namespace: None,
        name: format!("{}.{}", resource.plural, required.group),
    };
    // No such CRD: an aggregated API serves the kind, and being served is all there is.
    let Some(live) = cluster.get(&crd).await? else {
        return Ok(None);
    };
    let health = health::assess(&live);
    Ok((health.status != Status::Healthy).then(|| {
        format!(
            "its CustomResourceDefinition {} is not Established ({})",
            crd.name, health.message
        )
    }))
}
