//! Deletion: finalizers, namespaces taking their objects with them, CRDs taking their
//! custom resources, and owner-reference garbage collection (background or orphan).

use serde_json::Value;

use crate::error::ApiResult;
use crate::handler::{group_resource, present, Cluster};
use crate::meta::{metadata_mut, name_of, now_rfc3339};
use crate::request::{Query, Target};
use crate::storage::{GroupResource, ObjectKey};

/// `propagationPolicy` from the query or the `DeleteOptions` body; `Orphan` keeps dependents.
fn orphans(q: &Query, body: &[u8]) -> bool {
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["propagationPolicy"].as_str().map(str::to_string));
    let policy = q.get("propagationPolicy").map(str::to_string).or(from_body);
    policy.as_deref() == Some("Orphan") || q.get("orphanDependents") == Some("true")
}

impl Cluster {
    pub fn delete(&mut self, t: &Target, q: &Query, body: &[u8]) -> ApiResult<Value> {
        let (k, old) = self.live(t)?;
        if q.dry_run() {
            return Ok(present(&t.rt, old));
        }
        if orphans(q, body) {
            if let Some(uid) = old.pointer("/metadata/uid").and_then(Value::as_str) {
                self.release_dependents(uid);
            }
        }
        Ok(present(&t.rt, self.delete_key(&k, old)))
    }

    /// `DELETE` on a collection: every object the selectors match (a `List` of them back).
    pub fn delete_collection(&mut self, t: &Target, q: &Query) -> ApiResult<Value> {
        let mut list = self.list(t, q)?;
        if q.dry_run() {
            return Ok(list);
        }
        let mut deleted = Vec::new();
        for item in list["items"].as_array().cloned().unwrap_or_default() {
            let name = name_of(&item).unwrap_or_default().to_string();
            let namespace = item
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string);
            let k = ObjectKey {
                resource: group_resource(&t.rt),
                namespace,
                name,
            };
            if let Some(obj) = self.store.get(&k).cloned() {
                deleted.push(present(&t.rt, self.delete_key(&k, obj)));
            }
        }
        list["items"] = Value::Array(deleted);
        list["metadata"]["resourceVersion"] = self.store.current_rv().to_string().into();
        Ok(list)
    }

    /// Delete honouring finalizers: an object with finalizers only gets a
    /// `deletionTimestamp`; what it owns or contains goes with it.
    pub(crate) fn delete_key(&mut self, k: &ObjectKey, mut obj: Value) -> Value {
        let has_finalizers = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                metadata_mut(&mut obj).insert("deletionTimestamp".into(), now_rfc3339().into());
                return self.store.put(k.clone(), obj);
            }
            return obj;
        }
        if k.resource == GroupResource::new("", "namespaces") {
            for child in self.store.keys_in_namespace(&k.name) {
                if let Some(o) = self.store.get(&child).cloned() {
                    self.delete_key(&child, o);
                }
            }
            if !self.store.keys_in_namespace(&k.name).is_empty() {
                metadata_mut(&mut obj).insert("deletionTimestamp".into(), now_rfc3339().into());
                obj["status"]["phase"] = "Terminating".into();
                return self.store.put(k.clone(), obj);
            }
        }
        if k.resource == GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions") {
            self.registry.remove_crd(&k.name);
            let (group, plural) = (
                obj["spec"]["group"].as_str(),
                obj["spec"]["names"]["plural"].as_str(),
            );
            if let (Some(group), Some(plural)) = (group, plural) {
                for cr in self.store.keys_of(&GroupResource::new(group, plural)) {
                    self.store.remove(&cr);
                }
            }
        }
        let removed = self.store.remove(k).unwrap_or(obj);
        if let Some(uid) = removed.pointer("/metadata/uid").and_then(Value::as_str) {
            self.collect_dependents(uid);
        }
        self.finish_namespace(k.namespace.as_deref());
        removed
    }

    fn owned_by(&self, uid: &str) -> Vec<ObjectKey> {
        self.store.find(|o| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
    }

    /// Background propagation: a dependent whose owners are all gone is deleted.
    fn collect_dependents(&mut self, uid: &str) {
        for dep in self.owned_by(uid) {
            let Some(obj) = self.store.get(&dep).cloned() else {
                continue;
            };
            let refs = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let live_owner = refs.iter().filter_map(|r| r["uid"].as_str()).any(|u| {
                u != uid
                    && !self
                        .store
                        .find(|o| o.pointer("/metadata/uid").and_then(Value::as_str) == Some(u))
                        .is_empty()
            });
            if !live_owner {
                self.delete_key(&dep, obj);
            }
        }
    }

    /// Orphan propagation: dependents lose their reference to the owner and stay.
    fn release_dependents(&mut self, uid: &str) {
        for dep in self.owned_by(uid) {
            let Some(mut obj) = self.store.get(&dep).cloned() else {
                continue;
            };
            if let Some(refs) = obj
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r["uid"] != uid);
            }
            self.store.put(dep, obj);
        }
    }

    /// A terminating namespace goes once its last object has.
    pub(crate) fn finish_namespace(&mut self, namespace: Option<&str>) {
        let Some(ns) = namespace else { return };
        let nk = ObjectKey {
            resource: GroupResource::new("", "namespaces"),
            namespace: None,
            name: ns.into(),
        };
        let terminating = self
            .store
            .get(&nk)
            .is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_some());
        if terminating && self.store.keys_in_namespace(ns).is_empty() {
            self.store.remove(&nk);
        }
    }
}
