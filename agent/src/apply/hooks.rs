//! Helm hooks as sync steps: a PreSync or PostSync hook is replaced as its delete policy says,
//! applied, waited for, and cleaned up; hooks of a release with nothing to write do not run, so a
//! repeated sync writes nothing.

use super::cluster::Cluster;
use super::result::{ObjectResult, Outcome};
use super::sync::{identity, Run, SyncError};
use crate::object::{HookDeletePolicy, Object, ObjectRef};
use tokio::time::Instant;

impl<C: Cluster> Run<'_, C> {
    /// Runs a hook: replaced per its delete policy, applied, waited for, then cleaned up.
    pub(super) async fn hook(
        &mut self,
        wave: i32,
        o: &Object,
        results: &mut Vec<ObjectResult>,
    ) -> Result<(), SyncError> {
        let hook = o.hook.as_ref().expect("only hooks are passed here");
        let phase = Some(hook.phase.to_string());
        if !self.changed_releases.contains(&o.release) {
            results.push(
                ObjectResult::new(&o.release, &o.reference, phase, Outcome::Unchanged)
                    .with_message("release unchanged: hook not run"),
            );
            return Ok(());
        }
        if self.opts.dry_run {
            results.push(
                ObjectResult::new(&o.release, &o.reference, phase, Outcome::Created)
                    .with_message("hook would run"),
            );
            return Ok(());
        }
        let policies = &hook.delete_policies;
        let existed = self.cluster.get(&o.reference).await?.is_some();
        if existed && policies.contains(&HookDeletePolicy::BeforeHookCreation) {
            self.cluster.delete(&o.reference).await?;
            self.wait_gone(wave, &o.reference).await?;
        }
        self.cluster
            .apply(&o.reference, &o.manifest, true, false)
            .await?;
        self.written.insert(identity(&o.reference));
        let outcome = self.wait_healthy(wave, &[o]).await;
        let delete = match &outcome {
            Ok(()) => policies.contains(&HookDeletePolicy::HookSucceeded),
            Err(_) => policies.contains(&HookDeletePolicy::HookFailed),
        };
        if delete {
            self.cluster.delete(&o.reference).await?;
        }
        match outcome {
            Ok(()) => {
                results.push(ObjectResult::new(
                    &o.release,
                    &o.reference,
                    phase,
                    Outcome::Created,
                ));
                Ok(())
            }
            Err(e) => {
                results.push(
                    ObjectResult::new(&o.release, &o.reference, phase, Outcome::Failed)
                        .with_message(e.to_string()),
                );
                Err(SyncError::Hook {
                    wave,
                    object: o.reference.to_string(),
                    message: e.to_string(),
                })
            }
        }
    }

    async fn wait_gone(&self, wave: i32, r: &ObjectRef) -> Result<(), SyncError> {
        let deadline = Instant::now() + self.opts.wave_timeout;
        while self.cluster.get(r).await?.is_some() {
            if Instant::now() >= deadline {
                return Err(SyncError::Timeout {
                    wave,
                    count: 1,
                    timeout: self.opts.wave_timeout,
                    details: format!("{r} (still being deleted)"),
                });
            }
            tokio::time::sleep(self.opts.poll_interval).await;
        }
        Ok(())
    }
}
