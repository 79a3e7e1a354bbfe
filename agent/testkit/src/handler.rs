//! The generic object handler: get, list, create, update, patch (all four kinds),
//! delete, and the `status`/`scale` subresources, for every served resource alike.
//! Per-kind differences come from the `ResourceType` row, never from `match kind`.

use serde_json::{json, Value};

use crate::apply::{self, Writer};
use crate::error::{qualified, ApiError, ApiResult};
use crate::kinds::{Registry, ResourceType};
use crate::meta::{self, metadata_mut, name_of, new_uid, now_rfc3339};
use crate::patch::{self, PatchType};
use crate::request::{Query, Target};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::storage::{GroupResource, ObjectKey, Store};

/// All server state that writes change together: the objects and the served kinds.
pub struct Cluster {
    pub store: Store,
    pub registry: Registry,
}

/// One write request, decoded.
pub struct Write<'a> {
    pub target: &'a Target,
    pub query: &'a Query,
    pub body: &'a [u8],
    pub content_type: &'a str,
    pub manager: Option<String>,
}

impl Write<'_> {
    fn dry_run(&self) -> bool {
        self.query.dry_run()
    }

    /// Who this write is recorded as in `managedFields`.
    fn writer<'b>(&'b self, api_version: &'b str) -> Writer<'b> {
        Writer {
            manager: self.manager.as_deref().unwrap_or("unknown"),
            api_version,
            subresource: self.target.subresource.as_deref(),
        }
    }
}

pub fn group_resource(rt: &ResourceType) -> GroupResource {
    GroupResource::new(&rt.group, &rt.plural)
}

fn key(t: &Target, name: &str) -> ObjectKey {
    ObjectKey {
        resource: group_resource(&t.rt),
        namespace: t.namespace.clone(),
        name: name.into(),
    }
}

/// The object as served at the requested version.
pub fn present(rt: &ResourceType, mut obj: Value) -> Value {
    obj["apiVersion"] = Value::String(rt.api_version());
    obj["kind"] = Value::String(rt.kind.clone());
    obj
}

fn parse_body(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .or_else(|_| serde_yaml_ng::from_slice(body))
        .map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON or YAML: {e}"))
        })
}

fn rv_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn label_selector_string(selector: Option<&Value>) -> Option<String> {
    let labels = selector?.get("matchLabels").and_then(Value::as_object)?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
    )
}

impl Cluster {
    pub fn new(history_limit: usize) -> Self {
        Self {
            store: Store::new(history_limit),
            registry: Registry::default(),
        }
    }

