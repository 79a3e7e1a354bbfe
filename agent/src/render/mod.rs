//! Rendering: every release of an environment through the real `helm template`, concurrently
//! (bounded) and through a content-addressed cache, then parsed into owned, hashed objects.

pub mod cache;
pub mod helm;
pub mod kms;
pub mod mirrors;
pub mod objects;
mod pipes;
mod sealed;

pub use sealed::scrub;

use crate::environment::{Chart, Environment, Release};
use crate::object::Object;
use crate::values::{self, Values};
use cache::RenderCache;
use helm::{Helm, HelmError, TemplateArgs};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bumped whenever the cache entry format or the key's inputs change.
const CACHE_FORMAT: &str = "sextant-render-v2";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Helm(HelmError),
    #[error("environment {environment}, release {release}, chart {chart}: helm template failed: {source}")]
    Template {
        environment: String,
        release: String,
        chart: String,
        /// helm's own message (`Failed`), or why helm did not answer (a timeout, a shutdown).
        source: HelmError,
    },
    #[error("environment {environment}, release {release}: cannot fetch chart {name} version {version} from {from}: {message}")]
    Fetch {
        environment: String,
        release: String,
        name: String,
        version: String,
        /// Where it was pulled from: the repository, or the mirror and what it mirrors.
        from: String,
        message: String,
    },
    #[error("environment {environment}, release {release}, chart {chart}: {error}")]
    Manifest {
        environment: String,
        release: String,
        chart: String,
        error: objects::ManifestError,
    },
    #[error("environment {environment}, release {release}: {source}")]
    Values {
        environment: String,
        release: String,
        source: values::Error,
    },
    #[error(
        "environment {environment}, release {release}, chart {chart}: cannot read chart: {source}"
    )]
    ChartRead {
        environment: String,
        release: String,
        chart: String,
        source: std::io::Error,
    },
    #[error("unknown release {release:?} in environment {environment} (its releases: {known})")]
    UnknownRelease {
        environment: String,
        release: String,
        known: String,
    },
    /// A SOPS-encrypted values file that does not decrypt (no key, a tampered value or MAC, an
    /// unknown version): the file and the key path, never a value.
    #[error("environment {environment}, release {release}: {}: cannot decrypt: {source}", file.display())]
    Decrypt {
        environment: String,
        release: String,
        file: PathBuf,
        source: sextant_sops::SopsError,
    },
    /// The age keys (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, the user's `sops/age/keys.txt`)
    /// cannot be read.
    #[error("environment {environment}, release {release}: {}: {source}", file.display())]
    Keys {
        environment: String,
        release: String,
        file: PathBuf,
        source: sextant_sops::KeyError,
    },
}

impl Error {
    /// What failed, a bounded set: the daemon's metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Helm(HelmError::Timeout { .. })
            | Error::Template {
                source: HelmError::Timeout { .. },
                ..
            } => "render_timeout",
            Error::Template {
                source: HelmError::Failed(_),
                ..
            } => "template_failed",
            Error::Helm(_) | Error::Template { .. } => "helm_failed",
            Error::Fetch { .. } => "chart_fetch_failed",
            Error::Manifest { .. } => "manifest_invalid",
            Error::Values { .. } => "values_invalid",
            Error::ChartRead { .. } => "chart_unreadable",
            Error::UnknownRelease { .. } => "unknown_release",
            Error::Decrypt { .. } | Error::Keys { .. } => "values_undecryptable",
        }
    }

    /// Why a SOPS values file did not decrypt, a bounded label (`sextant_sops::SopsError::label`,
    /// or `key_file` for keys that cannot be read); `None` for any other error.
    pub fn decrypt_reason(&self) -> Option<&'static str> {
        match self {
            Error::Decrypt { source, .. } => Some(source.label()),
            Error::Keys { .. } => Some("key_file"),
            _ => None,
        }
    }

    /// Whether rendering the same snapshot again later may succeed: a chart repository that did
    /// not answer, helm that could not start or ran out of time. A template, values or manifest
    /// error is the commit's, and renders the same way every time.
    pub fn is_transient(&self) -> bool {
        let helm = |e: &HelmError| {
            matches!(
                e,
                HelmError::Timeout { .. } | HelmError::Exec { .. } | HelmError::ShuttingDown
            )
        };
        match self {
            Error::Fetch { .. } => true,
            Error::Helm(e) | Error::Template { source: e, .. } => helm(e),
            // AWS KMS down or throttled: the same file opens once it answers.
            Error::Decrypt {
                source: sextant_sops::SopsError::Kms { transient, .. },
                ..
            } => *transient,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What shows in place of a value that came from a SOPS-encrypted file.
pub use sextant_core::secrets::ENCRYPTED;

/// What `helm template` is told about the cluster, and how many renders run at once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub kube_version: Option<String>,
    pub api_versions: Vec<String>,
    pub parallelism: usize,
    /// The longest one helm invocation may run (`render.timeout`).
    pub timeout: Duration,
    /// Where remote charts are really pulled from (`render.chartMirrors`).
    pub chart_mirrors: mirrors::ChartMirrors,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            kube_version: None,
            api_versions: Vec::new(),
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            timeout: helm::DEFAULT_TIMEOUT,
            chart_mirrors: mirrors::ChartMirrors::default(),
        }
    }
}

