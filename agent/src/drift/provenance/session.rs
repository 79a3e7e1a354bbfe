//! The one edge of provenance: renders of the release with a values overlay (an extra, last
//! values file in a temporary folder), memoised per overlay, counted and bounded.

use super::{Error, Result};
use crate::compare;
use crate::environment::{Environment, Release};
use crate::object::{ObjectRef, ANNOTATION_HASH};
use crate::render::{self, objects, Renderer};
use crate::values::Values;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A release's objects as the server stores them (canonical), without the agent's hash
/// annotation, which moves with every change and says nothing about values.
pub(super) type Objects = BTreeMap<ObjectRef, Value>;

/// What one perturbation render gave.
pub(super) enum Outcome {
    Rendered(Rc<Objects>),
    /// helm refused the values (a schema, `required`, `fail`) or rendered invalid YAML.
    Failed,
    /// The mapping's render bound is reached.
    Bound,
}

pub(super) struct Session<'a> {
    renderer: &'a Renderer,
    env: &'a Environment,
    release: &'a Release,
    dir: tempfile::TempDir,
    renders: usize,
    max_renders: usize,
    memo: HashMap<String, Option<Rc<Objects>>>,
    baseline: Objects,
    /// The effective values (chart defaults coalesced with the values files).
    pub effective: Value,
    /// Each values file's own content, in the release's order.
    pub files: Vec<(PathBuf, Value)>,
    schema: Option<jsonschema::Validator>,
    /// A values file of the release is SOPS-encrypted: overlays reach helm through a pipe.
    encrypted: bool,
}

