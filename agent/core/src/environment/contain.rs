//! Containment: every path an environment names — its own file, chart folders and every file in
//! them, values files — must resolve, symlinks included, inside the repository snapshot. Anyone
//! who can push a commit must not be able to make the agent read (and render into the cluster) a
//! file of the machine it runs on, such as its own kubeconfig or service-account token.
//!
//! The checks run on the resolved paths (`canonicalize`), never on the path text alone: a
//! symlink is as good as `..` at leaving a folder.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

const RULE: &str =
    "paths must stay inside the repository: relative, with no `..` or symlink that leaves it";

/// A path an environment names that is missing, leaves the repository, or cannot be read. The
/// variants holding an `io::Error` are the machine's failures; the others are the user's input.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("cannot resolve the repository {}: {error}", repo.display())]
    Repository {
        repo: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot resolve {}: {error}", path.display())]
    Unresolved {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} resolves to {}, outside the repository; {RULE}", path.display(), resolved.display())]
    Outside { path: PathBuf, resolved: PathBuf },
    #[error("values file {written:?} is an absolute path; name it relative to the environment's folder ({RULE})")]
    ValuesAbsolute { written: String },
    #[error("values file {written:?} is a symlink to nothing ({} does not resolve)", path.display())]
    ValuesDangling { written: String, path: PathBuf },
    #[error("values file {written:?} not found (looked for {})", path.display())]
    ValuesMissing { written: String, path: PathBuf },
    #[error("values file {written:?}: cannot read {}: {error}", path.display())]
    ValuesUnreadable {
        written: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("values file {written:?} {} {}, outside the repository; {RULE}",
        if *symlink { "is a symlink to" } else { "resolves to" }, target.display())]
    ValuesOutside {
        written: String,
        symlink: bool,
        target: PathBuf,
    },
    #[error("values file {written:?} is a directory, not a file ({})", resolved.display())]
    ValuesDirectory { written: String, resolved: PathBuf },
    #[error("chart path {written:?} is absolute; {RULE} (charts are named relative to the repository root)")]
    ChartAbsolute { written: String },
    #[error("chart {written:?} not found: no Chart.yaml in {}", path.display())]
    ChartMissing { written: String, path: PathBuf },
    #[error("chart path {written:?} resolves to {}, outside the repository; {RULE}", target.display())]
    ChartOutside { written: String, target: PathBuf },
    /// A file or folder inside a chart leads outside, or cannot be read.
    #[error("chart {written:?}: {entry}; {RULE}")]
    ChartEntry { written: String, entry: EntryError },
}

/// What is wrong with one entry of a chart's folder.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("cannot read {}: {error}", shown.display())]
    Unreadable {
        shown: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is a symlink to nothing", shown.display())]
    Dangling { shown: PathBuf },
    #[error("{} is a symlink to {}, outside the repository", shown.display(), target.display())]
    Outside { shown: PathBuf, target: PathBuf },
}

fn root(repo: &Path) -> Result<PathBuf, PathError> {
    std::fs::canonicalize(repo).map_err(|error| PathError::Repository {
        repo: repo.to_path_buf(),
        error,
    })
}

/// Resolves `path` and checks it lies inside `repo`; returns the resolved path.
pub(super) fn inside(repo: &Path, path: &Path) -> Result<PathBuf, PathError> {
    let root = root(repo)?;
    let resolved = std::fs::canonicalize(path).map_err(|error| PathError::Unresolved {
        path: path.to_path_buf(),
        error,
    })?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(PathError::Outside {
            path: path.to_path_buf(),
            resolved,
        })
    }
}

/// A values file named in an environment (relative to its folder `dir`): it must exist, be a
/// file, and resolve inside the repository. Returns its path (as written, joined to `dir`).
pub(super) fn values_file(repo: &Path, dir: &Path, v: &str) -> Result<PathBuf, PathError> {
    let written = Path::new(v);
    if written.is_absolute() {
        return Err(PathError::ValuesAbsolute { written: v.into() });
    }
    let path = dir.join(written);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(match std::fs::symlink_metadata(&path) {
                Ok(_) => PathError::ValuesDangling {
                    written: v.into(),
                    path,
                },
                Err(_) => PathError::ValuesMissing {
                    written: v.into(),
                    path,
                },
            })
        }
        Err(error) => {
            return Err(PathError::ValuesUnreadable {
                written: v.into(),
                path,
                error,
            })
        }
    };
    let resolved = inside(repo, &path).map_err(|_| PathError::ValuesOutside {
        written: v.into(),
        symlink: is_symlink(&path),
        target: std::fs::canonicalize(&path).unwrap_or_default(),
    })?;
    if meta.is_dir() {
        return Err(PathError::ValuesDirectory {
            written: v.into(),
            resolved,
        });
    }
    Ok(path)
}

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