/// One release's rendered output: helm's documents, parsed.
#[derive(Debug, Clone)]
pub struct ReleaseRender {
    pub release: String,
    /// Helm's documents, parsed; moved into the objects once those are built.
    pub documents: Vec<objects::RawObject>,
    pub cache_hit: bool,
    pub duration: Duration,
    /// SOPS-encrypted values files decrypted for this render.
    pub decrypted_files: usize,
}

/// An environment rendered: the raw output per release and the owned objects of all of them.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub releases: Vec<ReleaseRender>,
    pub objects: Vec<Object>,
}

pub struct Renderer {
    helm: Helm,
    cache: RenderCache,
    settings: Settings,
    helm_identity: OnceLock<String>,
    /// The age keys SOPS-encrypted values files are decrypted with, read from the environment
    /// at the first such file.
    sops_keys: OnceLock<std::result::Result<Arc<sextant_sops::Keys>, sextant_sops::KeyError>>,
}

impl Renderer {
    /// helm runs with the settings' timeout and, unless told otherwise, with its own folders
    /// under the cache (`<cache>/helm`): no user's repositories, logins or kubeconfig.
    /// Whether charts of `repository` are pulled from a mirror the operator configured.
    pub fn mirrored(&self, repository: &str) -> bool {
        self.settings
            .chart_mirrors
            .resolve(repository)
            .mirror_of
            .is_some()
    }

    pub fn new(helm: Helm, cache: RenderCache, settings: Settings) -> Self {
        let helm_home = cache.dir().join("helm");
        let mut helm = helm.with_timeout(settings.timeout);
        if helm.home.is_none() {
            helm = helm.with_home(helm_home);
        }
        Renderer {
            helm,
            cache,
            settings,
            helm_identity: OnceLock::new(),
            sops_keys: OnceLock::new(),
        }
    }

    pub fn helm(&self) -> &Helm {
        &self.helm
    }

    /// Identifies the helm binary for cache keys: its resolved path, size and modification time.
    /// Stricter than its version string, and needs no helm process, so a fully cached render
    /// starts none.
    pub fn helm_identity(&self) -> Result<String> {
        if let Some(v) = self.helm_identity.get() {
            return Ok(v.clone());
        }
        let meta = std::fs::metadata(&self.helm.bin).map_err(|source| {
            Error::Helm(HelmError::Exec {
                bin: self.helm.bin.clone(),
                source,
            })
        })?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let path = std::fs::canonicalize(&self.helm.bin).unwrap_or(self.helm.bin.clone());
        let id = format!("{}\0{}\0{mtime}", path.display(), meta.len());
        Ok(self.helm_identity.get_or_init(|| id).clone())
    }

    /// The folder of a release's chart; a remote chart is pulled once per exact version.
    pub fn chart_dir(&self, env: &Environment, release: &Release) -> Result<PathBuf> {
        match &release.chart {
            Chart::Local(rel) => Ok(env.repo.join(rel)),
            Chart::Remote {
                repository,
                name,
                version,
            } => {
                let key = hex::encode(Sha256::digest(format!("{repository}\0{name}\0{version}")));
                let root = self.cache.dir().join("charts");
                let dir = root.join(&key);
                if !dir.join(name).join("Chart.yaml").is_file() {
                    let source = self.settings.chart_mirrors.resolve(repository);
                    let fetch_err = |message: String| Error::Fetch {
                        environment: env.name.clone(),
                        release: release.name.clone(),
                        name: name.clone(),
                        version: version.clone(),
                        from: match &source.mirror_of {
                            Some(upstream) => format!("{} (mirror of {upstream})", source.location),
                            None => source.location.to_string(),
                        },
                        message,
                    };
                    std::fs::create_dir_all(&root).map_err(|e| fetch_err(e.to_string()))?;
                    let tmp = tempfile::tempdir_in(&root).map_err(|e| fetch_err(e.to_string()))?;
                    self.helm
                        .pull(&source.location, name, version, tmp.path())
                        .map_err(|e| fetch_err(e.to_string()))?;
                    // Rename into place: concurrent fetches of one chart both succeed.
                    if std::fs::rename(tmp.path(), &dir).is_err() && !dir.is_dir() {
                        return Err(fetch_err(format!(
                            "cannot store chart in {}",
                            dir.display()
                        )));
                    }
                }
                Ok(dir.join(name))
            }
        }
    }

