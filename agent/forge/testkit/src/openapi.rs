//! GitHub's official OpenAPI description (npm `@octokit/openapi`, pinned in
//! `scripts/install-tools.sh`, unpacked to `.tools/github-openapi/api.github.com.json`), loaded
//! once per test binary, to check the fake's responses and the client's request bodies.
//!
//! OpenAPI 3.0 schemas are turned into JSON Schema: `$ref`s inlined (a cycle becomes `{}`),
//! `nullable: true` becomes a `null` alternative. Validation uses the `jsonschema` crate.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// Where the spec is looked for: `SEXTANT_GITHUB_OPENAPI`, else the workspace's `.tools/`.
pub fn spec_path() -> PathBuf {
    if let Ok(p) = std::env::var("SEXTANT_GITHUB_OPENAPI") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../.tools/github-openapi/api.github.com.json")
}

/// The spec's path template for a request the fake serves (`/repos/{owner}/{repo}/pulls/{pull_number}`).
pub fn template(method: &str, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let t = match (method, segs.as_slice()) {
        ("POST", ["app", "installations", _, "access_tokens"]) => {
            "/app/installations/{installation_id}/access_tokens"
        }
        (_, ["repos", _, _, rest @ ..]) => match (method, rest) {
            ("GET", ["git", "ref", ..]) => "/repos/{owner}/{repo}/git/ref/{ref}",
            ("POST", ["git", "refs"]) => "/repos/{owner}/{repo}/git/refs",
            ("PATCH" | "DELETE", ["git", "refs", ..]) => "/repos/{owner}/{repo}/git/refs/{ref}",
            ("POST", ["git", "blobs"]) => "/repos/{owner}/{repo}/git/blobs",
            ("POST", ["git", "trees"]) => "/repos/{owner}/{repo}/git/trees",
            ("POST", ["git", "commits"]) => "/repos/{owner}/{repo}/git/commits",
            ("GET", ["git", "commits", _]) => "/repos/{owner}/{repo}/git/commits/{commit_sha}",
            ("GET", ["contents", ..]) => "/repos/{owner}/{repo}/contents/{path}",
            ("GET" | "POST", ["pulls"]) => "/repos/{owner}/{repo}/pulls",
            ("GET" | "PATCH", ["pulls", _]) => "/repos/{owner}/{repo}/pulls/{pull_number}",
            ("PUT", ["pulls", _, "merge"]) => "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            ("POST", ["pulls", _, "requested_reviewers"]) => {
                "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"
            }
            ("POST", ["statuses", _]) => "/repos/{owner}/{repo}/statuses/{sha}",
            ("GET", ["commits", _, "statuses"]) => "/repos/{owner}/{repo}/commits/{ref}/statuses",
            ("GET" | "POST", ["deployments"]) => "/repos/{owner}/{repo}/deployments",
            ("POST", ["deployments", _, "statuses"]) => {
                "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
            }
            ("GET" | "POST", ["issues"]) => "/repos/{owner}/{repo}/issues",
            ("GET" | "POST", ["labels"]) => "/repos/{owner}/{repo}/labels",
            ("GET", ["labels", _]) => "/repos/{owner}/{repo}/labels/{name}",
            ("PATCH", ["issues", "comments", _]) => {
                "/repos/{owner}/{repo}/issues/comments/{comment_id}"
            }
            ("GET" | "PATCH", ["issues", _]) => "/repos/{owner}/{repo}/issues/{issue_number}",
            ("POST", ["issues", _, "labels"]) => {
                "/repos/{owner}/{repo}/issues/{issue_number}/labels"
            }
            ("POST", ["issues", _, "assignees"]) => {
                "/repos/{owner}/{repo}/issues/{issue_number}/assignees"
            }
            ("GET" | "POST", ["issues", _, "comments"]) => {
                "/repos/{owner}/{repo}/issues/{issue_number}/comments"
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(t)
}

pub struct Spec {
    doc: Value,
}

/// The spec, loaded once. `None` only when the file is absent **and** `SEXTANT_TOOLS_MISSING=1`
/// says the tools were deliberately not installed; otherwise an absent file panics with how to
/// install it, so CI (which runs `make tools`) cannot silently skip the drift checks.
pub fn spec() -> Option<&'static Spec> {
    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = spec_path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let doc = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
                Some(Spec { doc })
            }
            Err(_) if std::env::var("SEXTANT_TOOLS_MISSING").as_deref() == Ok("1") => {
                eprintln!(
                    "skipping the OpenAPI checks: {} is absent and SEXTANT_TOOLS_MISSING=1",
                    path.display()
                );
                None
            }
            Err(e) => panic!(
                "GitHub's OpenAPI description {} cannot be read ({e}); run `make tools` \
                 (or set SEXTANT_TOOLS_MISSING=1 to skip these checks knowingly)",
                path.display()
            ),
        }
    })
    .as_ref()
}

