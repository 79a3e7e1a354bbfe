//! What a failover needs to know about an environment, kept in the cluster next to the
//! inventories: the revision it last applied in full (ConfigMap `sextant-state-<environment>` in
//! the agent's namespace). A replica that starts, or takes over, reads it: a first sync of that
//! same revision is then a resync, and leaves the drift of `report` releases as it is.

use super::cluster::{Cluster, ClusterError};
use super::inventory::LABEL_COMPONENT;
use crate::object::{ObjectRef, LABEL_ENVIRONMENT, LABEL_MANAGED_BY, MANAGER};
use serde_json::{json, Value};

const COMPONENT: &str = "state";
const REVISION_KEY: &str = "revision";

pub fn reference(agent_namespace: &str, environment: &str) -> ObjectRef {
    ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some(agent_namespace.to_string()),
        name: format!("sextant-state-{environment}"),
    }
}

pub fn to_configmap(agent_namespace: &str, environment: &str, revision: &str) -> Value {
    let r = reference(agent_namespace, environment);
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": r.name,
            "namespace": agent_namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGER,
                LABEL_COMPONENT: COMPONENT,
                LABEL_ENVIRONMENT: environment,
            },
        },
        "data": { REVISION_KEY: revision },
    })
}

/// The revision recorded as last applied in full, if any.
pub async fn applied_revision(
    cluster: &impl Cluster,
    agent_namespace: &str,
    environment: &str,
) -> Result<Option<String>, ClusterError> {
    Ok(cluster
        .get(&reference(agent_namespace, environment))
        .await?
        .and_then(|cm| {
            cm.pointer(&format!("/data/{REVISION_KEY}"))?
                .as_str()
                .map(str::to_string)
        }))
}

/// Records `revision` as applied in full (one write, only when it changed).
pub async fn record(
    cluster: &impl Cluster,
    agent_namespace: &str,
    environment: &str,
    revision: &str,
) -> Result<(), ClusterError> {
    if applied_revision(cluster, agent_namespace, environment)
        .await?
        .as_deref()
        == Some(revision)
    {
        return Ok(());
    }
    let r = reference(agent_namespace, environment);
    let cm = to_configmap(agent_namespace, environment, revision);
    cluster.apply(&r, &cm, true, false).await.map(|_| ())
}
