//! A minimal OpenAPI v3 index: one document per group-version listing each kind's
//! `PATCH` operation with its `fieldValidation` parameter. That is what kubectl reads to
//! learn the server validates fields itself, so it skips client-side schema checks.
//! No schemas are served (kubectl's client-side validation is not supported).

use serde_json::{json, Map, Value};

use crate::kinds::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// FNV-1a, enough to make kubectl's disk cache notice a changed document.
fn hash(text: &str) -> String {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016X}")
}

pub fn root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let doc = group_version(registry, &group, &version).to_string();
            let path = gv_path(&group, &version);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", hash(&doc))}),
            );
        }
    }
    json!({"paths": paths})
}

pub fn group_version(registry: &Registry, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    for t in registry
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let scope = if t.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let path = format!("/{}/{scope}{}/{{name}}", gv_path(group, version), t.plural);
        let op = json!({
            "operationId": format!("patch{}", t.kind),
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": t.kind},
            "x-kubernetes-action": "patch",
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                {"name": "force", "in": "query", "schema": {"type": "boolean"}},
            ],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(path, json!({"patch": op}));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kube-testkit)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

/// The group-version an `/openapi/v3/...` path names.
pub fn parse_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/openapi/v3/")?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => Some((String::new(), v.to_string())),
        ["apis", g, v] => Some((g.to_string(), v.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_declares_server_side_field_validation() {
        let r = Registry::default();
        let doc = group_version(&r, "apps", "v1");
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(root(&r)["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/apis/apps/v1?hash="));
        assert_eq!(
            parse_path("/openapi/v3/api/v1"),
            Some((String::new(), "v1".into()))
        );
    }
}