    pub(crate) fn live(&self, t: &Target) -> ApiResult<(ObjectKey, Value)> {
        let name = t.name.as_deref().unwrap_or_default();
        let k = key(t, name);
        let obj = self
            .store
            .get(&k)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.plural, name))?;
        Ok((k, obj))
    }

    pub fn get(&self, t: &Target) -> ApiResult<Value> {
        let (_, obj) = self.live(t)?;
        Ok(match t.subresource.as_deref() {
            Some("scale") => to_scale(&t.rt, &obj),
            _ => present(&t.rt, obj),
        })
    }

    /// A list, paginated by `limit` and `continue` (an opaque `namespace/name` cursor).
    pub fn list(&self, t: &Target, q: &Query) -> ApiResult<Value> {
        let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
        let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?;
        let cursor =
            |k: &ObjectKey| format!("{}/{}", k.namespace.as_deref().unwrap_or_default(), k.name);
        let after = q.get("continue").filter(|c| !c.is_empty());
        // A list "not older than" (or, paginated, "exactly at") a version the server has not
        // reached is refused, as the API server's storage does without its watch cache
        // (`etcd3/store.go`: `NewTooLargeResourceVersionError(minimumRV, actualRevision, 0)`);
        // the watch cache waits up to 3 s for it first. Lists always read the latest state.
        if let Some(rv) = q
            .get("resourceVersion")
            .filter(|v| !v.is_empty() && *v != "0")
        {
            let rv = rv.parse::<u64>().map_err(|_| {
                ApiError::bad_request("resourceVersion: Invalid value: must be a number")
            })?;
            if after.is_none() && rv > self.store.current_rv() {
                return Err(ApiError::too_large_resource_version(
                    rv,
                    self.store.current_rv(),
                    0,
                ));
            }
        }
        let limit = q
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        // A page starts after its cursor's key and reads only what it returns (and, without
        // selectors, counts what is left: the API server leaves `remainingItemCount` out when
        // a selector filters the list, as then it does not know it).
        let gr = group_resource(&t.rt);
        let after_key = after.map(|c| {
            let (ns, name) = c.split_once('/').unwrap_or(("", c));
            ObjectKey {
                resource: gr.clone(),
                namespace: (!ns.is_empty()).then(|| ns.to_string()),
                name: name.to_string(),
            }
        });
        let mut matching = self
            .store
            .list_after(&gr, t.namespace.as_deref(), after_key)
            .filter(|(_, o)| labels.matches(o) && fields.matches(o));
        let page: Vec<(&ObjectKey, &Value)> = matching
            .by_ref()
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        let mut metadata = json!({"resourceVersion": self.store.current_rv().to_string()});
        if let (Some(_), Some(last)) = (matching.next(), page.last()) {
            metadata["continue"] = cursor(last.0).into();
            if labels.is_empty() && fields.is_empty() {
                metadata["remainingItemCount"] = (1 + matching.count()).into();
            }
        }
        let items: Vec<Value> = page
            .iter()
            .map(|(_, o)| present(&t.rt, (*o).clone()))
            .collect();
        Ok(json!({
            "kind": format!("{}List", t.rt.kind),
            "apiVersion": t.rt.api_version(),
            "metadata": metadata,
            "items": items,
        }))
    }

    pub fn create(&mut self, w: &Write<'_>) -> ApiResult<Value> {
        let t = w.target;
        let mut obj = parse_body(w.body)?;
        check_type(&t.rt, &obj)?;
        let name = match (
            name_of(&obj),
            obj.pointer("/metadata/generateName")
                .and_then(Value::as_str),
        ) {
            (Some(n), _) => n.to_string(),
            (None, Some(prefix)) => format!("{prefix}{}", &new_uid()[..5]),
            (None, None) => {
                return Err(ApiError::invalid(
                    &t.rt.kind,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ))
            }
        };
        let k = key(t, &name);
        if self.store.get(&k).is_some() {
            return Err(ApiError::already_exists(&t.rt.group, &t.rt.plural, &name));
        }
        self.prepare(t, &k, None, &mut obj)?;
        let api_version = t.rt.api_version();
        apply::record_update(None, &mut obj, w.writer(&api_version));
        self.commit(t, k, None, obj, w.dry_run())
    }

    pub fn update(&mut self, w: &Write<'_>) -> ApiResult<Value> {
        let t = w.target;
        let (k, old) = self.live(t)?;
        let body = parse_body(w.body)?;
        let new = match t.subresource.as_deref() {
            Some("scale") => from_scale(&t.rt, &old, &body)?,
            Some("status") => with_status(&old, &body),
            _ => {
                check_type(&t.rt, &body)?;
                body
            }
        };
        self.replace(w, k, old, new)
    }

    /// The end of an update or a non-apply patch: refuse a stale `resourceVersion`, then store
    /// `new` over `old` as `w` asks, and answer as the subresource would.
    fn replace(
        &mut self,
        w: &Write<'_>,
        k: ObjectKey,
        old: Value,
        mut new: Value,
    ) -> ApiResult<Value> {
        let t = w.target;
        if rv_of(&new).is_some_and(|rv| Some(rv) != rv_of(&old)) {
            return Err(ApiError::stale(&t.rt.group, &t.rt.plural, &k.name));
        }
        self.prepare(t, &k, Some(&old), &mut new)?;
        let api_version = t.rt.api_version();
        apply::record_update(Some(&old), &mut new, w.writer(&api_version));
        let stored = self.commit(t, k, Some(&old), new, w.dry_run())?;
        Ok(self.view(t, stored))
    }

    /// What a write answers with: the object, or its Scale for the scale subresource.
    fn view(&self, t: &Target, obj: Value) -> Value {
        match t.subresource.as_deref() {
            Some("scale") => to_scale(&t.rt, &obj),
            _ => obj,
        }
    }

    /// A `PATCH` of any type; returns the HTTP code (`201` when an apply created).
    pub fn patch(&mut self, w: &Write<'_>, kind: PatchType) -> ApiResult<(u16, Value)> {
        if kind == PatchType::Apply {
            return self.server_side_apply(w);
        }
        let t = w.target;
        if kind == PatchType::Strategic && t.rt.custom {
            return Err(ApiError::unsupported_media_type(w.content_type));
        }
        let (k, old) = self.live(t)?;
        let body = parse_body(w.body)?;
        let mut doc = match t.subresource.as_deref() {
            Some("scale") => to_scale(&t.rt, &old),
            _ => present(&t.rt, old.clone()),
        };
        match kind {
            PatchType::Merge => patch::merge(&mut doc, &body),
            PatchType::Strategic => patch::strategic(&mut doc, &body),
            PatchType::Json => patch::json_patch(&mut doc, &body)?,
            PatchType::Apply => unreachable!("handled above"),
        }
        let new = match t.subresource.as_deref() {
            Some("scale") => from_scale(&t.rt, &old, &doc)?,
            Some("status") => with_status(&old, &doc),
            _ => doc,
        };
        Ok((200, self.replace(w, k, old, new)?))
    }

    fn server_side_apply(&mut self, w: &Write<'_>) -> ApiResult<(u16, Value)> {
        let t = w.target;
        let manager = w.manager.as_deref().filter(|m| !m.is_empty()).ok_or_else(|| {
            ApiError::bad_request("PATCH requests with application/apply-patch+yaml require fieldManager to be set")
        })?;
        let mut applied = parse_body(w.body)?;
        check_type(&t.rt, &applied)?;
        let name = t.name.clone().unwrap_or_default();
        if name_of(&applied).is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&applied).unwrap_or_default()
            )));
        }
        let k = key(t, &name);
        let old = self.store.get(&k).cloned();
        if old.is_none() && t.subresource.is_some() {
            return Err(ApiError::not_found(&t.rt.group, &t.rt.plural, &name));
        }
        if let (Some(old), Some(rv)) = (&old, rv_of(&applied)) {
            if Some(rv) != rv_of(old) {
                return Err(ApiError::stale(&t.rt.group, &t.rt.plural, &name));
            }
        }
        metadata_mut(&mut applied).remove("managedFields");
        typed(t, &name, &applied)?;
        kube_canonical::canonicalize(&mut applied);
        match t.subresource.as_deref() {
            Some("status") => applied = json!({"status": applied["status"].clone()}),
            Some(_) => return Err(ApiError::method_not_allowed("apply to scale")),
            None if t.rt.status => {
                applied.as_object_mut().map(|m| m.remove("status"));
            }
            None => {}
        }
        let api_version = t.rt.api_version();
        let wr = Writer {
            manager,
            api_version: &api_version,
            subresource: t.subresource.as_deref(),
        };
        let base = old.as_ref().map(|o| present(&t.rt, o.clone()));
        let mut merged = apply::ssa::apply(base.as_ref(), &applied, wr, w.query.flag("force"))
            .map_err(|c| apply::conflict_error(&c))?;
        self.prepare(t, &k, old.as_ref(), &mut merged)?;
        let code = if old.is_none() { 201 } else { 200 };
        Ok((code, self.commit(t, k, old.as_ref(), merged, w.dry_run())?))
    }

    /// Server-owned metadata and the rules every write obeys.
    fn prepare(
        &self,
        t: &Target,
        k: &ObjectKey,
        old: Option<&Value>,
        new: &mut Value,
    ) -> ApiResult<()> {
        let rt = &t.rt;
        self.check_namespace(t, k, old, new)?;
        *new = present(rt, std::mem::take(new));
        decodable(t, new)?;
        // What the real server stores: its encoding drops nulls and omitempty zero values and
        // writes quantities canonically (kube-canonical, from the Kubernetes Go types).
        kube_canonical::canonicalize(new);
        let meta = metadata_mut(new);
        meta.insert("name".into(), k.name.clone().into());
        match &k.namespace {
            Some(ns) => meta.insert("namespace".into(), ns.clone().into()),
            None => meta.remove("namespace"),
        };
        crate::validate::annotations(rt, &k.name, new)?;
        crate::validate::data_size(rt, &k.name, new)?;
        if t.subresource.is_none() {
            // Before the generation check, so a re-apply of the same config is no change.
            let n = self.store.current_rv() + 1;
            crate::defaults::apply(rt, new, old, || {
                format!("10.96.{}.{}", n / 254 % 256, n % 254 + 1)
            });
        }
        let meta = metadata_mut(new);
        match old {
            Some(old) => {
                for f in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "generation",
                    "resourceVersion",
                ] {
                    match old["metadata"].get(f) {
                        Some(v) => meta.insert(f.into(), v.clone()),
                        None => meta.remove(f),
                    };
                }
                if t.subresource.is_none() && rt.status {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            new.as_object_mut().map(|m| m.remove("status"));
                        }
                    }
                }
                if rt.generation && meta::spec_changed(old, new, !rt.status) {
                    let g = old
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                        + 1;
                    metadata_mut(new).insert("generation".into(), g.into());
                }
            }
            None => {
                crate::validate::object_name(rt, &k.name)?;
                meta.insert("uid".into(), new_uid().into());
                meta.insert("creationTimestamp".into(), now_rfc3339().into());
                for f in ["resourceVersion", "deletionTimestamp", "generation"] {
                    meta.remove(f);
                }
                if rt.generation {
                    meta.insert("generation".into(), 1.into());
                }
                if rt.status {
                    new.as_object_mut().map(|m| m.remove("status"));
                }
                if rt.group.is_empty() && rt.plural == "namespaces" {
                    let meta = metadata_mut(new);
                    if !meta.get("labels").is_some_and(Value::is_object) {
                        meta.insert("labels".into(), json!({}));
                    }
                    meta["labels"]["kubernetes.io/metadata.name"] = k.name.clone().into();
                    new["spec"]["finalizers"] = json!(["kubernetes"]);
                    new["status"] = json!({"phase": "Active"});
                }
            }
        }
        Ok(())
    }

    /// A namespaced write names the request's namespace, which must exist, and may not create
    /// anything in one being terminated.
    fn check_namespace(
        &self,
        t: &Target,
        k: &ObjectKey,
        old: Option<&Value>,
        new: &Value,
    ) -> ApiResult<()> {
        let Some(ns) = &k.namespace else {
            return Ok(());
        };
        if new
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .is_some_and(|n| n != ns)
        {
            return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
        }
        let nk = ObjectKey {
            resource: GroupResource::new("", "namespaces"),
            namespace: None,
            name: ns.clone(),
        };
        match self.store.get(&nk) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if old.is_none() && n.pointer("/metadata/deletionTimestamp").is_some() => {
                let rt = &t.rt;
                Err(ApiError::new(403, "Forbidden", format!("{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated", qualified(&rt.group, &rt.plural), k.name)))
            }
            Some(_) => Ok(()),
        }
    }

    fn commit(
        &mut self,
        t: &Target,
        k: ObjectKey,
        old: Option<&Value>,
        obj: Value,
        dry_run: bool,
    ) -> ApiResult<Value> {
        // A write that changes nothing but managedFields timestamps is not a write: the
        // resourceVersion stays and no watch event fires, as on the real server.
        if let Some(old) = old {
            if without_field_times(&present(&t.rt, old.clone())) == without_field_times(&obj) {
                return Ok(present(&t.rt, old.clone()));
            }
        }
        if dry_run {
            return Ok(obj);
        }
        let finalized = obj.pointer("/metadata/deletionTimestamp").is_some()
            && obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty());
        if finalized {
            self.store.put(k.clone(), obj.clone());
            return Ok(present(&t.rt, self.delete_key(&k, obj)));
        }
        let stored = self.store.put(k, obj);
        if t.rt.group == "apiextensions.k8s.io" && t.rt.plural == "customresourcedefinitions" {
            self.registry.set_crd(&stored);
        }
        Ok(present(&t.rt, stored))
    }
}