impl<'a> Session<'a> {
    pub fn new(
        renderer: &'a Renderer,
        env: &'a Environment,
        release: &'a Release,
        max_renders: usize,
    ) -> Result<Self> {
        let overlay_err = |source| Error::Overlay {
            environment: env.name.clone(),
            release: release.name.clone(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix("sextant-provenance-")
            .tempdir()
            .map_err(overlay_err)?;
        let rendered = renderer
            .render_release(env, release)
            .map_err(|source| Error::Baseline {
                environment: env.name.clone(),
                release: release.name.clone(),
                source,
            })?;
        let renders = usize::from(!rendered.cache_hit);
        let encrypted = !renderer.decrypted(env, release)?.is_empty();
        let baseline = finish(env, release, rendered.documents)?;
        let chart_dir = renderer.chart_dir(env, release)?;
        let effective = Value::Object(with_subchart_defaults(
            &chart_dir,
            renderer.effective_values(env, release)?,
        ));
        let files = release
            .values
            .iter()
            .map(|f| {
                crate::values::read_file(f)
                    .map(|v| (f.clone(), Value::Object(v)))
                    .map_err(|source| {
                        Error::Render(render::Error::Values {
                            environment: env.name.clone(),
                            release: release.name.clone(),
                            source,
                        })
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let schema = std::fs::read_to_string(chart_dir.join("values.schema.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|s| jsonschema::validator_for(&s).ok());
        Ok(Session {
            renderer,
            env,
            release,
            dir,
            renders,
            max_renders,
            memo: HashMap::new(),
            baseline,
            effective,
            files,
            schema,
            encrypted,
        })
    }

    pub fn renders(&self) -> usize {
        self.renders
    }

    pub fn baseline(&self) -> &Objects {
        &self.baseline
    }

    pub fn release(&self) -> &Release {
        self.release
    }

    pub fn exhausted(&self) -> bool {
        self.renders >= self.max_renders
    }

    /// Whether the chart's `values.schema.json` (if any) accepts these effective values; helm
    /// would refuse the render otherwise, so a sentinel that fails it is never tried.
    pub fn schema_accepts(&self, values: &Value) -> bool {
        self.schema.as_ref().is_none_or(|s| s.is_valid(values))
    }

    /// Renders the release with `overlay` as an extra, last values file.
    pub fn render_overlay(&mut self, overlay: &Value) -> Result<Outcome> {
        let text = overlay.to_string();
        if let Some(hit) = self.memo.get(&text) {
            return Ok(hit.clone().map_or(Outcome::Failed, Outcome::Rendered));
        }
        if self.exhausted() {
            return Ok(Outcome::Bound);
        }
        let rendered = if self.encrypted {
            // The overlay may hold a live value of a field an encrypted value feeds: piped.
            let bytes = zeroize::Zeroizing::new(text.clone().into_bytes());
            self.renderer
                .render_with_overlay(self.env, self.release, bytes)
        } else {
            let name = format!("overlay-{}.yaml", &hex::encode(Sha256::digest(&text))[..16]);
            let path = self.dir.path().join(name);
            std::fs::write(&path, &text).map_err(|source| Error::Overlay {
                environment: self.env.name.clone(),
                release: self.release.name.clone(),
                source,
            })?;
            let mut release = self.release.clone();
            release.values.push(path);
            self.renderer.render_release(self.env, &release)
        };
        let result = match rendered {
            Ok(r) => {
                self.renders += usize::from(!r.cache_hit);
                // Objects the API server would refuse (a quantity that is no quantity) say the
                // values were refused, as helm's own failures do.
                finish(self.env, self.release, r.documents)
                    .ok()
                    .map(Rc::new)
            }
            Err(render::Error::Template { .. } | render::Error::Manifest { .. }) => {
                self.renders += 1;
                None
            }
            Err(e) => return Err(e.into()),
        };
        self.memo.insert(text, result.clone());
        Ok(result.map_or(Outcome::Failed, Outcome::Rendered))
    }

    /// Renders the release with some values files' contents replaced.
    pub fn render_replaced(&mut self, replaced: &[(PathBuf, String)]) -> Result<Objects> {
        let mut release = self.release.clone();
        for (i, (file, content)) in replaced.iter().enumerate() {
            let Some(slot) = release.values.iter_mut().find(|f| *f == file) else {
                return Err(Error::NotAValuesFile {
                    environment: self.env.name.clone(),
                    release: self.release.name.clone(),
                    file: file.clone(),
                });
            };
            let path = self.dir.path().join(format!("replaced-{i}.yaml"));
            std::fs::write(&path, content).map_err(|source| Error::Overlay {
                environment: self.env.name.clone(),
                release: self.release.name.clone(),
                source,
            })?;
            *slot = path;
        }
        let r = self.renderer.render_release(self.env, &release)?;
        self.renders += usize::from(!r.cache_hit);
        finish(self.env, self.release, r.documents)
    }
}

/// The effective values with the defaults of the chart's unpacked subcharts (`charts/<name>/`)
/// under their keys, the parent's values winning, as Helm passes them down: a subchart's default
/// is a leaf that may render a field too. Packaged (`.tgz`) subcharts are left out.
fn with_subchart_defaults(chart_dir: &Path, mut effective: Values) -> Values {
    let Ok(entries) = std::fs::read_dir(chart_dir.join("charts")) else {
        return effective;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Chart.yaml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = crate::values::read_file(&dir.join("Chart.yaml"))
            .ok()
            .and_then(|c| c.get("name").and_then(Value::as_str).map(String::from));
        let (Some(name), Ok(defaults)) = (name, crate::values::chart_defaults(&dir)) else {
            continue;
        };
        let user = match effective.remove(&name) {
            Some(Value::Object(m)) => m,
            Some(other) => {
                effective.insert(name, other);
                continue;
            }
            None => Values::new(),
        };
        effective.insert(
            name,
            Value::Object(crate::values::coalesce(&defaults, user)),
        );
    }
    effective
}

/// Helm's documents as the agent's objects (the same namespaces, labels and references drift
/// reports), canonical.
fn finish(env: &Environment, release: &Release, docs: Vec<objects::RawObject>) -> Result<Objects> {
    let cluster_scoped = render::cluster_scoped_custom_kinds(docs.iter());
    let ctx = objects::Context::of(env, release, &cluster_scoped);
    let mut out = Objects::new();
    for doc in docs {
        let finished = objects::finish(&ctx, doc).map_err(|error| {
            Error::Render(render::Error::Manifest {
                environment: env.name.clone(),
                release: release.name.clone(),
                chart: release.chart.to_string(),
                error,
            })
        })?;
        if let Some(o) = finished {
            let mut manifest = compare::canonical(&o.manifest);
            if let Some(a) = manifest
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                a.remove(ANNOTATION_HASH);
            }
            out.insert(o.reference, manifest);
        }
    }
    Ok(out)
}

/// The object of `objects` that `r` names: the same group, kind and name, and the same
/// namespace unless one side does not know it (a custom kind's scope comes from CRDs that
/// another release may hold).
pub(super) fn find<'o>(objects: &'o Objects, r: &ObjectRef) -> Option<&'o Value> {
    objects.get(r).or_else(|| {
        objects
            .iter()
            .find(|(k, _)| {
                k.group == r.group
                    && k.kind == r.kind
                    && k.name == r.name
                    && (k.namespace.is_none() || r.namespace.is_none())
            })
            .map(|(_, v)| v)
    })
}

/// Every leaf that differs between two objects, as JSON pointers: scalars by value, lists of
/// different length as the list, fields on one side only as that field.
pub(super) fn changed(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let here = format!("{path}/{}", escape(k));
                match y.get(k) {
                    Some(w) => changed(v, w, &here, out),
                    None => out.push(here),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{path}/{}", escape(k)));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                changed(v, w, &format!("{path}/{i}"), out);
            }
        }
        _ if a != b => out.push(path.to_string()),
        _ => {}
    }
}

pub(super) fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}
