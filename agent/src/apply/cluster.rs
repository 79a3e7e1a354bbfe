//! The edge to the Kubernetes API (kube-rs): resolve kinds, get, server-side apply, delete — each
//! call bounded in time and retried with exponential backoff on transient failures (5xx, 429,
//! timeouts, dropped connections). Decisions are made elsewhere.

use crate::object::{ObjectRef, MANAGER};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use kube::Client;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{object}: the API server does not serve {api_version} {kind}")]
    UnknownKind {
        object: String,
        api_version: String,
        kind: String,
    },
    #[error("{object}: conflict with another field manager: {message} (take the fields over with --force-conflicts or spec.sync.forceConflicts)")]
    Conflict { object: String, message: String },
    #[error("{object}: {verb} failed: {message}")]
    Api {
        object: String,
        verb: &'static str,
        code: Option<u16>,
        message: String,
    },
}

impl ClusterError {
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ClusterError::Api {
                code: Some(404),
                ..
            }
        )
    }
}

/// How calls are retried: `attempts` in all, backoff doubling from `base` up to `cap`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
        }
    }
}

/// Whether a kube error is worth another try, and the least wait before it.
fn transient(e: &kube::Error) -> Option<Duration> {
    match e {
        kube::Error::Api(s) if s.code == 429 => Some(Duration::from_secs(1)),
        // Server-side apply's type check answers 500 for a bad object (kubernetes#122480): the
        // same object fails the same way every time.
        kube::Error::Api(s) if s.message.starts_with("failed to create typed patch object") => None,
        kube::Error::Api(s) if s.code >= 500 => Some(Duration::ZERO),
        kube::Error::Api(_) => None,
        // Connection refused or reset, timeouts, a body cut short: all worth another try.
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            Some(Duration::ZERO)
        }
        _ => None,
    }
}

pub struct Cluster {
    client: Client,
    retry: RetryPolicy,
    kinds: Mutex<HashMap<GroupVersionKind, (ApiResource, bool)>>,
}

impl Cluster {
    pub fn new(client: Client) -> Self {
        Cluster {
            client,
            retry: RetryPolicy::default(),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn retrying<T, F, Fut>(&self, mut call: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let mut delay = self.retry.base;
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) => match transient(&e) {
                    Some(least) if attempt < self.retry.attempts => {
                        tracing::debug!(error = %e, attempt, "transient API error, retrying");
                        tokio::time::sleep(delay.max(least)).await;
                        delay = (delay * 2).min(self.retry.cap);
                        attempt += 1;
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    /// The API resource serving a kind, and whether it is namespaced; asked once per kind.
    /// `None` when the server does not serve it (yet).
    pub async fn resource(
        &self,
        r: &ObjectRef,
    ) -> Result<Option<(ApiResource, bool)>, ClusterError> {
        let gvk = GroupVersionKind::gvk(&r.group, &r.version, &r.kind);
        if let Some(found) = self.kinds.lock().ok().and_then(|k| k.get(&gvk).cloned()) {
            return Ok(Some(found));
        }
        match self
            .retrying(|| kube::discovery::pinned_kind(&self.client, &gvk))
            .await
        {
            Ok((ar, caps)) => {
                let found = (ar, caps.scope == Scope::Namespaced);
                if let Ok(mut k) = self.kinds.lock() {
                    k.insert(gvk, found.clone());
                }
                Ok(Some(found))
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(e) => Err(api_error(r, "discovery", e)),
        }
    }

    /// The API of an object's kind, or `None` when the server does not serve the kind (yet).
    async fn api_opt(&self, r: &ObjectRef) -> Result<Option<Api<DynamicObject>>, ClusterError> {
        Ok(self
            .resource(r)
            .await?
            .map(|(ar, namespaced)| match (&r.namespace, namespaced) {
                (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &ar),
                _ => Api::all_with(self.client.clone(), &ar),
            }))
    }

    async fn api(&self, r: &ObjectRef) -> Result<Api<DynamicObject>, ClusterError> {
        self.api_opt(r)
            .await?
            .ok_or_else(|| ClusterError::UnknownKind {
                object: r.to_string(),
                api_version: r.api_version(),
                kind: r.kind.clone(),
            })
    }

    /// The live object, or `None` when it (or its kind) does not exist.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        let Some(api) = self.api_opt(r).await? else {
            return Ok(None);
        };
        let live = self
            .retrying(|| api.get_opt(&r.name))
            .await
            .map_err(|e| api_error(r, "get", e))?;
        Ok(live.and_then(|o| serde_json::to_value(o).ok()))
    }

    /// Server-side apply with the agent's field manager; returns the object the server answers.
    pub async fn apply(
        &self,
        r: &ObjectRef,
        manifest: &Value,
        force: bool,
        dry_run: bool,
    ) -> Result<Value, ClusterError> {
        let api = self.api(r).await?;
        let mut params = PatchParams::apply(MANAGER);
        params.force = force;
        params.dry_run = dry_run;
        let patch = Patch::Apply(manifest);
        let out = self
            .retrying(|| api.patch(&r.name, &params, &patch))
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) if s.code == 409 => ClusterError::Conflict {
                    object: r.to_string(),
                    message: s.message.clone(),
                },
                e => api_error(r, "apply", e),
            })?;
        serde_json::to_value(out).map_err(|e| ClusterError::Api {
            object: r.to_string(),
            verb: "apply",
            code: None,
            message: e.to_string(),
        })
    }