    /// The values helm will render the release with: chart defaults, then each values file.
    pub fn effective_values(&self, env: &Environment, release: &Release) -> Result<Values> {
        self.values_with(env, release, &self.decrypted(env, release)?)
    }

    /// The effective values, with the release's SOPS files already `decrypted`.
    fn values_with(
        &self,
        env: &Environment,
        release: &Release,
        decrypted: &[(usize, zeroize::Zeroizing<Vec<u8>>)],
    ) -> Result<Values> {
        let values_err = |source| Error::Values {
            environment: env.name.clone(),
            release: release.name.clone(),
            source,
        };
        let chart_dir = self.chart_dir(env, release)?;
        let defaults = values::chart_defaults(&chart_dir).map_err(values_err)?;
        let layers = release
            .values
            .iter()
            .enumerate()
            .map(|(i, f)| match decrypted.iter().find(|(at, _)| *at == i) {
                Some((_, text)) => values::parse_text(f, &String::from_utf8_lossy(text)),
                None => values::read_file(f),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(values_err)?;
        Ok(values::coalesce(&defaults, values::merge_layers(layers)))
    }

    /// Renders one release, from the cache when nothing that decides its output changed.
    pub fn render_release(&self, env: &Environment, release: &Release) -> Result<ReleaseRender> {
        self.render_piped(env, release, None)
    }

    /// Renders one release with `overlay` (YAML) as its last values file, which helm reads
    /// through a pipe: values that may carry a decrypted one never reach the disk. Not cached.
    pub fn render_with_overlay(
        &self,
        env: &Environment,
        release: &Release,
        overlay: zeroize::Zeroizing<Vec<u8>>,
    ) -> Result<ReleaseRender> {
        self.render_piped(env, release, Some(overlay))
    }

    fn render_piped(
        &self,
        env: &Environment,
        release: &Release,
        overlay: Option<zeroize::Zeroizing<Vec<u8>>>,
    ) -> Result<ReleaseRender> {
        let started = Instant::now();
        let chart_dir = self.chart_dir(env, release)?;
        let key = self.cache_key(env, release, &chart_dir)?;
        // Decrypted values never reach the disk: a release with any is not cached (its
        // rendering may carry them, in a Secret).
        let mut piped = self.decrypted(env, release)?;
        let decrypted_files = piped.len();
        let mut values_files = release.values.clone();
        if let Some(overlay) = overlay {
            piped.push((values_files.len(), overlay));
            values_files.push(PathBuf::from("(overlay)"));
        }
        let cacheable = piped.is_empty();
        let cached = cacheable.then(|| self.cache.get("render", &key)).flatten();
        if let Some(documents) = cached.and_then(|c| serde_json::from_str(&c).ok()) {
            return Ok(ReleaseRender {
                release: release.name.clone(),
                documents,
                cache_hit: true,
                duration: started.elapsed(),
                decrypted_files,
            });
        }
        // Parse the values before helm does: a broken values file is reported with its own name
        // and position, not as helm's message. (A cache hit proves they parsed before.)
        self.values_with(env, release, &piped)?;
        let manifests = self
            .helm
            .template(&TemplateArgs {
                release: &release.name,
                namespace: &release.namespace,
                chart_dir: &chart_dir,
                values_files: &values_files,
                piped: &piped,
                kube_version: self.settings.kube_version.as_deref(),
                api_versions: &self.settings.api_versions,
            })
            .map_err(|source| Error::Template {
                environment: env.name.clone(),
                release: release.name.clone(),
                chart: release.chart.to_string(),
                source,
            })?;
        let documents = objects::parse_stream(&manifests).map_err(|error| Error::Manifest {
            environment: env.name.clone(),
            release: release.name.clone(),
            chart: release.chart.to_string(),
            error,
        })?;
        // Cached parsed, as JSON: a cache hit costs no YAML parsing. A cache that cannot be
        // written only costs a later render.
        if let Some(json) = cacheable
            .then(|| serde_json::to_string(&documents).ok())
            .flatten()
        {
            let _ = self.cache.put("render", &key, &json);
        }
        Ok(ReleaseRender {
            release: release.name.clone(),
            documents,
            cache_hit: false,
            duration: started.elapsed(),
            decrypted_files,
        })
    }

    /// sha256 of what decides helm's output: the chart's files, the values files in order (their
    /// bytes, so that helm's own YAML reading decides), the helm binary and the render settings.
    fn cache_key(&self, env: &Environment, release: &Release, chart_dir: &Path) -> Result<String> {
        let read_err = |source| Error::ChartRead {
            environment: env.name.clone(),
            release: release.name.clone(),
            chart: release.chart.to_string(),
            source,
        };
        let mut h = Sha256::new();
        for part in [
            CACHE_FORMAT,
            &self.helm_identity()?,
            &release.name,
            &release.namespace,
            self.settings.kube_version.as_deref().unwrap_or(""),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for v in &self.settings.api_versions {
            h.update(v.as_bytes());
            h.update([1]);
        }
        cache::hash_dir(&mut h, chart_dir).map_err(read_err)?;
        for f in &release.values {
            let bytes = std::fs::read(f).map_err(|source| Error::Values {
                environment: env.name.clone(),
                release: release.name.clone(),
                source: values::Error::Read {
                    file: f.clone(),
                    source,
                },
            })?;
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Renders every release of an environment (or only `only`), at most
    /// `settings.parallelism` at a time, and turns the output into owned objects.
    pub fn render(&self, env: &Environment, only: Option<&str>) -> Result<Rendered> {
        if let Some(name) = only {
            release(env, name)?;
        }
        self.helm_identity()?;
        let results = parallel_map(&env.releases, self.settings.parallelism, |r| {
            self.render_release(env, r)
        });
        let mut releases = results.into_iter().collect::<Result<Vec<_>>>()?;
        let objects = self.objects(env, &mut releases)?;
        let objects = match only {
            Some(name) => objects.into_iter().filter(|o| o.release == name).collect(),
            None => objects,
        };
        Ok(Rendered { releases, objects })
    }

    /// Turns each release's documents into objects; the documents are moved, not copied (a large
    /// chart renders megabytes of them).
    fn objects(&self, env: &Environment, rendered: &mut [ReleaseRender]) -> Result<Vec<Object>> {
        let cluster_scoped =
            cluster_scoped_custom_kinds(rendered.iter().flat_map(|r| &r.documents));
        let mut out = Vec::new();
        for (release, rendered) in env.releases.iter().zip(rendered) {
            let ctx = objects::Context::of(env, release, &cluster_scoped);
            for doc in std::mem::take(&mut rendered.documents) {
                let finished = objects::finish(&ctx, doc).map_err(|error| Error::Manifest {
                    environment: env.name.clone(),
                    release: release.name.clone(),
                    chart: release.chart.to_string(),
                    error,
                })?;
                out.extend(finished);
            }
        }
        Ok(out)
    }
}

/// The release of that name, or an error listing the environment's releases.
pub fn release<'e>(env: &'e Environment, name: &str) -> Result<&'e Release> {
    env.release(name).ok_or_else(|| Error::UnknownRelease {
        environment: env.name.clone(),
        release: name.to_string(),
        known: env
            .releases
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The custom kinds `(group, kind)` that the rendered CRDs declare cluster-scoped.
pub(crate) fn cluster_scoped_custom_kinds<'a>(
    docs: impl Iterator<Item = &'a objects::RawObject>,
) -> HashSet<(String, String)> {
    docs.filter(|d| {
        d.manifest.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition")
    })
    .filter_map(|d| {
        let spec = d.manifest.get("spec")?;
        if spec.get("scope")?.as_str()? != "Cluster" {
            return None;
        }
        Some((
            spec.get("group")?.as_str()?.to_string(),
            spec.pointer("/names/kind")?.as_str()?.to_string(),
        ))
    })
    .collect()
}

/// Maps `f` over `items` on at most `limit` threads, keeping the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], limit: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..limit.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .expect("every item is mapped exactly once")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order_and_visits_each_item_once() {
        let items: Vec<u32> = (0..50).collect();
        let seen = AtomicUsize::new(0);
        let out = parallel_map(&items, 3, |x| {
            seen.fetch_add(1, Ordering::Relaxed);
            x * 2
        });
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(seen.load(Ordering::Relaxed), 50);
    }

    #[test]
    fn a_file_kms_cannot_open_now_is_retried_and_one_it_refuses_waits_for_a_commit() {
        use sextant_sops::SopsError;
        let kms = |transient| SopsError::Kms {
            arn: "arn:aws:kms:eu-west-1:123456789012:key/k".into(),
            message: "m".into(),
            transient,
        };
        let cases = [
            (kms(true), true, Some("kms")),
            (kms(false), false, Some("kms")),
            (SopsError::Mac, false, Some("mac")),
            (
                SopsError::NoKey {
                    recipients: vec![],
                    looked: vec![],
                },
                false,
                Some("no_key"),
            ),
        ];
        for (source, transient, reason) in cases {
            let e = Error::Decrypt {
                environment: "prod".into(),
                release: "db".into(),
                file: PathBuf::from("values/db.yaml"),
                source,
            };
            assert_eq!(e.is_transient(), transient, "{e}");
            assert_eq!(e.decrypt_reason(), reason, "{e}");
            assert_eq!(e.metric_label(), "values_undecryptable");
        }
    }
}
