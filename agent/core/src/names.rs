//! The API server's name rules, checked before anything is written — pure. A chart that renders
//! `Bad_Name` must fail at plan time with its template named, not halfway through a wave.
//!
//! The rules and their wording follow k8s.io/apimachinery `pkg/util/validation` (`IsDNS1123Label`,
//! `IsDNS1123Subdomain`, `IsDNS1035Label`, `IsQualifiedName`, `IsValidLabelValue`) and
//! `pkg/api/validation/path` (`IsValidPathSegmentName`), applied per kind as the API server
//! does: Namespaces are DNS labels, Services DNS-1035 labels, RBAC objects path segments, and
//! everything else — custom resources included — DNS subdomains.

use serde_json::Value;

fn alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns1123_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let ok = kube_canonical::names::is_dns1123_label(s);
    ok.then_some(()).ok_or_else(|| {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')".into()
    })
}

fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    let ok = !s.is_empty() && kube_canonical::names::is_dns1123_subdomain(s);
    ok.then_some(()).ok_or_else(|| {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')".into()
    })
}

fn dns1035_label(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    if b.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let ok = !b.is_empty()
        && b.iter().all(|c| alnum(*c) || *c == b'-')
        && b[0].is_ascii_lowercase()
        && alnum(b[b.len() - 1]);
    ok.then_some(()).ok_or_else(|| {
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')".into()
    })
}

fn path_segment(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("may not be empty".into());
    }
    if s == "." || s == ".." {
        return Err(format!("may not be '{s}'"));
    }
    if let Some(c) = s.chars().find(|c| *c == '/' || *c == '%') {
        return Err(format!("may not contain '{c}'"));
    }
    Ok(())
}

/// `IsQualifiedName`'s name part, and `IsValidLabelValue`'s body.
fn qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    !b.is_empty()
        && b.iter().all(inner)
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        dns1123_subdomain(p).map_err(|e| format!("prefix part {e}"))?;
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    qualified_part(name).then_some(()).ok_or_else(|| {
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into()
    })
}

fn label_value(v: &str) -> Result<(), String> {
    if v.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    (v.is_empty() || qualified_part(v)).then_some(()).ok_or_else(|| {
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into()
    })
}

/// The first name rule an object breaks: `(field, message)`. Checks `metadata.name` by kind,
/// `metadata.namespace`, and the keys and values of `metadata.labels`.
pub fn check(group: &str, kind: &str, manifest: &Value) -> Result<(), (String, String)> {
    let meta = |k: &str| manifest.pointer(&format!("/metadata/{k}"));
    if let Some(name) = meta("name").and_then(Value::as_str) {
        let rule = match (group, kind) {
            ("", "Namespace") => dns1123_label(name),
            ("", "Service") => dns1035_label(name),
            ("rbac.authorization.k8s.io", _) => path_segment(name),
            _ => dns1123_subdomain(name),
        };
        rule.map_err(|e| ("metadata.name".to_string(), format!("{name:?}: {e}")))?;
    }
    if let Some(ns) = meta("namespace").and_then(Value::as_str) {
        dns1123_label(ns)
            .map_err(|e| ("metadata.namespace".to_string(), format!("{ns:?}: {e}")))?;
    }
    for (k, v) in meta("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let field = format!("metadata.labels[{k:?}]");
        label_key(k).map_err(|e| (field.clone(), format!("key {k:?}: {e}")))?;
        if let Some(v) = v.as_str() {
            label_value(v).map_err(|e| (field, format!("value {v:?}: {e}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named(name: &str) -> Value {
        json!({"metadata": {"name": name}})
    }

    #[test]
    fn each_kind_gets_the_api_servers_rule() {
        assert!(check("apps", "Deployment", &named("web.v2")).is_ok());
        let (field, e) = check("apps", "Deployment", &named("Bad_Name")).unwrap_err();
        assert_eq!(field, "metadata.name");
        assert!(
            e.starts_with("\"Bad_Name\": a lowercase RFC 1123 subdomain"),
            "{e}"
        );
        assert!(
            check("", "Namespace", &named("a.b")).is_err(),
            "a label has no dots"
        );
        assert!(
            check("", "Service", &named("1web")).is_err(),
            "DNS-1035 starts with a letter"
        );
        assert!(check("", "ConfigMap", &named("1web")).is_ok());
        assert!(check(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            &named("system:Foo")
        )
        .is_ok());
        assert!(check("rbac.authorization.k8s.io", "Role", &named("a/b")).is_err());
        assert!(check("example.com", "Widget", &named(&"a".repeat(254))).is_err());
    }

    #[test]
    fn namespaces_and_labels_are_checked_too() {
        let o = json!({"metadata": {"name": "a", "namespace": "Prod"}});
        assert_eq!(
            check("", "ConfigMap", &o).unwrap_err().0,
            "metadata.namespace"
        );
        let long = "x".repeat(64);
        let o = json!({"metadata": {"name": "a", "labels": {"app.kubernetes.io/version": long}}});
        let (field, e) = check("", "ConfigMap", &o).unwrap_err();
        assert_eq!(field, "metadata.labels[\"app.kubernetes.io/version\"]");
        assert!(e.contains("no more than 63"), "{e}");
        let o = json!({"metadata": {"name": "a", "labels": {"Bad Key": "v", "ok": ""}}});
        assert!(check("", "ConfigMap", &o).is_err());
        let o = json!({"metadata": {"name": "a", "labels": {"helm.sh/chart": "app-1.2.3_x", "ok": ""}}});
        assert!(check("", "ConfigMap", &o).is_ok());
    }
}
