//! Leader election on a `coordination.k8s.io/v1` Lease: one replica reconciles, the others
//! stand by and take over once the leader stops renewing for a lease duration. Writes use the
//! Lease's resourceVersion, so two candidates can never both win the same term.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

pub struct Elector {
    api: Api<Lease>,
    client: kube::Client,
    namespace: String,
    name: String,
    identity: String,
    duration: Duration,
}

/// What a candidate should do with a Lease as it is now — pure.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, or it expired, or we hold it: write ourselves in.
    Take { transition: bool },
    /// Someone else holds a live lease.
    Wait,
}

pub fn decide(lease: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease else {
        return Decision::Take { transition: true };
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == me {
        return Decision::Take { transition: false };
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    let expired = match &spec.renew_time {
        Some(MicroTime(renewed)) => renewed.checked_add(duration).map_or(true, |end| end < now),
        None => true,
    };
    if holder.is_empty() || expired {
        Decision::Take { transition: true }
    } else {
        Decision::Wait
    }
}

/// One write of a Lease: what it holds, and the labels it is created with.
pub struct Write<'a> {
    pub name: &'a str,
    pub labels: BTreeMap<String, String>,
    /// `None` releases it.
    pub holder: Option<&'a str>,
    /// A new holder: the acquire time is now, and the transitions count one more.
    pub transition: bool,
    pub duration: Duration,
}

/// Writes a Lease, renewed now: created when `current` is `None`, else replaced, the
/// resourceVersion read with `current` making it a compare-and-swap. `Ok(false)` when another
/// candidate wrote first (409), or when the agent's namespace did not exist yet (a first start
/// without the install manifests): it is created, for the next round to try again.
pub async fn write(
    api: &Api<Lease>,
    client: &kube::Client,
    namespace: &str,
    current: Option<&Lease>,
    w: Write<'_>,
) -> Result<bool, kube::Error> {
    let now = MicroTime(Timestamp::now());
    let old = current.and_then(|l| l.spec.clone()).unwrap_or_default();
    let spec = LeaseSpec {
        holder_identity: w.holder.map(str::to_string),
        lease_duration_seconds: Some(w.duration.as_secs().max(1) as i32),
        acquire_time: if w.transition {
            Some(now.clone())
        } else {
            old.acquire_time.clone()
        },
        renew_time: Some(now),
        lease_transitions: Some(
            old.lease_transitions.unwrap_or(0)
                + i32::from(w.transition && current.is_some() && w.holder.is_some()),
        ),
        ..Default::default()
    };
    let result = match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(w.name.to_string()),
                    labels: (!w.labels.is_empty()).then_some(w.labels),
                    ..Default::default()
                },
                spec: Some(spec),
            };
            match api.create(&PostParams::default(), &lease).await {
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    create_namespace(client, namespace).await?;
                    return Ok(false);
                }
                other => other,
            }
        }
        Some(lease) => {
            let mut lease = lease.clone();
            lease.spec = Some(spec);
            api.replace(w.name, &PostParams::default(), &lease).await
        }
    };
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates the agent's namespace (a first start without the install manifests), so its Leases
/// can be written next round.
pub async fn create_namespace(client: &kube::Client, namespace: &str) -> Result<(), kube::Error> {
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace,
        "labels": {crate::object::LABEL_MANAGED_BY: crate::object::MANAGER}}});
    let params = kube::api::PatchParams::apply(crate::object::MANAGER);
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(namespace, &params, &kube::api::Patch::Apply(&ns))
        .await
        .map(|_| ())
}

impl Elector {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Elector {
            api: Api::namespaced(client.clone(), namespace),
            client,
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
        }
    }

    /// One round: acquire or renew if possible. `Ok(true)` while we lead.
    pub async fn round(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let transition = match decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        ) {
            Decision::Wait => return Ok(false),
            Decision::Take { transition } => transition,
        };
        write(
            &self.api,
            &self.client,
            &self.namespace,
            current.as_ref(),
            Write {
                name: &self.name,
                labels: BTreeMap::new(),
                holder: Some(&self.identity),
                transition,
                duration: self.duration,
            },
        )
        .await
    }

    /// Runs rounds every third of the lease duration until `stop`, publishing leadership. A
    /// leader that cannot renew steps down before its lease could have expired elsewhere.
    pub async fn run(
        self,
        leading: watch::Sender<bool>,
        mut stop: watch::Receiver<bool>,
        metrics: crate::metrics::Metrics,
    ) {
        let period = self.duration / 3;
        let mut last_renewed: Option<tokio::time::Instant> = None;
        loop {
            let is_leader = match self.round().await {
                Ok(true) => {
                    last_renewed = Some(tokio::time::Instant::now());
                    true
                }
                Ok(false) => false,
                Err(e) => {
                    tracing::warn!(error = %e, lease = %self.name, "leader election round failed");
                    // Keep leading only while the last renewal is surely still valid.
                    last_renewed.is_some_and(|t| t.elapsed() < self.duration - period)
                }
            };
            // Only a change wakes the reconcilers.
            leading.send_if_modified(|current| {
                let changed = *current != is_leader;
                if changed {
                    tracing::info!(identity = %self.identity, leader = is_leader, "leadership changed");
                    *current = is_leader;
                }
                changed
            });
            metrics.leader.set(i64::from(is_leader));
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.changed() => break,
            }
        }
        // Step down: let a standby take over at once instead of after the lease expires.
        if *leading.borrow() {
            if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
                if let Some(spec) = lease.spec.as_mut() {
                    if spec.holder_identity.as_deref() == Some(self.identity.as_str()) {
                        spec.holder_identity = None;
                        let _ = self
                            .api
                            .replace(&self.name, &PostParams::default(), &lease)
                            .await;
                    }
                }
            }
        }
        let _ = leading.send(false);
        metrics.leader.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        let now = Timestamp::now();
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                now.checked_sub(SignedDuration::from_secs(renewed_secs_ago))
                    .unwrap(),
            )),
            ..Default::default()
        }
    }

    #[test]
    fn a_live_lease_of_another_waits_an_expired_one_is_taken() {
        let now = Timestamp::now();
        assert_eq!(decide(None, "a", now), Decision::Take { transition: true });
        assert_eq!(
            decide(Some(&spec("a", 1)), "a", now),
            Decision::Take { transition: false }
        );
        assert_eq!(decide(Some(&spec("b", 1)), "a", now), Decision::Wait);
        assert_eq!(
            decide(Some(&spec("b", 60)), "a", now),
            Decision::Take { transition: true }
        );
        assert_eq!(
            decide(Some(&spec("", 1)), "a", now),
            Decision::Take { transition: true }
        );
    }
}