/// A local chart folder (relative to the repository root): it must resolve inside the
/// repository, hold a `Chart.yaml`, and no file or folder in it may lead outside. Returns the
/// relative path as written.
pub(super) fn chart_dir(repo: &Path, s: &str) -> Result<PathBuf, PathError> {
    let rel = PathBuf::from(s);
    if rel.is_absolute() {
        return Err(PathError::ChartAbsolute { written: s.into() });
    }
    let abs = repo.join(&rel);
    let missing = |path: &Path| PathError::ChartMissing {
        written: s.into(),
        path: path.to_path_buf(),
    };
    if !abs.exists() {
        return Err(missing(&abs));
    }
    let resolved = inside(repo, &abs).map_err(|_| PathError::ChartOutside {
        written: s.into(),
        target: std::fs::canonicalize(&abs).unwrap_or_default(),
    })?;
    if !resolved.join("Chart.yaml").is_file() {
        return Err(missing(&abs));
    }
    let root = root(repo)?;
    let mut seen = HashSet::new();
    check_tree(&root, &resolved, &abs, &mut seen).map_err(|entry| PathError::ChartEntry {
        written: s.into(),
        entry,
    })?;
    Ok(rel)
}

/// Walks a chart's folder, following symlinks that stay inside `root`, and fails on the first
/// entry that leads outside it (helm's `.Files` would read it).
fn check_tree(
    root: &Path,
    dir: &Path,
    shown: &Path,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), EntryError> {
    if !seen.insert(dir.to_path_buf()) {
        return Ok(());
    }
    let unreadable = |shown: &Path| {
        let shown = shown.to_path_buf();
        move |error| EntryError::Unreadable { shown, error }
    };
    let entries = std::fs::read_dir(dir).map_err(unreadable(shown))?;
    for entry in entries {
        let entry = entry.map_err(unreadable(shown))?;
        let path = entry.path();
        let shown = shown.join(entry.file_name());
        let ty = entry.file_type().map_err(unreadable(&shown))?;
        if ty.is_symlink() {
            let target = std::fs::canonicalize(&path).map_err(|_| EntryError::Dangling {
                shown: shown.clone(),
            })?;
            if !target.starts_with(root) {
                return Err(EntryError::Outside { shown, target });
            }
            if target.is_dir() {
                check_tree(root, &target, &shown, seen)?;
            }
        } else if ty.is_dir() {
            check_tree(root, &path, &shown, seen)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_symlink_that_stays_inside_is_followed_and_one_that_leaves_is_named() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("token"), "secret").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let chart = repo.path().join("charts/app");
        std::fs::create_dir_all(chart.join("files")).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: app\n").unwrap();
        std::fs::write(repo.path().join("shared.txt"), "ok").unwrap();
        symlink(
            repo.path().join("shared.txt"),
            chart.join("files/shared.txt"),
        )
        .unwrap();
        assert_eq!(
            chart_dir(repo.path(), "charts/app").unwrap(),
            PathBuf::from("charts/app")
        );

        symlink(outside.path().join("token"), chart.join("files/token")).unwrap();
        let e = chart_dir(repo.path(), "charts/app")
            .unwrap_err()
            .to_string();
        assert!(e.contains("files/token is a symlink to"), "{e}");
        assert!(e.contains("outside the repository"), "{e}");
    }

    #[test]
    fn values_paths_that_leave_the_repository_are_refused_before_they_are_read() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("kubeconfig"), "token: x").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let dir = repo.path().join("environments/dev");
        std::fs::create_dir_all(dir.join("values/sub")).unwrap();
        std::fs::write(dir.join("values/a.yaml"), "a: 1\n").unwrap();
        symlink(outside.path().join("kubeconfig"), dir.join("values/b.yaml")).unwrap();
        symlink(dir.join("values/a.yaml"), dir.join("values/c.yaml")).unwrap();

        assert!(values_file(repo.path(), &dir, "values/a.yaml").is_ok());
        assert!(values_file(repo.path(), &dir, "values/c.yaml").is_ok());
        let e = values_file(repo.path(), &dir, "values/b.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("values file \"values/b.yaml\" is a symlink to"),
            "{e}"
        );
        // From environments/dev up out of the repository, into the other temporary folder.
        let other = outside.path().file_name().unwrap().to_str().unwrap();
        let escape = format!("../../../{other}/kubeconfig");
        assert!(
            dir.join(&escape).is_file(),
            "the test's path leads to the file"
        );
        let e = values_file(repo.path(), &dir, &escape)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("resolves to") && e.contains("outside the repository"),
            "{e}"
        );
        let e = values_file(repo.path(), &dir, "/etc/hostname")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is an absolute path"), "{e}");
        let e = values_file(repo.path(), &dir, "values/sub")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory, not a file"), "{e}");
    }
}
