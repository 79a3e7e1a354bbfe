//! The edge to the `helm` binary: finding it, asking its version, `helm template`, `helm pull`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why helm could not do what was asked. The caller adds which environment and release.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error(
        "helm not found (looked in: {searched}); run `make tools`, or pass --helm / SEXTANT_HELM"
    )]
    NotFound { searched: String },
    #[error("cannot run {bin}: {source}")]
    Exec {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
}

/// Arguments of one `helm template` call.
#[derive(Debug, Clone)]
pub struct TemplateArgs<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    pub chart_dir: &'a Path,
    pub values_files: &'a [PathBuf],
    pub kube_version: Option<&'a str>,
    pub api_versions: &'a [String],
}

#[derive(Debug, Clone)]
pub struct Helm {
    pub bin: PathBuf,
}

impl Helm {
    /// Finds helm: the explicit path (`--helm`/`SEXTANT_HELM`), then `.tools/bin/helm` in the
    /// repository and in the current folder, then `PATH`.
    pub fn locate(explicit: Option<&Path>, repo: &Path) -> Result<Helm, HelmError> {
        if let Some(p) = explicit {
            return if p.is_file() {
                Ok(Helm {
                    bin: p.to_path_buf(),
                })
            } else {
                Err(HelmError::NotFound {
                    searched: p.display().to_string(),
                })
            };
        }
        let mut candidates = vec![
            repo.join(".tools/bin/helm"),
            PathBuf::from(".tools/bin/helm"),
        ];
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|d| d.join("helm")));
        }
        candidates
            .iter()
            .find(|c| c.is_file())
            .map(|bin| Helm { bin: bin.clone() })
            .ok_or_else(|| HelmError::NotFound {
                searched: candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn run(&self, args: &[&OsStr]) -> Result<String, HelmError> {
        let out = Command::new(&self.bin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| HelmError::Exec {
                bin: self.bin.clone(),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(HelmError::Failed(stderr.trim().to_string()))
        }
    }

    /// `helm version`, e.g. `v4.1.4`.
    pub fn version(&self) -> Result<String, HelmError> {
        Ok(self
            .run(&[
                "version".as_ref(),
                "--template".as_ref(),
                "{{.Version}}".as_ref(),
            ])?
            .trim()
            .to_string())
    }

    /// `helm template` of one release, CRDs included; returns the multi-document YAML.
    pub fn template(&self, a: &TemplateArgs<'_>) -> Result<String, HelmError> {
        let mut args: Vec<&OsStr> = vec![
            "template".as_ref(),
            a.release.as_ref(),
            a.chart_dir.as_os_str(),
            "--namespace".as_ref(),
            a.namespace.as_ref(),
            "--include-crds".as_ref(),
        ];
        for f in a.values_files {
            args.extend([OsStr::new("--values"), f.as_os_str()]);
        }
        if let Some(v) = a.kube_version {
            args.extend([OsStr::new("--kube-version"), OsStr::new(v)]);
        }
        for v in a.api_versions {
            args.extend([OsStr::new("--api-versions"), OsStr::new(v)]);
        }
        self.run(&args)
    }

    /// `helm pull` of an exact chart version, unpacked under `dest`.
    pub fn pull(
        &self,
        repository: &str,
        name: &str,
        version: &str,
        dest: &Path,
    ) -> Result<(), HelmError> {
        let oci_ref;
        let mut args: Vec<&OsStr> = vec!["pull".as_ref()];
        if repository.starts_with("oci://") {
            oci_ref = format!("{repository}/{name}");
            args.push(oci_ref.as_ref());
        } else {
            args.extend([
                OsStr::new(name),
                OsStr::new("--repo"),
                OsStr::new(repository),
            ]);
        }
        args.extend([
            "--version".as_ref(),
            version.as_ref(),
            "--untar".as_ref(),
            "--untardir".as_ref(),
            dest.as_os_str(),
        ]);
        self.run(&args).map(|_| ())
    }
}
