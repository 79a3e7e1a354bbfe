//! Promotion (docs/promotion.md): the source environment's agent proposes, for each target that
//! promotes from it, the image digests it has run healthily for the soak, verified in the
//! registry; the target's agent applies what Git says and rolls back by itself when a promoted
//! digest fails its health gate. No agent needs another cluster's credentials.
//!
//! The decisions are pure ([`gate`], [`next`], [`rollback`]); the daemon's loops carry them out.

pub mod gate;
pub mod metric;
pub mod next;
pub mod proposal;
pub mod rejected;
pub mod rollback;
pub mod verify;

use crate::environment::{promoted, Environment, PromotedImage};
use std::collections::BTreeMap;
use std::path::Path;

/// How often checks are looked at over `period` (a soak, a verification's window): a tenth of
/// it, between 1 and 30 s.
pub fn look_every(period: std::time::Duration) -> std::time::Duration {
    use std::time::Duration;
    (period / 10).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// The digest each promoted release carries in an environment's values (`promotion` is the
/// declaration naming the keys: the target's, read against either environment).
pub fn digests(env: &Environment, images: &[PromotedImage]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for image in images {
        let Some(release) = env.release(&image.release) else {
            continue;
        };
        if let Ok(Some((_, v))) = promoted::holder(release, &image.path) {
            if let Some(d) = v.as_str().filter(|d| promoted::is_digest(d)) {
                out.insert(image.release.clone(), d.to_string());
            }
        }
    }
    out
}

/// The environments of a checkout that promote from `source`, loaded and validated; one that
/// does not load is reported by name and skipped.
pub fn targets(repo: &Path, source: &str) -> (Vec<Environment>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for name in crate::environment::list(repo) {
        if name == source {
            continue;
        }
        match crate::environment::load(repo, &name) {
            Ok(env) => {
                if env.promotion.as_ref().is_some_and(|p| p.from == source) {
                    ok.push(env);
                }
            }
            // Only an environment that says it promotes from `source` is this agent's concern.
            Err(e) => {
                let file = repo
                    .join(crate::environment::ENVIRONMENTS_DIR)
                    .join(&name)
                    .join(crate::environment::FILE_NAME);
                let text = std::fs::read_to_string(file).unwrap_or_default();
                if text.contains(&format!("from: {source}")) {
                    errors.push(e.to_string());
                }
            }
        }
    }
    (ok, errors)
}

/// The values edit a promotion (or a revert) makes: the file Helm's last-wins picks for the
/// key in `env`, as a repository path, with its text before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub path: String,
    pub key: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("release {release:?}: {message}")]
    Key { release: String, message: String },
    /// The image's key is malformed, or a values file of its release cannot be read.
    #[error("release {release:?}: {error}")]
    Values {
        release: String,
        error: promoted::ValuesError,
    },
    #[error("{path}: cannot be read at the base commit")]
    Missing { path: String },
    #[error("{path}: {source}")]
    Yaml {
        path: String,
        source: sextant_yamledit::Error,
    },
}

/// Sets `image`'s key (and tag key, when declared and given) in `env`'s values; `read` gives a
/// repository file's text at the base commit.
pub fn edit(
    env: &Environment,
    image: &PromotedImage,
    digest: &str,
    tag: Option<&serde_json::Value>,
    read: impl Fn(&str) -> Option<String>,
) -> Result<Edit, EditError> {
    let err = |message: String| EditError::Key {
        release: image.release.clone(),
        message,
    };
    let values = |e: promoted::ValuesError| EditError::Values {
        release: image.release.clone(),
        error: e,
    };
    let release = env
        .release(&image.release)
        .ok_or_else(|| err("not a release of the environment".into()))?;
    let (file, _) = promoted::holder(release, &image.path)
        .map_err(values)?
        .ok_or_else(|| err(format!("no values file sets {}", image.path)))?;
    let path = file
        .strip_prefix(&env.repo)
        .map_err(|_| err(format!("{} is outside the repository", file.display())))?
        .to_string_lossy()
        .to_string();
    let before = read(&path).ok_or_else(|| EditError::Missing { path: path.clone() })?;
    let mut changes = vec![(
        promoted::key(&image.path).map_err(|e| values(e.into()))?,
        serde_json::Value::String(digest.to_string()),
    )];
    if let (Some(tag_path), Some(tag)) = (&image.tag_path, tag) {
        let (tag_file, _) = promoted::holder(release, tag_path)
            .map_err(values)?
            .ok_or_else(|| err(format!("no values file sets {tag_path}")))?;
        // The tag goes along only when the same file holds it; else the digest alone.
        if tag_file == file {
            changes.push((
                promoted::key(tag_path).map_err(|e| values(e.into()))?,
                tag.clone(),
            ));
        }
    }
    let after = sextant_yamledit::apply(&before, &changes).map_err(|source| EditError::Yaml {
        path: path.clone(),
        source,
    })?;
    Ok(Edit {
        path,
        key: image.path.clone(),
        before,
        after,
    })
}

/// Why `sextant set-image` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum SetImageError {
    #[error("--digest {digest:?} is not a digest: sha256: and 64 lowercase hex digits")]
    NotADigest { digest: String },
    #[error("{file}: unknown release {release:?} (releases: {known})")]
    UnknownRelease {
        file: std::path::PathBuf,
        release: String,
        known: String,
    },
    #[error(transparent)]
    Environment(#[from] crate::environment::Error),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// `sextant set-image`: writes `digest` into the values file of `release` in `env` that Helm's
/// last-wins picks for the key (`path`, else the key a target's promotion declares for the
/// release, else `image.digest`), in place, every other byte kept. Returns the edit made.
pub fn set_image(
    repo: &Path,
    env: &str,
    release: &str,
    digest: &str,
    path: Option<&str>,
) -> Result<Edit, SetImageError> {
    if !promoted::is_digest(digest) {
        return Err(SetImageError::NotADigest {
            digest: digest.to_string(),
        });
    }
    let environment = crate::environment::load(repo, env)?;
    if environment.release(release).is_none() {
        return Err(SetImageError::UnknownRelease {
            file: environment.file.clone(),
            release: release.to_string(),
            known: environment
                .releases
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let declared = crate::environment::list(repo)
        .into_iter()
        .filter_map(|name| crate::environment::load(repo, &name).ok())
        .filter_map(|e| e.promotion)
        .flat_map(|p| p.images)
        .find(|i| i.release == release)
        .map(|i| i.path);
    let key = path
        .map(str::to_string)
        .or(declared)
        .unwrap_or_else(|| "image.digest".into());
    let image = PromotedImage {
        release: release.to_string(),
        path: key,
        tag_path: None,
        repository: String::new(),
        verify: None,
    };
    let edit = edit(&environment, &image, digest, None, |p| {
        std::fs::read_to_string(repo.join(p)).ok()
    })?;
    std::fs::write(repo.join(&edit.path), &edit.after).map_err(|source| SetImageError::Write {
        path: edit.path.clone(),
        source,
    })?;
    Ok(edit)
}