fn without_field_times(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(entries) = v
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        for e in entries {
            e.as_object_mut().map(|m| m.remove("time"));
        }
    }
    v
}

/// Server-side apply's conversion of the applied object to its typed form: a wrong type or an
/// undeclared field of a built-in kind fails the request.
fn typed(t: &Target, name: &str, applied: &Value) -> ApiResult<()> {
    let mut probe = applied.clone();
    if probe.get("apiVersion").is_none() {
        probe["apiVersion"] = t.rt.api_version().into();
    }
    if probe.get("kind").is_none() {
        probe["kind"] = t.rt.kind.clone().into();
    }
    let errors = kube_canonical::validate(&probe);
    if errors.is_empty() {
        return Ok(());
    }
    let object = match &t.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => format!("/{name}"),
    };
    let gvk = format!("{}/{}, Kind={}", t.rt.group, t.rt.version, t.rt.kind);
    Err(ApiError::typed_patch(
        &object,
        &gvk,
        &kube_canonical::validate::message(&errors),
    ))
}

/// A JSON body of a create, update or patch must decode into the kind's Go type: the first wrong
/// type is a 400, as encoding/json reports it (undeclared fields are dropped, as with
/// `fieldValidation=Ignore`).
fn decodable(t: &Target, obj: &Value) -> ApiResult<()> {
    let errors: Vec<_> = kube_canonical::validate(obj)
        .into_iter()
        .filter(|e| e.message != "field not declared in schema")
        .collect();
    match errors.first() {
        None => Ok(()),
        Some(e) => Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: json: cannot unmarshal {what} into Go struct field {path}",
            kind = t.rt.kind,
            v = t.rt.version,
            what = e.message.rsplit("got ").next().unwrap_or("value"),
            path = e.path.trim_start_matches('.'),
        ))),
    }
}