    /// Deletes an object (foreground: its dependents go first). Gone already is success.
    pub async fn delete(&self, r: &ObjectRef) -> Result<(), ClusterError> {
        let api = self.api(r).await?;
        let params = DeleteParams::foreground();
        match self.retrying(|| api.delete(&r.name, &params)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(api_error(r, "delete", e)),
        }
    }

    /// Lists objects of a kind (in a namespace, or everywhere) matching a label selector. Read as
    /// plain JSON: a sync lists whole namespaces, and skipping kube's typed objects halves the cost.
    pub async fn list(&self, r: &ObjectRef, labels: &str) -> Result<Vec<Value>, ClusterError> {
        let Some((ar, namespaced)) = self.resource(r).await? else {
            return Ok(Vec::new());
        };
        let namespace = r.namespace.as_deref().filter(|_| namespaced);
        let url = <DynamicObject as kube::Resource>::url_path(&ar, namespace);
        let params = ListParams::default().labels(labels);
        let mut list: Value = self
            .retrying(|| self.list_raw(&url, &params))
            .await
            .map_err(|e| api_error(r, "list", e))?;
        let mut items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        // The API server leaves kind and apiVersion out of list items; put them back so that an
        // item reads as the object a GET returns.
        for item in &mut items {
            if let Some(o) = item.as_object_mut() {
                o.entry("apiVersion")
                    .or_insert_with(|| ar.api_version.clone().into());
                o.entry("kind").or_insert_with(|| ar.kind.clone().into());
            }
        }
        Ok(items)
    }

    async fn list_raw(&self, url: &str, params: &ListParams) -> Result<Value, kube::Error> {
        let req = kube::core::Request::new(url)
            .list(params)
            .map_err(kube::Error::BuildRequest)?;
        self.client.request::<Value>(req).await
    }
}

fn api_error(r: &ObjectRef, verb: &'static str, e: kube::Error) -> ClusterError {
    let code = match &e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    };
    let message = match &e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.reason),
        e => e.to_string(),
    };
    ClusterError::Api {
        object: r.to_string(),
        verb,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::Error {
        let s = serde_json::json!({"status": "Failure", "message": message, "code": code});
        kube::Error::Api(serde_json::from_value(s).expect("a Status"))
    }

    #[test]
    fn a_type_error_from_server_side_apply_is_not_retried_though_it_is_a_500() {
        let typed = "failed to create typed patch object (a/b; /v1, Kind=Pod): .spec.x: field not declared in schema";
        assert_eq!(transient(&status(500, typed)), None);
        assert_eq!(
            transient(&status(500, "etcdserver: request timed out")),
            Some(Duration::ZERO)
        );
        assert_eq!(transient(&status(422, "invalid")), None);
    }
}
