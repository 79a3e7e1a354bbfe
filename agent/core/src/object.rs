//! The rendered objects the agent owns: their identity, hook phase and content hash.

use crate::environment::Wave;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "sextant";
pub const LABEL_ENVIRONMENT: &str = "sextant.io/environment";
pub const LABEL_RELEASE: &str = "sextant.io/release";
pub const ANNOTATION_HASH: &str = "sextant.io/hash";
pub const ANNOTATION_WAVE: &str = "sextant.io/sync-wave";
pub const ANNOTATION_ARGO_WAVE: &str = "argocd.argoproj.io/sync-wave";
pub const ANNOTATION_PRUNE: &str = "sextant.io/prune";
pub const ANNOTATION_HELM_HOOK: &str = "helm.sh/hook";
pub const ANNOTATION_HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
pub const ANNOTATION_HELM_HOOK_DELETE: &str = "helm.sh/hook-delete-policy";

/// The identity of a Kubernetes object: what two releases may not both declare.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

/// An object's identity whatever API version it is read at: what an inventory records, what a
/// live index is keyed by, what prune and drift compare.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectKey {
    /// API group; empty for the core group.
    pub group: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn new(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// Whether the object is of `group` and `kind`.
    pub fn is_a(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}

impl ObjectRef {
    /// The identity of the object, its version aside.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.group)
        };
        match &self.namespace {
            Some(ns) => write!(f, "{}{group} {ns}/{}", self.kind, self.name),
            None => write!(f, "{}{group} {}", self.kind, self.name),
        }
    }
}

/// When a Helm hook runs, relative to the objects of its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum HookPhase {
    PreSync,
    PostSync,
}

impl fmt::Display for HookPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookPhase::PreSync => "PreSync",
            HookPhase::PostSync => "PostSync",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookDeletePolicy {
    BeforeHookCreation,
    HookSucceeded,
    HookFailed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    pub phase: HookPhase,
    pub weight: i32,
    pub delete_policies: Vec<HookDeletePolicy>,
}

/// One object as rendered for an environment: labelled, hashed, with its wave and hook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Object {
    pub reference: ObjectRef,
    pub release: String,
    /// The template it came from (Helm's `# Source:` line), for error messages.
    pub source: String,
    pub wave: Wave,
    pub hook: Option<Hook>,
    /// `sha256:<hex>` of the canonical JSON of the manifest before the hash annotation.
    pub hash: String,
    pub manifest: Value,
}

impl Object {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.manifest
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }
}

/// The other environment an object of the agent's is labelled with, if any: two environments
/// applied to one cluster must not take each other's objects over silently (the loser's next
/// prune would then see them as its own to delete).
pub fn other_environment(live: &Value, environment: &str) -> Option<String> {
    let label = |k: &str| {
        live.pointer(&format!("/metadata/labels/{}", k.replace('/', "~1")))
            .and_then(Value::as_str)
    };
    if label(LABEL_MANAGED_BY) != Some(MANAGER) {
        return None;
    }
    label(LABEL_ENVIRONMENT)
        .filter(|e| !e.is_empty() && *e != environment)
        .map(str::to_string)
}
