//! What the agent needs of a Kubernetes API server, as the core defines it: is a kind served,
//! read an object, server-side apply one (or ask for a dry run), delete one, list by labels. The
//! kube edge (`sextant::apply::cluster::KubeCluster`, one retry policy over kube-rs) implements
//! it; `sextant-fakes` holds an in-memory one, held to the same contract test.

use crate::object::ObjectRef;
use serde_json::Value;
use std::future::Future;

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
        /// The server was unreachable, overloaded or throttling (after the retries): another
        /// try later may succeed, unlike a refusal of the request itself.
        transient: bool,
    },
}

impl ClusterError {
    /// The kind of failure, as a bounded metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ClusterError::UnknownKind { .. } => "kind_not_served",
            ClusterError::Conflict { .. } => "conflict",
            ClusterError::Api {
                transient: true, ..
            } => "api_unavailable",
            ClusterError::Api { .. } => "api_refused",
        }
    }

    /// Whether a later try may succeed with the same request: the API server was down, timed
    /// out, throttled or failed on its side. A conflict, an invalid object or a kind the server
    /// does not serve fail the same way until something changes.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClusterError::Api {
                transient: true,
                ..
            }
        )
    }

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

/// A Kubernetes Event the agent reports about one of its objects (`events.k8s.io/v1`), for
/// `kubectl describe` and the cluster's event pipelines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub regarding: ObjectRef,
    /// `Warning` when true, else `Normal`.
    pub warning: bool,
    /// CamelCase, machine-readable: `RolledBack`.
    pub reason: String,
    /// What the agent did: `Rollback`.
    pub action: String,
    /// What a person reads (at most 1,024 characters: longer is cut).
    pub note: String,
    /// The replica reporting it (`reportingInstance`).
    pub instance: String,
}

/// How the server serves an object's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The resource's plural name (`deployments`).
    pub plural: String,
    pub namespaced: bool,
}

pub trait Cluster: Send + Sync {
    /// How the server serves `r`'s kind; `None` when it does not (yet).
    fn served(
        &self,
        r: &ObjectRef,
    ) -> impl Future<Output = Result<Option<Served>, ClusterError>> + Send;
    /// The live object, or `None` when it (or its kind, or its namespace) does not exist.
    fn get(
        &self,
        r: &ObjectRef,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send;
    /// Server-side apply with the agent's field manager (`force` takes conflicting fields over;
    /// `dry_run` stores nothing); the object the server answers. A field another manager owns
    /// is [`ClusterError::Conflict`]; a kind the server does not serve,
    /// [`ClusterError::UnknownKind`].
    fn apply(
        &self,
        r: &ObjectRef,
        manifest: &Value,
        force: bool,
        dry_run: bool,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send;
    /// Deletes an object (foreground: its dependents go first). Gone already is success.
    fn delete(&self, r: &ObjectRef) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// The objects of `r`'s kind (in its namespace when the kind is namespaced and `r` names
    /// one, else everywhere) matching a label selector (`a=b,c=d`). A kind the server does not
    /// serve has no objects.
    fn list(
        &self,
        r: &ObjectRef,
        labels: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ClusterError>> + Send;
    /// Every kind the server serves that can be listed (discovery): a reference naming the
    /// kind (group, preferred version, kind; no namespace or name), and how it is served.
    fn listable(
        &self,
    ) -> impl Future<Output = Result<Vec<(ObjectRef, Served)>, ClusterError>> + Send;
    /// Records an Event about an object in the object's namespace.
    fn event(&self, event: &Event) -> impl Future<Output = Result<(), ClusterError>> + Send;
}

/// A shared cluster is the cluster.
impl<C: Cluster> Cluster for std::sync::Arc<C> {
    fn served(
        &self,
        r: &ObjectRef,
    ) -> impl Future<Output = Result<Option<Served>, ClusterError>> + Send {
        (**self).served(r)
    }

    fn get(
        &self,
        r: &ObjectRef,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send {
        (**self).get(r)
    }

    fn apply(
        &self,
        r: &ObjectRef,
        manifest: &Value,
        force: bool,
        dry_run: bool,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send {
        (**self).apply(r, manifest, force, dry_run)
    }

    fn delete(&self, r: &ObjectRef) -> impl Future<Output = Result<(), ClusterError>> + Send {
        (**self).delete(r)
    }

    fn list(
        &self,
        r: &ObjectRef,
        labels: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ClusterError>> + Send {
        (**self).list(r, labels)
    }

    fn listable(
        &self,
    ) -> impl Future<Output = Result<Vec<(ObjectRef, Served)>, ClusterError>> + Send {
        (**self).listable()
    }

    fn event(&self, event: &Event) -> impl Future<Output = Result<(), ClusterError>> + Send {
        (**self).event(event)
    }
}