impl Spec {
    fn operation(&self, method: &str, template: &str) -> &Value {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "the spec has no {method} {template}");
        op
    }

    /// The response schema of an operation for a status, `$ref`s resolved.
    pub fn response_schema(&self, method: &str, template: &str, status: u16) -> Value {
        let op = self.operation(method, template);
        let resp = self.deref(&op["responses"][status.to_string()]);
        let schema = &resp["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "the spec has no JSON {status} answer for {method} {template}"
        );
        self.to_json_schema(schema, &mut Vec::new())
    }

    pub fn request_schema(&self, method: &str, template: &str) -> Value {
        let op = self.operation(method, template);
        let body = self.deref(&op["requestBody"]);
        let schema = &body["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "the spec has no JSON request body for {method} {template}"
        );
        self.to_json_schema(schema, &mut Vec::new())
    }

    /// Errors of `instance` against the response schema (empty: valid).
    pub fn check_response(
        &self,
        method: &str,
        template: &str,
        status: u16,
        instance: &Value,
    ) -> Vec<String> {
        check(&self.response_schema(method, template, status), instance)
    }

    pub fn check_request(&self, method: &str, template: &str, instance: &Value) -> Vec<String> {
        check(&self.request_schema(method, template), instance)
    }

    fn deref<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self.deref(self.pointer(r)),
            None => v,
        }
    }

    fn pointer(&self, r: &str) -> &Value {
        self.doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}"))
    }

    fn to_json_schema(&self, v: &Value, stack: &mut Vec<String>) -> Value {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    if stack.iter().any(|s| s == r) {
                        return json!({});
                    }
                    stack.push(r.to_string());
                    let out = self.to_json_schema(self.pointer(r), stack);
                    stack.pop();
                    return out;
                }
                let mut out = Map::new();
                for (k, val) in m {
                    match k.as_str() {
                        // Annotations and OpenAPI-only keywords.
                        "example" | "examples" | "nullable" | "discriminator" | "xml"
                        | "externalDocs" | "readOnly" | "writeOnly" | "deprecated"
                        | "description" | "title" => {}
                        // Maps of schemas: convert each value, keep the keys.
                        "properties" | "patternProperties" => {
                            let props = val
                                .as_object()
                                .map(|p| {
                                    p.iter()
                                        .map(|(pk, pv)| {
                                            (pk.clone(), self.to_json_schema(pv, stack))
                                        })
                                        .collect::<Map<_, _>>()
                                })
                                .unwrap_or_default();
                            out.insert(k.clone(), Value::Object(props));
                        }
                        _ => {
                            out.insert(k.clone(), self.to_json_schema(val, stack));
                        }
                    }
                }
                if m.get("nullable").and_then(Value::as_bool) == Some(true) {
                    return nullable(Value::Object(out));
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.to_json_schema(x, stack)).collect())
            }
            other => other.clone(),
        }
    }
}

fn nullable(mut schema: Value) -> Value {
    if let Some(e) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        if !e.contains(&Value::Null) {
            e.push(Value::Null);
        }
    }
    match schema.get("type").cloned() {
        Some(Value::String(t)) => {
            schema["type"] = json!([t, "null"]);
            schema
        }
        _ => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

fn check(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(schema)
        .unwrap_or_else(|e| panic!("the converted schema does not compile: {e}"));
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_becomes_a_null_alternative() {
        assert_eq!(
            nullable(json!({"type": "string"})),
            json!({"type": ["string", "null"]})
        );
        assert_eq!(
            nullable(json!({"enum": ["a"]})),
            json!({"anyOf": [{"enum": ["a", null]}, {"type": "null"}]})
        );
    }
}
