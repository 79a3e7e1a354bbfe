//! An in-memory API server behind the cluster port: the kinds it serves, the objects, and who
//! owns which field, so that server-side apply behaves as the loops rely on it behaving. Held to
//! the real edge (kube-rs over kube-testkit) by `agent/tests/cluster_contract.rs`.
//!
//! Server-side apply, as far as it goes here: every scalar and list the manifest sets is a field
//! its manager owns (a list is atomic, not merged by key); a field another manager owns with
//! another value is a conflict unless forced (forcing takes it over); a field the agent owned
//! and no longer sets is removed. `metadata.resourceVersion` counts writes, and a write that
//! changes nothing keeps it, as the real server does.
//! <https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts>

use serde_json::{Map, Value};
use sextant_core::object::{ObjectKey, ObjectRef, MANAGER};
use sextant_core::ports::cluster::{Cluster, ClusterError, Event, Served};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One stored object and the fields each manager owns (JSON pointers of leaves).
#[derive(Debug, Clone)]
struct Stored {
    object: Value,
    owners: BTreeMap<String, String>,
}

#[derive(Default)]
struct State {
    /// (group, kind) → version, how it is served.
    kinds: BTreeMap<(String, String), (String, Served)>,
    objects: BTreeMap<ObjectKey, Stored>,
    version: u64,
    /// Every call: verb and object, in order.
    calls: Vec<(String, String)>,
    /// Calls that fail: (verb, object name) → the error to answer.
    failures: Vec<(String, String, ClusterError)>,
}

/// What a controller writes into an object's `status` after each write, if anything.
type Controller = std::sync::Arc<dyn Fn(&Value) -> Option<Value> + Send + Sync>;

/// The in-memory cluster. Serves Namespace, ConfigMap, Secret, Service, Deployment, Job, Event
/// and CustomResourceDefinition to start with (an Event recorded is an `events.k8s.io/v1`
/// object in the regarded object's namespace); [`FakeCluster::serve`] adds a kind.
pub struct FakeCluster {
    state: Mutex<State>,
    controller: Mutex<Option<Controller>>,
}

impl Default for FakeCluster {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCluster {
    pub fn new() -> Self {
        let fake = FakeCluster {
            state: Mutex::new(State::default()),
            controller: Mutex::new(None),
        };
        for (group, version, kind, plural, namespaced) in [
            ("", "v1", "Namespace", "namespaces", false),
            ("", "v1", "ConfigMap", "configmaps", true),
            ("", "v1", "Secret", "secrets", true),
            ("", "v1", "Service", "services", true),
            ("apps", "v1", "Deployment", "deployments", true),
            ("batch", "v1", "Job", "jobs", true),
            ("events.k8s.io", "v1", "Event", "events", true),
            (
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                false,
            ),
        ] {
            fake.serve(group, version, kind, plural, namespaced);
        }
        fake
    }

