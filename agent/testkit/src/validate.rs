//! The metadata rules the real server enforces (`422 Invalid`): object names on create,
//! the 256 KiB annotation budget on every write; no schema validation beyond that.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::kinds::ResourceType;

use kube_canonical::names::{is_dns1123_label as is_label, is_dns1123_subdomain as is_subdomain};

/// Names of namespaces are RFC 1123 labels, RBAC names path segments, all else subdomains.
pub fn object_name(rt: &ResourceType, name: &str) -> ApiResult<()> {
    let qualified_kind = if rt.group.is_empty() {
        rt.kind.clone()
    } else {
        format!("{}.{}", rt.kind, rt.group)
    };
    let invalid = |why: &str| {
        Err(ApiError::invalid(
            &qualified_kind,
            name,
            format!("metadata.name: Invalid value: {name:?}: {why}"),
        ))
    };
    if rt.group == "rbac.authorization.k8s.io" {
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains('/')
            || name.contains('%')
        {
            return invalid("may not be '.' or '..' and may not contain '/' or '%'");
        }
        return Ok(());
    }
    if rt.group.is_empty() && rt.plural == "namespaces" {
        if !is_label(name) {
            return invalid("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character");
        }
        return Ok(());
    }
    if !is_subdomain(name) {
        return invalid("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
    }
    Ok(())
}

/// Annotations may hold at most 256 KiB of keys and values together (what makes
/// client-side apply of large CRDs fail on a real server).
pub fn annotations(rt: &ResourceType, name: &str, obj: &Value) -> ApiResult<()> {
    let Some(map) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let total: usize = map
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if total > 256 * 1024 {
        let kind = if rt.group.is_empty() {
            rt.kind.clone()
        } else {
            format!("{}.{}", rt.kind, rt.group)
        };
        return Err(ApiError::invalid(
            &kind,
            name,
            "metadata.annotations: Too long: must have at most 262144 bytes",
        ));
    }
    Ok(())
}

/// The most a ConfigMap's or a Secret's values may hold together: 1 MiB
/// (<https://kubernetes.io/docs/concepts/configuration/configmap/#motivation>: "The data stored
/// in a ConfigMap cannot exceed 1 MiB"; <https://kubernetes.io/docs/concepts/configuration/secret/#restriction-data-size>:
/// "Individual Secrets are limited to 1MiB in size"). Counted as the server does: the values'
/// bytes, keys aside; a Secret's `data` decoded from base64.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

pub fn data_size(rt: &ResourceType, name: &str, obj: &Value) -> ApiResult<()> {
    if !rt.group.is_empty() || !matches!(rt.plural.as_str(), "configmaps" | "secrets") {
        return Ok(());
    }
    let values = |field: &str| {
        obj.get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    // base64: three bytes for every four characters, less the padding.
    let decoded = |b: &str| b.len() / 4 * 3 - b.bytes().rev().take_while(|c| *c == b'=').count();
    let total: usize = if rt.plural == "configmaps" {
        values("data").iter().map(|v| v.len()).sum::<usize>()
            + values("binaryData")
                .iter()
                .map(|v| decoded(v))
                .sum::<usize>()
    } else {
        values("data").iter().map(|v| decoded(v)).sum::<usize>()
            + values("stringData").iter().map(|v| v.len()).sum::<usize>()
    };
    if total > MAX_DATA_BYTES {
        let field = if rt.plural == "configmaps" {
            "[]"
        } else {
            "data"
        };
        return Err(ApiError::invalid(
            &rt.kind,
            name,
            format!("{field}: Too long: must have at most {MAX_DATA_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;

    #[test]
    fn names_follow_the_per_kind_rules() {
        let r = Registry::default();
        let deploy = r.find("apps", "v1", "deployments").unwrap();
        let ns = r.find("", "v1", "namespaces").unwrap();
        let role = r
            .find("rbac.authorization.k8s.io", "v1", "clusterroles")
            .unwrap();
        assert!(object_name(deploy, "web.v2").is_ok());
        assert_eq!(object_name(deploy, "Web").unwrap_err().code, 422);
        assert!(object_name(ns, "a.b").is_err());
        assert!(object_name(role, "system:controller:x").is_ok());
    }

    #[test]
    fn annotations_over_256_kib_are_invalid() {
        let r = Registry::default();
        let crd = r
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap();
        let big = serde_json::json!({"metadata": {"annotations": {"a": "x".repeat(262_144)}}});
        assert_eq!(annotations(crd, "big", &big).unwrap_err().code, 422);
        let ok = serde_json::json!({"metadata": {"annotations": {"a": "x"}}});
        assert!(annotations(crd, "small", &ok).is_ok());
    }

    #[test]
    fn configmap_and_secret_values_over_1_mib_are_invalid() {
        let r = Registry::default();
        let cm = r.find("", "v1", "configmaps").unwrap();
        let secret = r.find("", "v1", "secrets").unwrap();
        let half = "x".repeat(MAX_DATA_BYTES / 2);
        let at_limit = serde_json::json!({"data": {"a": half, "b": half}});
        assert!(data_size(cm, "full", &at_limit).is_ok());
        let over = serde_json::json!({"data": {"a": half, "b": format!("{half}x")}});
        let e = data_size(cm, "over", &over).unwrap_err();
        assert_eq!(e.code, 422);
        // 1 MiB of bytes is 1,398,104 base64 characters: under the limit decoded.
        let b64 = "QUFB".repeat(MAX_DATA_BYTES / 3);
        assert!(data_size(secret, "s", &serde_json::json!({"data": {"k": b64}})).is_ok());
        let more = serde_json::json!({"data": {"k": b64}, "stringData": {"l": "xx"}});
        assert_eq!(data_size(secret, "s", &more).unwrap_err().code, 422);
        let deploy = r.find("apps", "v1", "deployments").unwrap();
        assert!(data_size(deploy, "d", &over).is_ok());
    }
}
