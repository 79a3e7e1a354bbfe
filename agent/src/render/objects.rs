//! From Helm's output to the agent's objects: split the stream, parse each document, read hooks
//! and waves, default namespaces, label for ownership and hash. Pure.

use crate::environment::{Environment, Release, Wave};
use crate::kinds;
use crate::object::*;
use crate::yaml;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// A manifest that Helm rendered but the agent cannot use, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The template (Helm's `# Source:`), or `(unknown template)`.
    pub source: String,
    /// Line and column inside that document, for YAML syntax errors.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

/// Why one rendered document is refused before anything is written, naming the object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Refusal {
    #[error("{reference}: annotation {annotation}={value:?} is not an integer")]
    HookWeight {
        reference: ObjectRef,
        annotation: &'static str,
        value: String,
    },
    #[error("{reference}: sync-wave annotation {value:?} is not an integer")]
    Wave { reference: ObjectRef, value: String },
    #[error("{reference}: `metadata.{field}` is {value}, not a mapping")]
    NotAMapping {
        reference: ObjectRef,
        field: &'static str,
        value: Value,
    },
    #[error("{reference}: {message} (the API server would reject it)")]
    Types {
        reference: ObjectRef,
        message: String,
    },
}

/// A parsed document of a release, before namespaces, labels and hashes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RawObject {
    pub source: String,
    pub manifest: Map<String, Value>,
}