    /// A namespace that exists from the start (the agent's own, say), without a call.
    pub fn with_namespace(self, name: &str) -> Self {
        let key = ObjectKey::new("", "Namespace", None, name);
        let object = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "resourceVersion": "1"}});
        self.lock().objects.insert(
            key,
            Stored {
                object,
                owners: BTreeMap::new(),
            },
        );
        self
    }

    /// Serves a kind from now on.
    pub fn serve(&self, group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) {
        self.lock().kinds.insert(
            (group.to_string(), kind.to_string()),
            (
                version.to_string(),
                Served {
                    plural: plural.to_string(),
                    namespaced,
                },
            ),
        );
    }

    /// A controller: after each stored write, `f` of the object (`None`: leave it) becomes its
    /// `status`, as a workload controller reports on what it was given.
    pub fn controller(&self, f: impl Fn(&Value) -> Option<Value> + Send + Sync + 'static) {
        *self.controller.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::sync::Arc::new(f));
    }

    /// Deployments report every replica they ask for updated and available at once.
    pub fn with_ready_deployments(self) -> Self {
        self.controller(|o| {
            (o["kind"] == "Deployment").then(|| {
                let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
                serde_json::json!({"observedGeneration": o["metadata"]["generation"],
                    "replicas": want, "updatedReplicas": want, "readyReplicas": want,
                    "availableReplicas": want})
            })
        });
        self
    }

    /// The controller's status for `object`.
    fn reported(&self, object: &mut Value) {
        let controller = self
            .controller
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(status) = controller.and_then(|f| f(object)) {
            object["status"] = status;
        }
    }

    /// Another field manager (a person's `kubectl apply --server-side --force-conflicts`, a
    /// controller) sets `value` at `pointer` of a stored object, owning it from then on.
    pub fn set_by(&self, manager: &str, r: &ObjectRef, pointer: &str, value: Value) {
        let mut st = self.lock();
        st.version += 1;
        let version = st.version;
        let stored = st
            .objects
            .get_mut(&r.key())
            .expect("set_by: the object exists");
        set(&mut stored.object, pointer, value);
        stored
            .owners
            .insert(pointer.to_string(), manager.to_string());
        stored.object["metadata"]["resourceVersion"] = Value::String(version.to_string());
    }

    /// The next call of `verb` (`get`, `apply`, `delete`, `list`) on the object named `name`
    /// (`*`: any) answers `error`.
    pub fn fail(&self, verb: &str, name: &str, error: ClusterError) {
        self.lock()
            .failures
            .push((verb.to_string(), name.to_string(), error));
    }

    /// The calls answered, as (verb, object), in order.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.lock().calls.clone()
    }

    /// The stored object, as a GET would answer it.
    pub fn object(&self, r: &ObjectRef) -> Option<Value> {
        self.lock().objects.get(&r.key()).map(|s| s.object.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the call; the failure asked for it, if any.
    fn call(&self, verb: &str, r: &ObjectRef) -> Result<(), ClusterError> {
        let mut st = self.lock();
        st.calls.push((verb.to_string(), r.to_string()));
        let hit = st
            .failures
            .iter()
            .position(|(v, n, _)| v == verb && (n == "*" || *n == r.name));
        match hit {
            Some(i) => Err(st.failures.remove(i).2),
            None => Ok(()),
        }
    }
}

fn served(st: &State, r: &ObjectRef) -> Option<Served> {
    st.kinds
        .get(&(r.group.clone(), r.kind.clone()))
        .map(|(_, s)| s.clone())
}

/// The leaves of `v` (scalars and lists; an empty object is a leaf) as JSON pointers.
fn leaves(v: &Value, at: &str, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                leaves(child, &format!("{at}/{key}"), out);
            }
        }
        _ => {
            out.insert(at.to_string(), v.clone());
        }
    }
}

fn set(v: &mut Value, pointer: &str, value: Value) {
    let mut at = v;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let map = at.as_object_mut().expect("an object");
        if i + 1 == parts.len() {
            map.insert(part.clone(), value);
            return;
        }
        at = map
            .entry(part.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn remove(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    if let Some(m) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
        m.remove(&last);
    }
}

/// The fields a write must not touch: the server's and the identity's.
fn owned_by_server(pointer: &str) -> bool {
    [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
        "/metadata/resourceVersion",
        "/metadata/uid",
        "/metadata/generation",
        "/metadata/creationTimestamp",
        "/metadata/managedFields",
        "/status",
    ]
    .iter()
    .any(|p| pointer == *p || pointer.starts_with(&format!("{p}/")))
}

fn matches(labels: &Value, selector: &str) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => labels.get(k).and_then(Value::as_str) == Some(v),
            None => labels.get(term).is_some(),
        })
}

/// A write into a namespace that does not exist is refused as not found, as the real server's
/// NamespaceLifecycle admission refuses it.
fn namespace_missing(st: &State, r: &ObjectRef, kind: &Served) -> Option<ClusterError> {
    let ns = r.namespace.clone().filter(|_| kind.namespaced)?;
    let namespace = ObjectKey::new("", "Namespace", None, &ns);
    (!st.objects.contains_key(&namespace)).then(|| ClusterError::Api {
        object: r.to_string(),
        verb: "apply",
        code: Some(404),
        message: format!("HTTP 404 NotFound: namespaces \"{ns}\" not found"),
        transient: false,
    })
}

/// The fields `wanted` sets that another manager owns with another value.
fn conflicts(stored: &Stored, wanted: &BTreeMap<String, Value>) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|(p, v)| {
            let owner = stored.owners.get(p).filter(|o| o.as_str() != MANAGER)?;
            (stored.object.pointer(p) != Some(v)).then(|| format!("conflict with \"{owner}\": {p}"))
        })
        .collect()
}

/// The agent's manager takes `wanted` and lets go of (removes) what it owned and no longer sets.
fn take(stored: &mut Stored, wanted: BTreeMap<String, Value>) {
    let dropped: Vec<String> = stored
        .owners
        .iter()
        .filter(|(p, o)| o.as_str() == MANAGER && !wanted.contains_key(*p))
        .map(|(p, _)| p.clone())
        .collect();
    for p in &dropped {
        remove(&mut stored.object, p);
        stored.owners.remove(p);
    }
    for (p, v) in wanted {
        set(&mut stored.object, &p, v);
        stored.owners.insert(p, MANAGER.to_string());
    }
}