fn check_type(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    let kind = obj["kind"].as_str();
    let api_version = obj["apiVersion"].as_str();
    if kind.is_some_and(|k| k != rt.kind) || api_version.is_some_and(|v| v != rt.api_version()) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}) or kind {} is not {}",
            api_version.unwrap_or_default(),
            rt.api_version(),
            kind.unwrap_or_default(),
            rt.kind
        )));
    }
    Ok(())
}

fn with_status(old: &Value, body: &Value) -> Value {
    let mut new = old.clone();
    match body.get("status") {
        Some(s) => new["status"] = s.clone(),
        None => {
            new.as_object_mut().map(|m| m.remove("status"));
        }
    }
    if let Some(rv) = rv_of(body) {
        new["metadata"]["resourceVersion"] = rv.into();
    }
    new
}

/// The `autoscaling/v1 Scale` view of a scalable object.
pub fn to_scale(rt: &ResourceType, obj: &Value) -> Value {
    let Some(paths) = &rt.scale else {
        return Value::Null;
    };
    let m = &obj["metadata"];
    let mut scale = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": meta::get_path(obj, &paths.spec_replicas).cloned().unwrap_or(json!(0))},
        "status": {"replicas": meta::get_path(obj, &paths.status_replicas).cloned().unwrap_or(json!(0))},
    });
    let selector = paths
        .label_selector
        .as_deref()
        .and_then(|p| meta::get_path(obj, p));
    let selector = match selector {
        Some(Value::String(s)) => Some(s.clone()),
        other => label_selector_string(other),
    };
    if let Some(s) = selector {
        scale["status"]["selector"] = s.into();
    }
    scale
}

fn from_scale(rt: &ResourceType, old: &Value, scale: &Value) -> ApiResult<Value> {
    let paths = rt
        .scale
        .as_ref()
        .ok_or_else(|| ApiError::not_found_path("scale"))?;
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    if !replicas.is_i64() || replicas.as_i64().is_some_and(|r| r < 0) {
        return Err(ApiError::invalid(
            "Scale",
            name_of(old).unwrap_or_default(),
            "spec.replicas: Invalid value: must be greater than or equal to 0",
        ));
    }
    let mut new = old.clone();
    meta::set_path(&mut new, &paths.spec_replicas, replicas);
    if let Some(rv) = rv_of(scale) {
        new["metadata"]["resourceVersion"] = rv.into();
    }
    Ok(new)
}