/// Splits Helm's multi-document output and parses each document.
pub fn parse_stream(text: &str) -> Result<Vec<RawObject>, ManifestError> {
    let mut out = Vec::new();
    for doc in split_documents(text) {
        let source = doc
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .unwrap_or("(unknown template)")
            .trim()
            .to_string();
        let err = |position, message: String| ManifestError {
            source: source.clone(),
            position,
            message,
        };
        let value = yaml::parse_k8s(doc).map_err(|e| {
            err(
                e.line.zip(e.column),
                format!("rendered invalid YAML: {}", e.message),
            )
        })?;
        match value {
            Value::Null => {}
            Value::Object(map) if is_list(&map) => {
                for item in map
                    .get("items")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match item {
                        Value::Object(m) => out.push(checked(&source, m.clone())?),
                        _ => return Err(err(None, "a List item is not a mapping".into())),
                    }
                }
            }
            Value::Object(map) => out.push(checked(&source, map)?),
            other => {
                return Err(err(
                    None,
                    format!(
                        "rendered a document that is not a Kubernetes object (a YAML {})",
                        match other {
                            Value::Array(_) => "list",
                            _ => "scalar",
                        }
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn is_list(map: &Map<String, Value>) -> bool {
    map.get("kind").and_then(Value::as_str) == Some("List") && map.contains_key("items")
}

fn checked(source: &str, map: Map<String, Value>) -> Result<RawObject, ManifestError> {
    let missing = |field: &str| ManifestError {
        source: source.to_string(),
        position: None,
        message: format!("rendered an object without `{field}`"),
    };
    for (field, pointer) in [
        ("apiVersion", "/apiVersion"),
        ("kind", "/kind"),
        ("metadata.name", "/metadata/name"),
    ] {
        let value = at(&map, pointer);
        match value {
            Some(Value::String(s)) if !s.is_empty() => {}
            None | Some(Value::Null) | Some(Value::String(_)) => return Err(missing(field)),
            Some(other) => {
                return Err(ManifestError {
                    source: source.to_string(),
                    position: None,
                    message: format!(
                        "rendered `{field}` as {other}, which is not a string (quote it in the template)"
                    ),
                })
            }
        }
    }
    Ok(RawObject {
        source: source.to_string(),
        manifest: map,
    })
}

/// The value at a JSON pointer of plain keys, without copying the object.
fn at<'m>(map: &'m Map<String, Value>, pointer: &str) -> Option<&'m Value> {
    let mut parts = pointer.trim_start_matches('/').split('/');
    let mut cur = map.get(parts.next()?)?;
    for k in parts {
        cur = cur.get(k)?;
    }
    Some(cur)
}

/// Splits on `---` lines, as YAML's document marker at column 0.
fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") {
            docs.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// What decides each object's namespace, wave and ownership in one environment.
pub struct Context<'a> {
    pub environment: &'a str,
    pub release: &'a str,
    pub namespace: &'a str,
    pub wave: Wave,
    /// Custom kinds `(group, kind)` that CRDs of the environment declare cluster-scoped.
    pub cluster_scoped_crds: &'a HashSet<(String, String)>,
}

impl<'a> Context<'a> {
    /// The context of one release of an environment.
    pub fn of(
        env: &'a Environment,
        release: &'a Release,
        cluster_scoped_crds: &'a HashSet<(String, String)>,
    ) -> Self {
        Context {
            environment: &env.name,
            release: &release.name,
            namespace: &release.namespace,
            wave: release.wave,
            cluster_scoped_crds,
        }
    }
}

/// Turns a parsed document into an owned object, or `None` when it is a hook the agent does not
/// run (`test`, delete and rollback hooks).
pub fn finish(ctx: &Context<'_>, raw: RawObject) -> Result<Option<Object>, ManifestError> {
    let RawObject {
        source,
        mut manifest,
    } = raw;
    // The server drops nulls (`annotations:` rendered empty, `podAffinity: null`); so does Git's
    // side, before labelling and hashing, so that what is hashed is what is stored.
    manifest.retain(|_, v| !v.is_null());
    manifest.values_mut().for_each(kube_canonical::drop_nulls);
    let fail = |message: String| ManifestError {
        source: source.clone(),
        position: None,
        message,
    };
    let refused = |r: Refusal| fail(r.to_string());
    let api_version = str_at(&manifest, "apiVersion").to_string();
    let kind = str_at(&manifest, "kind").to_string();
    let metadata = manifest
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| fail("`metadata` is not a mapping".into()))?;
    let reference = reference(ctx, &api_version, kind, metadata);
    let annotations = metadata
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let hook = match annotations
        .get(ANNOTATION_HELM_HOOK)
        .and_then(Value::as_str)
    {
        None => None,
        Some(spec) => match hook_phase(spec) {
            None => return Ok(None),
            Some(phase) => Some(hook(phase, &annotations, &reference).map_err(refused)?),
        },
    };
    let wave = wave(ctx, &annotations, &reference).map_err(refused)?;
    label(ctx, metadata, &reference).map_err(refused)?;
    let mut manifest = Value::Object(manifest);
    check_types(&manifest, &reference).map_err(refused)?;
    let hash = content_hash(&manifest);
    annotate_hash(&mut manifest, &hash);
    Ok(Some(Object {
        reference,
        release: ctx.release.to_string(),
        source,
        wave,
        hook,
        hash,
        manifest,
    }))
}

/// The object's reference; a namespaced object without a namespace gets the release's, in the
/// manifest too.
fn reference(
    ctx: &Context<'_>,
    api_version: &str,
    kind: String,
    metadata: &mut Map<String, Value>,
) -> ObjectRef {
    let (group, version) = kinds::split_api_version(api_version);
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let cluster_scoped = kinds::is_builtin_cluster_scoped(group, &kind)
        || ctx
            .cluster_scoped_crds
            .contains(&(group.to_string(), kind.clone()));
    let namespace = if cluster_scoped {
        None
    } else {
        let ns = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(ctx.namespace)
            .to_string();
        metadata.insert("namespace".into(), Value::String(ns.clone()));
        Some(ns)
    };
    ObjectRef {
        group: group.to_string(),
        version: version.to_string(),
        kind,
        namespace,
        name,
    }
}

/// A hook the agent runs in `phase`, with its weight and delete policies.
fn hook(
    phase: HookPhase,
    annotations: &Map<String, Value>,
    reference: &ObjectRef,
) -> Result<Hook, Refusal> {
    let annotation = |k: &str| annotations.get(k).and_then(Value::as_str);
    Ok(Hook {
        phase,
        weight: match annotation(ANNOTATION_HELM_HOOK_WEIGHT) {
            None => 0,
            Some(w) => w.trim().parse().map_err(|_| Refusal::HookWeight {
                reference: reference.clone(),
                annotation: ANNOTATION_HELM_HOOK_WEIGHT,
                value: w.to_string(),
            })?,
        },
        delete_policies: delete_policies(annotation(ANNOTATION_HELM_HOOK_DELETE)),
    })
}

/// The object's sync wave: its own annotation (Sextant's, else Argo CD's), else the release's.
fn wave(
    ctx: &Context<'_>,
    annotations: &Map<String, Value>,
    reference: &ObjectRef,
) -> Result<Wave, Refusal> {
    let annotation = |k: &str| annotations.get(k).and_then(Value::as_str);
    match annotation(ANNOTATION_WAVE).or_else(|| annotation(ANNOTATION_ARGO_WAVE)) {
        None => Ok(ctx.wave),
        Some(w) => Ok(Wave(w.trim().parse().map_err(|_| Refusal::Wave {
            reference: reference.clone(),
            value: w.to_string(),
        })?)),
    }
}

/// Labels the object as the agent's, of this environment and release; refuses labels or
/// annotations that are not mappings.
fn label(
    ctx: &Context<'_>,
    metadata: &mut Map<String, Value>,
    reference: &ObjectRef,
) -> Result<(), Refusal> {
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        return Err(Refusal::NotAMapping {
            reference: reference.clone(),
            field: "labels",
            value: labels.clone(),
        });
    }
    if let Value::Object(labels) = labels {
        labels.insert(LABEL_MANAGED_BY.into(), MANAGER.into());
        labels.insert(LABEL_ENVIRONMENT.into(), ctx.environment.into());
        labels.insert(LABEL_RELEASE.into(), ctx.release.into());
    }
    if metadata.get("annotations").is_some_and(|a| !a.is_object()) {
        return Err(Refusal::NotAMapping {
            reference: reference.clone(),
            field: "annotations",
            value: metadata["annotations"].clone(),
        });
    }
    Ok(())
}

/// A wrong type fails the whole apply on the server, mid-wave; refuse it before anything is
/// written, naming the template and field. (Undeclared fields are left to the server: a newer
/// cluster may know them.)
fn check_types(manifest: &Value, reference: &ObjectRef) -> Result<(), Refusal> {
    let type_errors: Vec<_> = kube_canonical::validate(manifest)
        .into_iter()
        .filter(|e| e.message != "field not declared in schema")
        .collect();
    if type_errors.is_empty() {
        return Ok(());
    }
    Err(Refusal::Types {
        reference: reference.clone(),
        message: kube_canonical::validate::message(&type_errors),
    })
}

/// Records the content hash in the object's annotations.
fn annotate_hash(manifest: &mut Value, hash: &str) {
    if let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(a) = annotations {
            a.insert(ANNOTATION_HASH.into(), Value::String(hash.to_string()));
        }
    }
}