impl Cluster for FakeCluster {
    async fn served(&self, r: &ObjectRef) -> Result<Option<Served>, ClusterError> {
        self.call("served", r)?;
        Ok(served(&self.lock(), r))
    }

    async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        self.call("get", r)?;
        let st = self.lock();
        Ok(st.objects.get(&r.key()).map(|s| s.object.clone()))
    }

    async fn apply(
        &self,
        r: &ObjectRef,
        manifest: &Value,
        force: bool,
        dry_run: bool,
    ) -> Result<Value, ClusterError> {
        self.call("apply", r)?;
        let mut st = self.lock();
        let Some(kind) = served(&st, r) else {
            return Err(ClusterError::UnknownKind {
                object: r.to_string(),
                api_version: r.api_version(),
                kind: r.kind.clone(),
            });
        };
        if let Some(missing) = namespace_missing(&st, r, &kind) {
            return Err(missing);
        }
        let key = r.key();
        let mut stored = st.objects.get(&key).cloned().unwrap_or_else(|| Stored {
            object: Value::Object(Map::new()),
            owners: BTreeMap::new(),
        });
        let mut wanted = BTreeMap::new();
        leaves(manifest, "", &mut wanted);
        wanted.retain(|p, _| !owned_by_server(p));
        let conflicts = conflicts(&stored, &wanted);
        if !conflicts.is_empty() && !force {
            return Err(ClusterError::Conflict {
                object: r.to_string(),
                message: format!(
                    "Apply failed with {} conflict(s): {}",
                    conflicts.len(),
                    conflicts.join(", ")
                ),
            });
        }
        let before = stored.object.clone();
        take(&mut stored, wanted);
        let mut identity = vec![
            ("/apiVersion", r.api_version()),
            ("/kind", r.kind.clone()),
            ("/metadata/name", r.name.clone()),
        ];
        if let (Some(ns), true) = (&r.namespace, kind.namespaced) {
            identity.push(("/metadata/namespace", ns.clone()));
        }
        for (p, v) in identity {
            set(&mut stored.object, p, Value::String(v));
        }
        if stored.object == before || dry_run {
            return Ok(stored.object);
        }
        st.version += 1;
        let version = Value::String(st.version.to_string());
        set(&mut stored.object, "/metadata/resourceVersion", version);
        self.reported(&mut stored.object);
        st.objects.insert(key, stored.clone());
        Ok(stored.object)
    }

    async fn delete(&self, r: &ObjectRef) -> Result<(), ClusterError> {
        self.call("delete", r)?;
        self.lock().objects.remove(&r.key());
        Ok(())
    }

    async fn list(&self, r: &ObjectRef, labels: &str) -> Result<Vec<Value>, ClusterError> {
        self.call("list", r)?;
        let st = self.lock();
        let Some(kind) = served(&st, r) else {
            return Ok(Vec::new());
        };
        let namespace = r.namespace.as_deref().filter(|_| kind.namespaced);
        Ok(st
            .objects
            .iter()
            .filter(|(k, _)| k.group == r.group && k.kind == r.kind)
            .filter(|(k, _)| namespace.is_none() || k.namespace.as_deref() == namespace)
            .map(|(_, s)| s.object.clone())
            .filter(|o| matches(&o["metadata"]["labels"], labels))
            .collect())
    }

    async fn event(&self, event: &Event) -> Result<(), ClusterError> {
        let r = &event.regarding;
        self.call("event", r)?;
        let mut st = self.lock();
        st.version += 1;
        let name = format!("{}.{:x}", r.name, st.version);
        let ns = r.namespace.clone().unwrap_or_else(|| "default".into());
        let object = serde_json::json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns,
                "resourceVersion": st.version.to_string()},
            "type": if event.warning { "Warning" } else { "Normal" },
            "reason": event.reason, "action": event.action,
            "note": event.note.chars().take(1024).collect::<String>(),
            "reportingController": MANAGER, "reportingInstance": event.instance,
            "regarding": {"apiVersion": r.api_version(), "kind": r.kind,
                "name": r.name, "namespace": r.namespace},
        });
        let key = ObjectKey::new("events.k8s.io", "Event", Some(&ns), &name);
        st.objects.insert(
            key,
            Stored {
                object,
                owners: BTreeMap::new(),
            },
        );
        Ok(())
    }

    async fn listable(&self) -> Result<Vec<(ObjectRef, Served)>, ClusterError> {
        let st = self.lock();
        Ok(st
            .kinds
            .iter()
            .map(|((group, kind), (version, served))| {
                let r = ObjectRef {
                    group: group.clone(),
                    version: version.clone(),
                    kind: kind.clone(),
                    namespace: None,
                    name: String::new(),
                };
                (r, served.clone())
            })
            .collect())
    }
}
