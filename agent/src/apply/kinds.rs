//! Waiting for the kinds a wave applies to be served: a custom resource can be applied only once
//! its CustomResourceDefinition (or Gatekeeper ConstraintTemplate) is served. What the plan
//! creates in this wave or before is waited for; what nothing creates, or only a later wave
//! does, fails the wave at once, naming the object.

use super::cluster::Cluster;
use super::result::{ObjectResult, Outcome};
use super::sync::{Run, SyncError};
use crate::creators::{self, Creator};
use crate::object::Object;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// The kinds `(group, version, kind)` not served yet, each with the objects of that kind.
type Unserved<'o> = BTreeMap<(String, String, String), Vec<&'o Object>>;

/// One object of each kind still awaited, and what in the plan creates the kind.
type Waiting<'o> = Vec<(&'o Object, Creator)>;

impl<C: Cluster> Run<'_, C> {
    /// Waits until the kinds of `objects` are served, when something in the plan applied by now
    /// creates them (`creators`); fails at once when nothing does. Returns the objects to apply:
    /// in a dry run, those whose kind is not served yet are reported and left out (their CRD or
    /// template was not really created).
    pub(super) async fn await_kinds<'o>(
        &self,
        wave: i32,
        objects: &[&'o Object],
        deadline: Instant,
        results: &mut Vec<ObjectResult>,
    ) -> Result<Vec<&'o Object>, SyncError> {
        let unserved = self.unserved(objects).await?;
        if unserved.is_empty() {
            return Ok(objects.to_vec());
        }
        let waiting = self.creators(wave, &unserved, results)?;
        if self.opts.dry_run {
            report_unsent(objects, &waiting, results);
            let awaited = |o: &Object| {
                waiting.iter().any(|(w, _)| {
                    w.reference.group == o.reference.group
                        && w.reference.version == o.reference.version
                        && w.reference.kind == o.reference.kind
                })
            };
            return Ok(objects.iter().copied().filter(|o| !awaited(o)).collect());
        }
        self.wait_served(wave, waiting, deadline).await?;
        Ok(objects.to_vec())
    }

    /// The kinds of `objects` the API server does not serve (yet): one discovery look-up each.
    async fn unserved<'o>(&self, objects: &[&'o Object]) -> Result<Unserved<'o>, SyncError> {
        let mut missing: Unserved<'o> = BTreeMap::new();
        for o in objects {
            let r = &o.reference;
            let key = (r.group.clone(), r.version.clone(), r.kind.clone());
            if missing.contains_key(&key) || self.cluster.served(r).await?.is_none() {
                missing.entry(key).or_default().push(*o);
            }
        }
        Ok(missing)
    }

    /// What creates each unserved kind by this wave; the first kind nothing creates in time
    /// fails the wave, and each object of that kind is reported failed.
    fn creators<'o>(
        &self,
        wave: i32,
        unserved: &Unserved<'o>,
        results: &mut Vec<ObjectResult>,
    ) -> Result<Waiting<'o>, SyncError> {
        let mut waiting = Vec::new();
        for ((group, version, kind), of_kind) in unserved {
            let why = match creators::verdict(self.plan.objects(), group, version, kind, wave) {
                creators::Verdict::Wait(creator) => {
                    waiting.push((of_kind[0], creator));
                    continue;
                }
                creators::Verdict::Later(creator) => format!(
                    "only {creator} creates it, after this wave: move it to wave {wave} or earlier"
                ),
                creators::Verdict::Nobody => format!(
                    "no CustomResourceDefinition or Gatekeeper ConstraintTemplate in environment {} creates it: install its CRD first, or check the apiVersion and kind",
                    self.env.name
                ),
            };
            let first = of_kind[0].reference.clone();
            let err = SyncError::UnservedKind {
                wave,
                object: first.to_string(),
                api_version: first.api_version(),
                kind: kind.clone(),
                why,
            };
            for o in of_kind {
                results.push(
                    ObjectResult::new(&o.release, &o.reference, None, Outcome::Failed)
                        .with_message(err.to_string()),
                );
            }
            return Err(err);
        }
        Ok(waiting)
    }

    /// Asks discovery again every poll until every awaited kind is served; fails at the wave's
    /// deadline, naming each kind still missing, or stops when the sync is asked to.
    async fn wait_served(
        &self,
        wave: i32,
        mut waiting: Waiting<'_>,
        deadline: Instant,
    ) -> Result<(), SyncError> {
        loop {
            let mut still = Vec::new();
            for (o, creator) in waiting {
                if self.cluster.served(&o.reference).await?.is_none() {
                    still.push((o, creator));
                }
            }
            waiting = still;
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SyncError::KindTimeout {
                    wave,
                    count: waiting.len(),
                    timeout: self.opts.wave_timeout,
                    details: waiting
                        .iter()
                        .map(|(o, creator)| {
                            format!(
                                "{} {} (for {}; created by {creator})",
                                o.reference.api_version(),
                                o.reference.kind,
                                o.reference
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            tracing::debug!(
                wave,
                kinds = waiting.len(),
                "waiting for kinds to be served"
            );
            if self.pause(deadline, None).await {
                return Err(SyncError::Stopped { wave: wave + 1 });
            }
        }
    }
}

/// In a dry run: each object whose kind is only served once its creator is applied, reported
/// as created but not sent.
fn report_unsent(objects: &[&Object], waiting: &Waiting<'_>, results: &mut Vec<ObjectResult>) {
    for (o, creator) in waiting {
        for m in objects.iter().filter(|m| {
            m.reference.kind == o.reference.kind && m.reference.group == o.reference.group
        }) {
            results.push(
                ObjectResult::new(&m.release, &m.reference, None, Outcome::Created).with_message(
                    format!("not sent: its kind is served only once {creator} is applied"),
                ),
            );
        }
    }
}