fn str_at<'m>(map: &'m Map<String, Value>, key: &str) -> &'m str {
    map.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Maps Helm hook names to sync phases, as Argo CD does; `None` for hooks outside a sync.
fn hook_phase(spec: &str) -> Option<HookPhase> {
    spec.split(',').map(str::trim).find_map(|h| match h {
        "pre-install" | "pre-upgrade" => Some(HookPhase::PreSync),
        "post-install" | "post-upgrade" => Some(HookPhase::PostSync),
        _ => None,
    })
}

fn delete_policies(spec: Option<&str>) -> Vec<HookDeletePolicy> {
    // Helm's default when the annotation is absent.
    let Some(spec) = spec else {
        return vec![HookDeletePolicy::BeforeHookCreation];
    };
    spec.split(',')
        .filter_map(|p| match p.trim() {
            "before-hook-creation" => Some(HookDeletePolicy::BeforeHookCreation),
            "hook-succeeded" => Some(HookDeletePolicy::HookSucceeded),
            "hook-failed" => Some(HookDeletePolicy::HookFailed),
            _ => None,
        })
        .collect()
}

/// `sha256:<hex>` of the canonical JSON (keys sorted at every level) of a value.
pub fn content_hash(value: &Value) -> String {
    // Streamed into the hasher through a small buffer: a large CRD is megabytes of JSON.
    let mut out = HashWriter(std::io::BufWriter::with_capacity(
        64 * 1024,
        Hasher(Sha256::new()),
    ));
    write_canonical(value, &mut out);
    let hasher = out
        .0
        .into_inner()
        .map(|h| h.0)
        .unwrap_or_else(|_| Hasher(Sha256::new()).0);
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

struct Hasher(Sha256);

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The canonical JSON writer's sink (writing into a hasher cannot fail).
struct HashWriter(std::io::BufWriter<Hasher>);

impl HashWriter {
    fn push(&mut self, b: u8) {
        let _ = std::io::Write::write_all(&mut self.0, &[b]);
    }
}

fn write_canonical(value: &Value, out: &mut HashWriter) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut out.0, k);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut out.0, scalar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx<'a>(crds: &'a HashSet<(String, String)>) -> Context<'a> {
        Context {
            environment: "dev",
            release: "web",
            namespace: "web-ns",
            wave: Wave(2),
            cluster_scoped_crds: crds,
        }
    }

    #[test]
    fn splits_helm_output_and_names_the_template_of_a_broken_document() {
        let text = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# Source: c/templates/b.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: indent\n";
        let err = parse_stream(text).unwrap_err();
        assert_eq!(err.source, "c/templates/b.yaml");
        assert!(err.position.is_some(), "{err}");
        assert!(
            parse_stream(&text[..text.find("---\n# Source: c/templates/b").unwrap()])
                .unwrap()
                .len()
                == 1
        );
    }

    #[test]
    fn rejects_documents_that_are_not_objects() {
        let err = parse_stream("# Source: c/t.yaml\n- a\n- b\n").unwrap_err();
        assert!(err.message.contains("not a Kubernetes object"), "{err}");
        let err =
            parse_stream("# Source: c/t.yaml\napiVersion: v1\nkind: ConfigMap\n").unwrap_err();
        assert!(err.message.contains("metadata.name"), "{err}");
    }

    #[test]
    fn labels_hashes_and_defaults_the_namespace() {
        let crds = HashSet::new();
        let raw = RawObject {
            source: "t".into(),
            manifest: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
                .as_object()
                .unwrap()
                .clone(),
        };
        let o = finish(&ctx(&crds), raw).unwrap().unwrap();
        assert_eq!(o.reference.namespace.as_deref(), Some("web-ns"));
        assert_eq!(o.wave, Wave(2));
        assert_eq!(
            o.manifest["metadata"]["labels"][LABEL_MANAGED_BY],
            "sextant"
        );
        assert_eq!(o.manifest["metadata"]["labels"][LABEL_RELEASE], "web");
        assert_eq!(o.annotation(ANNOTATION_HASH), Some(o.hash.as_str()));
        // The hash covers the object without its own annotation.
        let mut without = o.manifest.clone();
        without["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(ANNOTATION_HASH);
        without["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        assert_eq!(content_hash(&without), o.hash);
    }

    #[test]
    fn hash_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": [1, {"q": 1, "p": 2}], "x": null}});
        let b = json!({"a": {"x": null, "y": [1, {"p": 2, "q": 1}]}, "b": 1});
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&json!({"b": 2})));
    }

    #[test]
    fn reads_hooks_and_wave_overrides() {
        let crds = HashSet::new();
        let mk = |ann: Value| {
            RawObject {
            source: "t".into(),
            manifest: json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": ann}})
                .as_object()
                .unwrap()
                .clone(),
        }
        };
        let pre = finish(&ctx(&crds), mk(json!({"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "-5", "helm.sh/hook-delete-policy": "hook-succeeded"})))
            .unwrap()
            .unwrap();
        let hook = pre.hook.unwrap();
        assert_eq!((hook.phase, hook.weight), (HookPhase::PreSync, -5));
        assert_eq!(hook.delete_policies, vec![HookDeletePolicy::HookSucceeded]);
        assert!(finish(&ctx(&crds), mk(json!({"helm.sh/hook": "test"})))
            .unwrap()
            .is_none());
        let argo = finish(
            &ctx(&crds),
            mk(json!({"argocd.argoproj.io/sync-wave": "-3"})),
        )
        .unwrap()
        .unwrap();
        assert_eq!(argo.wave, Wave(-3));
        let both = finish(
            &ctx(&crds),
            mk(json!({"argocd.argoproj.io/sync-wave": "-3", "sextant.io/sync-wave": "4"})),
        )
        .unwrap()
        .unwrap();
        assert_eq!(both.wave, Wave(4));
        let bad = finish(&ctx(&crds), mk(json!({"sextant.io/sync-wave": "soon"}))).unwrap_err();
        assert!(bad.message.contains("sync-wave"), "{bad}");
    }

    #[test]
    fn cluster_scoped_custom_kinds_get_no_namespace() {
        let crds: HashSet<_> = [("example.io".to_string(), "Policy".to_string())].into();
        let raw = RawObject {
            source: "t".into(),
            manifest:
                json!({"apiVersion": "example.io/v1", "kind": "Policy", "metadata": {"name": "p"}})
                    .as_object()
                    .unwrap()
                    .clone(),
        };
        let o = finish(&ctx(&crds), raw).unwrap().unwrap();
        assert_eq!(o.reference.namespace, None);
        assert!(o.manifest["metadata"].get("namespace").is_none());
    }
}
