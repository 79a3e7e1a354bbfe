//! Promotion records kept in the cluster, beside the agent's other state (ConfigMaps in its
//! namespace): the source's gates (`sextant-gates-<source>`), so a restart loses no soak, and
//! the target's rollback (`sextant-rollback-<target>`), so a restart or failover finishes it,
//! and its verification after a promotion (`sextant-verify-<target>`), so one keeps its window.
//! The loops reach them through [`Records`]: [`ConfigMaps`], over the kube edge in the daemon and
//! over the in-memory cluster in the loops' table tests.

use super::cluster::{Cluster, ClusterError};
use super::inventory::LABEL_COMPONENT;
use crate::object::{ObjectRef, LABEL_ENVIRONMENT, LABEL_MANAGED_BY, MANAGER};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;
pub use sextant_core::ports::records::Records;
use std::sync::Arc;

const KEY: &str = "record";

fn reference(agent_namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some(agent_namespace.to_string()),
        name: name.to_string(),
    }
}

pub fn gates_name(source: &str) -> String {
    format!("sextant-gates-{source}")
}

pub fn rollback_name(target: &str) -> String {
    format!("sextant-rollback-{target}")
}

pub fn verify_name(target: &str) -> String {
    format!("sextant-verify-{target}")
}

/// The record, if there is one; a record that no longer parses is none (and logged).
pub async fn load<T: DeserializeOwned>(
    cluster: &impl Cluster,
    agent_namespace: &str,
    name: &str,
) -> Result<Option<T>, ClusterError> {
    let Some(cm) = cluster.get(&reference(agent_namespace, name)).await? else {
        return Ok(None);
    };
    let Some(text) = cm.pointer(&format!("/data/{KEY}")).and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    match serde_json::from_str(text) {
        Ok(t) => Ok(Some(t)),
        Err(e) => {
            tracing::warn!(configmap = name, error = %e, "a promotion record does not parse; starting afresh");
            Ok(None)
        }
    }
}

pub async fn save<T: Serialize>(
    cluster: &impl Cluster,
    agent_namespace: &str,
    name: &str,
    environment: &str,
    record: &T,
) -> Result<(), ClusterError> {
    let r = reference(agent_namespace, name);
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": agent_namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGER,
                LABEL_COMPONENT: "promotion",
                LABEL_ENVIRONMENT: environment,
            },
        },
        "data": { KEY: serde_json::to_string(record).unwrap_or_default() },
    });
    cluster.apply(&r, &cm, true, false).await.map(|_| ())
}

/// Writes the record, or clears it when there is none.
pub async fn keep<T: Serialize>(
    cluster: &impl Cluster,
    agent_namespace: &str,
    name: &str,
    environment: &str,
    record: Option<&T>,
) -> Result<(), ClusterError> {
    match record {
        Some(r) => save(cluster, agent_namespace, name, environment, r).await,
        None => clear(cluster, agent_namespace, name).await,
    }
}

pub async fn clear(
    cluster: &impl Cluster,
    agent_namespace: &str,
    name: &str,
) -> Result<(), ClusterError> {
    // A record already gone is cleared (the delete treats 404 as done).
    cluster.delete(&reference(agent_namespace, name)).await
}

/// The records as ConfigMaps in the agent's namespace.
pub struct ConfigMaps<C> {
    pub cluster: Arc<C>,
    pub namespace: String,
}

impl<C> Clone for ConfigMaps<C> {
    fn clone(&self) -> Self {
        ConfigMaps {
            cluster: self.cluster.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

impl<C: Cluster> Records for ConfigMaps<C> {
    async fn load<T: DeserializeOwned + Send>(
        &self,
        name: &str,
    ) -> Result<Option<T>, ClusterError> {
        load(&*self.cluster, &self.namespace, name).await
    }

    async fn save<T: Serialize + Sync>(
        &self,
        name: &str,
        environment: &str,
        record: &T,
    ) -> Result<(), ClusterError> {
        save(&*self.cluster, &self.namespace, name, environment, record).await
    }
}
