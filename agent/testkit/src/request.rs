//! Request routing: which API path names what (discovery, a collection, an object, a
//! subresource), and the query parameters the verbs read.

use crate::error::ApiError;
use crate::kinds::{Registry, ResourceType};

/// Decoded query parameters.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | ""))
    }

    /// `dryRun=All` (the only value the real server accepts).
    pub fn dry_run(&self) -> bool {
        self.0.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }
}

/// An API path resolved against the served resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The legacy `/watch/` path prefix was used.
    pub watch_prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    Resources { group: String, version: String },
    Resource(Box<Target>),
    OpenApiRoot,
    OpenApi { group: String, version: String },
}

/// Resolve a request path (`/apis/apps/v1/namespaces/ns/deployments/web/scale`).
pub fn route(path: &str, registry: &Registry) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let not_found = || ApiError::not_found_path(path);
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["openapi", "v3"] => return Ok(Route::OpenApiRoot),
        ["openapi", "v3", ..] => {
            let (group, version) = crate::openapi::parse_path(path).ok_or_else(not_found)?;
            return Ok(Route::OpenApi { group, version });
        }
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["apis", g] => return Ok(Route::Group(g.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    if !registry.serves(group, version) {
        return Err(not_found());
    }
    let (watch_prefix, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    if rest.is_empty() {
        return Ok(Route::Resources {
            group: group.into(),
            version: version.into(),
        });
    }
    let namespaced_collection = |plural: &str| {
        registry
            .find(group, version, plural)
            .is_some_and(|t| t.namespaced)
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, rest @ ..] if namespaced_collection(plural) => {
            (Some(ns.to_string()), {
                let mut r = vec![*plural];
                r.extend_from_slice(rest);
                r
            })
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(not_found()),
    };
    let rt = registry
        .find(group, version, plural)
        .ok_or_else(not_found)?
        .clone();
    let sub_ok = match subresource.as_deref() {
        None => true,
        Some("status") => rt.status,
        Some("scale") => rt.scale.is_some(),
        Some(_) => false,
    };
    if !sub_ok
        || (rt.namespaced && name.is_some() && namespace.is_none())
        || (!rt.namespaced && namespace.is_some())
    {
        return Err(not_found());
    }
    Ok(Route::Resource(Box::new(Target {
        rt,
        namespace,
        name,
        subresource,
        watch_prefix,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match route(path, &Registry::default()).unwrap() {
            Route::Resource(t) => *t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resolves_namespaced_objects_and_subresources() {
        let t = target("/apis/apps/v1/namespaces/prod/deployments/web/scale");
        assert_eq!(
            (
                t.rt.kind.as_str(),
                t.namespace.as_deref(),
                t.name.as_deref()
            ),
            ("Deployment", Some("prod"), Some("web"))
        );
        assert_eq!(t.subresource.as_deref(), Some("scale"));
        let all = target("/apis/apps/v1/deployments");
        assert!(all.namespace.is_none() && all.name.is_none());
    }

    #[test]
    fn namespace_status_is_a_subresource_not_a_collection() {
        let t = target("/api/v1/namespaces/prod/status");
        assert_eq!(
            (
                t.rt.plural.as_str(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("namespaces", Some("prod"), Some("status"))
        );
        assert_eq!(
            target("/api/v1/namespaces/prod/configmaps")
                .namespace
                .as_deref(),
            Some("prod")
        );
    }

    #[test]
    fn unknown_paths_are_not_found() {
        let r = Registry::default();
        assert_eq!(
            route("/apis/example.com/v1/widgets", &r).unwrap_err().code,
            404
        );
        assert_eq!(
            route("/apis/apps/v1/deployments/web", &r).unwrap_err().code,
            404
        );
    }
}
