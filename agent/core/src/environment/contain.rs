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

fn root(repo: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(repo)
        .map_err(|e| format!("cannot resolve the repository {}: {e}", repo.display()))
}

/// Resolves `path` and checks it lies inside `repo`; returns the resolved path.
pub(super) fn inside(repo: &Path, path: &Path) -> Result<PathBuf, String> {
    let root = root(repo)?;
    let resolved = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(format!(
            "{} resolves to {}, outside the repository; {RULE}",
            path.display(),
            resolved.display()
        ))
    }
}

/// A values file named in an environment (relative to its folder `dir`): it must exist, be a
/// file, and resolve inside the repository. Returns its path (as written, joined to `dir`).
pub(super) fn values_file(repo: &Path, dir: &Path, v: &str) -> Result<PathBuf, String> {
    let written = Path::new(v);
    if written.is_absolute() {
        return Err(format!(
            "values file {v:?} is an absolute path; name it relative to the environment's folder ({RULE})"
        ));
    }
    let path = dir.join(written);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(match std::fs::symlink_metadata(&path) {
                Ok(_) => format!(
                    "values file {v:?} is a symlink to nothing ({} does not resolve)",
                    path.display()
                ),
                Err(_) => format!(
                    "values file {v:?} not found (looked for {})",
                    path.display()
                ),
            })
        }
        Err(e) => {
            return Err(format!(
                "values file {v:?}: cannot read {}: {e}",
                path.display()
            ))
        }
    };
    let resolved = inside(repo, &path).map_err(|_| {
        let target = std::fs::canonicalize(&path).unwrap_or_default();
        let how = if is_symlink(&path) {
            "is a symlink to"
        } else {
            "resolves to"
        };
        format!(
            "values file {v:?} {how} {}, outside the repository; {RULE}",
            target.display()
        )
    })?;
    if meta.is_dir() {
        return Err(format!(
            "values file {v:?} is a directory, not a file ({})",
            resolved.display()
        ));
    }
    Ok(path)
}

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

/// A local chart folder (relative to the repository root): it must resolve inside the
/// repository, hold a `Chart.yaml`, and no file or folder in it may lead outside. Returns the
/// relative path as written.
pub(super) fn chart_dir(repo: &Path, s: &str) -> Result<PathBuf, String> {
    let rel = PathBuf::from(s);
    if rel.is_absolute() {
        return Err(format!(
            "chart path {s:?} is absolute; {RULE} (charts are named relative to the repository root)"
        ));
    }
    let abs = repo.join(&rel);
    if !abs.exists() {
        return Err(format!(
            "chart {s:?} not found: no Chart.yaml in {}",
            abs.display()
        ));
    }
    let resolved = inside(repo, &abs).map_err(|_| {
        let target = std::fs::canonicalize(&abs).unwrap_or_default();
        format!(
            "chart path {s:?} resolves to {}, outside the repository; {RULE}",
            target.display()
        )
    })?;
    if !resolved.join("Chart.yaml").is_file() {
        return Err(format!(
            "chart {s:?} not found: no Chart.yaml in {}",
            abs.display()
        ));
    }
    let root = root(repo)?;
    let mut seen = HashSet::new();
    check_tree(&root, &resolved, &abs, &mut seen)
        .map_err(|m| format!("chart {s:?}: {m}; {RULE}"))?;
    Ok(rel)
}

/// Walks a chart's folder, following symlinks that stay inside `root`, and fails on the first
/// entry that leads outside it (helm's `.Files` would read it).
fn check_tree(
    root: &Path,
    dir: &Path,
    shown: &Path,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), String> {
    if !seen.insert(dir.to_path_buf()) {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", shown.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", shown.display()))?;
        let path = entry.path();
        let shown = shown.join(entry.file_name());
        let ty = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", shown.display()))?;
        if ty.is_symlink() {
            let target = std::fs::canonicalize(&path)
                .map_err(|_| format!("{} is a symlink to nothing", shown.display()))?;
            if !target.starts_with(root) {
                return Err(format!(
                    "{} is a symlink to {}, outside the repository",
                    shown.display(),
                    target.display()
                ));
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
            chart_dir(repo.path(), "charts/app"),
            Ok("charts/app".into())
        );

        symlink(outside.path().join("token"), chart.join("files/token")).unwrap();
        let e = chart_dir(repo.path(), "charts/app").unwrap_err();
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
        let e = values_file(repo.path(), &dir, "values/b.yaml").unwrap_err();
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
        let e = values_file(repo.path(), &dir, &escape).unwrap_err();
        assert!(
            e.contains("resolves to") && e.contains("outside the repository"),
            "{e}"
        );
        let e = values_file(repo.path(), &dir, "/etc/hostname").unwrap_err();
        assert!(e.contains("is an absolute path"), "{e}");
        let e = values_file(repo.path(), &dir, "values/sub").unwrap_err();
        assert!(e.contains("is a directory, not a file"), "{e}");
    }
}
