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

/// The rule a name, namespace or label breaks, worded as the API server words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    #[error("must be no more than {0} characters")]
    TooLong(usize),
    #[error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')")]
    Dns1123Label,
    #[error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')")]
    Dns1123Subdomain,
    #[error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')")]
    Dns1035Label,
    #[error("may not be empty")]
    Empty,
    #[error("may not be '{0}'")]
    Dots(String),
    #[error("may not contain '{0}'")]
    Contains(char),
    /// A label key's prefix (before the `/`) is not a DNS subdomain.
    #[error("prefix part {0}")]
    Prefix(Box<Rule>),
    #[error("name part must be no more than 63 characters")]
    NameTooLong,
    #[error("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")]
    Name,
    #[error("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")]
    LabelValue,
}

/// A name the API server would refuse: the field (`metadata.name`, `metadata.labels["k"]`),
/// what it holds, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value}: {rule}")]
pub struct NameError {
    pub field: String,
    pub value: Written,
    pub rule: Rule,
}

/// What a refused field holds, as the message quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Written {
    #[error("{0:?}")]
    Name(String),
    #[error("key {0:?}")]
    LabelKey(String),
    #[error("value {0:?}")]
    LabelValue(String),
}

fn dns1123_label(s: &str) -> Result<(), Rule> {
    if s.len() > 63 {
        return Err(Rule::TooLong(63));
    }
    let ok = kube_canonical::names::is_dns1123_label(s);
    ok.then_some(()).ok_or(Rule::Dns1123Label)
}

fn dns1123_subdomain(s: &str) -> Result<(), Rule> {
    if s.len() > 253 {
        return Err(Rule::TooLong(253));
    }
    let ok = !s.is_empty() && kube_canonical::names::is_dns1123_subdomain(s);
    ok.then_some(()).ok_or(Rule::Dns1123Subdomain)
}

fn dns1035_label(s: &str) -> Result<(), Rule> {
    let b = s.as_bytes();
    if b.len() > 63 {
        return Err(Rule::TooLong(63));
    }
    let ok = !b.is_empty()
        && b.iter().all(|c| alnum(*c) || *c == b'-')
        && b[0].is_ascii_lowercase()
        && alnum(b[b.len() - 1]);
    ok.then_some(()).ok_or(Rule::Dns1035Label)
}

fn path_segment(s: &str) -> Result<(), Rule> {
    if s.is_empty() {
        return Err(Rule::Empty);
    }
    if s == "." || s == ".." {
        return Err(Rule::Dots(s.to_string()));
    }
    if let Some(c) = s.chars().find(|c| *c == '/' || *c == '%') {
        return Err(Rule::Contains(c));
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

fn label_key(k: &str) -> Result<(), Rule> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        dns1123_subdomain(p).map_err(|e| Rule::Prefix(Box::new(e)))?;
    }
    if name.len() > 63 {
        return Err(Rule::NameTooLong);
    }
    qualified_part(name).then_some(()).ok_or(Rule::Name)
}

fn label_value(v: &str) -> Result<(), Rule> {
    if v.len() > 63 {
        return Err(Rule::TooLong(63));
    }
    (v.is_empty() || qualified_part(v))
        .then_some(())
        .ok_or(Rule::LabelValue)
}

/// The first name rule an object breaks. Checks `metadata.name` by kind, `metadata.namespace`,
/// and the keys and values of `metadata.labels`.
pub fn check(group: &str, kind: &str, manifest: &Value) -> Result<(), NameError> {
    let meta = |k: &str| manifest.pointer(&format!("/metadata/{k}"));
    let broken = |field: &str, value: Written| {
        let field = field.to_string();
        move |rule| NameError { field, value, rule }
    };
    if let Some(name) = meta("name").and_then(Value::as_str) {
        let rule = match (group, kind) {
            ("", "Namespace") => dns1123_label(name),
            ("", "Service") => dns1035_label(name),
            ("rbac.authorization.k8s.io", _) => path_segment(name),
            _ => dns1123_subdomain(name),
        };
        rule.map_err(broken("metadata.name", Written::Name(name.into())))?;
    }
    if let Some(ns) = meta("namespace").and_then(Value::as_str) {
        dns1123_label(ns).map_err(broken("metadata.namespace", Written::Name(ns.into())))?;
    }
    for (k, v) in meta("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let field = format!("metadata.labels[{k:?}]");
        label_key(k).map_err(broken(&field, Written::LabelKey(k.clone())))?;
        if let Some(v) = v.as_str() {
            label_value(v).map_err(broken(&field, Written::LabelValue(v.into())))?;
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
        let e = check("apps", "Deployment", &named("Bad_Name")).unwrap_err();
        assert_eq!(e.field, "metadata.name");
        let e = e.to_string();
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
            check("", "ConfigMap", &o).unwrap_err().field,
            "metadata.namespace"
        );
        let long = "x".repeat(64);
        let o = json!({"metadata": {"name": "a", "labels": {"app.kubernetes.io/version": long}}});
        let e = check("", "ConfigMap", &o).unwrap_err();
        assert_eq!(e.field, "metadata.labels[\"app.kubernetes.io/version\"]");
        assert_eq!(e.rule, Rule::TooLong(63));
        assert!(e.to_string().contains("no more than 63"), "{e}");
        let o = json!({"metadata": {"name": "a", "labels": {"Bad Key": "v", "ok": ""}}});
        assert!(check("", "ConfigMap", &o).is_err());
        let o = json!({"metadata": {"name": "a", "labels": {"helm.sh/chart": "app-1.2.3_x", "ok": ""}}});
        assert!(check("", "ConfigMap", &o).is_ok());
    }
}
