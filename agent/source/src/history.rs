//! Reading the cache's history: the commits that touched some paths between two revisions
//! ([`GitSource::log`]), a file's bytes at a revision ([`GitSource::file_at`]) and a branch's
//! first-parent line ([`GitSource::first_parent_history`]). Local only: these read what
//! [`GitSource::fetch`] brought into the cache and never touch the network.

use git2::{ObjectType, Oid, Repository, Sort, Tree};

use crate::error::{Result, SourceError};
use crate::git::GitSource;
use crate::revision::Revision;

/// One commit of a [`Log`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogEntry {
    /// The commit (`id.short()` for humans).
    pub id: Revision,
    /// The first line of the message.
    pub summary: String,
    /// The author's name (not the e-mail address, which stays out of pull requests).
    pub author: String,
    /// The author time in RFC 3339, with the author's own offset (`2024-05-01T10:00:00+02:00`).
    pub time: String,
}

/// What [`GitSource::log`] found, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Log {
    /// At most `limit` commits.
    pub entries: Vec<LogEntry>,
    /// How many more commits matched than `limit` let through.
    pub left_out: usize,
}

/// Symlinks followed while resolving one path before giving up (Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

const SYMLINK_MODE: i32 = 0o120_000;

impl GitSource {
    /// The commits reachable from `to` and not from `from` (all of `to`'s history when `from`
    /// is `None`), newest first, that change any of `paths`: at most `limit` of them, with the
    /// number of further matches in [`Log::left_out`].
    ///
    /// A path is a file or a folder relative to the repository root (`charts/web`, `charts/web/`
    /// and `./charts/web` are the same; `""` or `"."` is the whole tree); a folder matches any
    /// change beneath it, and `charts/web` does not match `charts/web-two`. Paths are compared
    /// as Git stores them: a symlink changes when its target text does, not when the file it
    /// points to does, so pass resolved paths.
    ///
    /// Each commit is listed once. A merge is listed only when a file beneath a path differs
    /// from that file in every parent (a conflict resolved, a change made in the merge itself,
    /// as `git show --cc` shows it); a change it brings in from a branch is listed as the
    /// branch's own commits. Counting `left_out` walks the whole range. Blocking: call it from
    /// `spawn_blocking`.
    pub fn log(
        &self,
        from: Option<&Revision>,
        to: &Revision,
        paths: &[&str],
        limit: usize,
    ) -> Result<Log> {
        let paths: Vec<String> = paths
            .iter()
            .map(|p| clean_path(p).map(|c| c.join("/")))
            .collect::<Result<_>>()?;
        let repo = self.open_existing()?;
        let walk_error = |e| self.git_error("log", e, false);
        let mut walk = repo.revwalk().map_err(walk_error)?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
            .map_err(walk_error)?;
        walk.push(self.commit(&repo, to)?.id())
            .map_err(walk_error)?;
        if let Some(from) = from {
            walk.hide(self.commit(&repo, from)?.id())
                .map_err(walk_error)?;
        }
        let mut log = Log::default();
        for oid in walk {
            let commit = repo
                .find_commit(oid.map_err(walk_error)?)
                .map_err(walk_error)?;
            if !touches(&repo, &commit, &paths).map_err(walk_error)? {
                continue;
            }
            if log.entries.len() == limit {
                log.left_out += 1;
                continue;
            }
            log.entries.push(entry(&commit));
        }
        Ok(log)
    }

    /// The bytes of the file at `path` in `rev`, `None` when there is none. Symlinks are
    /// followed while they stay inside the repository, as a checkout of `rev` would read them.
    /// Errors: a path with `..` or a leading `/` ([`SourceError::InvalidPath`]); a folder,
    /// submodule, or symlink that leaves the repository or loops ([`SourceError::NotAFile`]).
    pub fn file_at(&self, rev: &Revision, path: &str) -> Result<Option<Vec<u8>>> {
        let mut components = clean_path(path)?;
        let repo = self.open_existing()?;
        let commit = self.commit(&repo, rev)?;
        let root = commit
            .tree()
            .map_err(|e| self.git_error("read tree", e, false))?;
        let not_a_file = |what: &str| SourceError::NotAFile {
            path: path.to_owned(),
            revision: rev.to_string(),
            what: what.to_owned(),
        };
        let read_error = |e| self.git_error("read file", e, false);
        let mut hops = 0;
        'resolve: loop {
            let mut tree = root.clone();
            for (i, name) in components.iter().enumerate() {
                let last = i + 1 == components.len();
                let Some(entry) = tree.get_name(name) else {
                    return Ok(None);
                };
                match entry.kind() {
                    Some(ObjectType::Tree) if last => return Err(not_a_file("a folder")),
                    Some(ObjectType::Tree) => {
                        let id = entry.id();
                        drop(entry);
                        tree = repo.find_tree(id).map_err(read_error)?;
                    }
                    Some(ObjectType::Blob) if entry.filemode() == SYMLINK_MODE => {
                        hops += 1;
                        if hops > MAX_SYMLINKS {
                            return Err(not_a_file("a loop of symlinks"));
                        }
                        let blob = repo.find_blob(entry.id()).map_err(read_error)?;
                        let target = std::str::from_utf8(blob.content())
                            .map_err(|_| not_a_file("a symlink to a path that is not UTF-8"))?;
                        components = follow(&components[..i], target, &components[i + 1..])
                            .ok_or_else(|| not_a_file("a symlink that leaves the repository"))?;
                        continue 'resolve;
                    }
                    Some(ObjectType::Blob) if last => {
                        let blob = repo.find_blob(entry.id()).map_err(read_error)?;
                        return Ok(Some(blob.content().to_vec()));
                    }
                    // A file where the path needs a folder: nothing is there.
                    Some(ObjectType::Blob) => return Ok(None),
                    _ => return Err(not_a_file("a submodule")),
                }
            }
            return Err(not_a_file("the repository's root folder"));
        }
    }

    /// `to`, then its first parent, that one's first parent, …: the commits a branch's head has
    /// been at when every change arrived by a commit or a merge onto it; at most `limit`.
    pub fn first_parent_history(&self, to: &Revision, limit: usize) -> Result<Vec<Revision>> {
        let repo = self.open_existing()?;
        let mut commit = self.commit(&repo, to)?;
        let mut line = Vec::new();
        while line.len() < limit {
            line.push(Revision::from_oid(commit.id()));
            if commit.parent_count() == 0 {
                break;
            }
            commit = commit
                .parent(0)
                .map_err(|e| self.git_error("read parent", e, false))?;
        }
        Ok(line)
    }

    pub(crate) fn commit<'r>(
        &self,
        repo: &'r Repository,
        rev: &Revision,
    ) -> Result<git2::Commit<'r>> {
        repo.find_commit(rev.to_oid())
            .map_err(|_| SourceError::RevisionNotFound {
                url: self.redacted_url().to_owned(),
                revision: rev.to_string(),
            })
    }
}

/// `path`'s components, without `.` and empty ones; `..` and absolute paths are refused.
fn clean_path(path: &str) -> Result<Vec<String>> {
    let invalid = |reason| SourceError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.starts_with('/') {
        return Err(invalid("is absolute"));
    }
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(|c| match c {
            ".." => Err(invalid("has a `..` component")),
            c => Ok(c.to_owned()),
        })
        .collect()
}

/// The components a symlink at `dir/<link>` pointing at `target` resolves to, followed by
/// `rest`; `None` when the target is absolute or climbs out of the repository.
fn follow(dir: &[String], target: &str, rest: &[String]) -> Option<Vec<String>> {
    if target.starts_with('/') {
        return None;
    }
    let mut out = dir.to_vec();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c.to_owned()),
        }
    }
    out.extend_from_slice(rest);
    Some(out)
}

/// The id of what `tree` holds at `path` (the tree itself for `""`), `None` when nothing.
fn id_at(tree: &Tree<'_>, path: &str) -> std::result::Result<Option<Oid>, git2::Error> {
    if path.is_empty() {
        return Ok(Some(tree.id()));
    }
    match tree.get_path(std::path::Path::new(path)) {
        Ok(entry) => Ok(Some(entry.id())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `commit` changes one of `paths`: against its parent; for a root commit, whether the
/// path exists; for a merge, whether some file beneath a path differs from that file in every
/// parent (what `git show --cc` shows: a conflict resolved, a change made in the merge). A file
/// the merge took from one side as it was there was changed by that side's own commits.
fn touches(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    paths: &[String],
) -> std::result::Result<bool, git2::Error> {
    let tree = commit.tree()?;
    let parents: Vec<Tree<'_>> = commit
        .parents()
        .map(|p| p.tree())
        .collect::<std::result::Result<_, _>>()?;
    for path in paths {
        let here = id_at(&tree, path)?;
        let changed = match parents.as_slice() {
            [] => here.is_some(),
            [parent] => id_at(parent, path)? != here,
            _ => merge_changes(repo, &tree, &parents, path, here)?,
        };
        if changed {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a merge's `path` (a file or a folder, id `here`) holds a file that differs from the
/// same file in every parent.
fn merge_changes(
    repo: &Repository,
    tree: &Tree<'_>,
    parents: &[Tree<'_>],
    path: &str,
    here: Option<Oid>,
) -> std::result::Result<bool, git2::Error> {
    let mut theirs = Vec::with_capacity(parents.len());
    for parent in parents {
        let id = id_at(parent, path)?;
        if id == here {
            return Ok(false);
        }
        theirs.push(id);
    }
    let folder = |id: Option<Oid>| -> std::result::Result<Option<Tree<'_>>, git2::Error> {
        match id.map(|id| repo.find_object(id, None)).transpose()? {
            Some(o) if o.kind() == Some(ObjectType::Tree) => Ok(o.into_tree().ok()),
            _ => Ok(None),
        }
    };
    // A file, or a path the merge removed or added against every parent: differs from all.
    let Some(ours) = (if path.is_empty() {
        Some(tree.clone())
    } else {
        folder(here)?
    }) else {
        return Ok(true);
    };
    let mut common: Option<std::collections::BTreeSet<Vec<u8>>> = None;
    for id in theirs {
        let before = folder(id)?;
        let diff = repo.diff_tree_to_tree(before.as_ref(), Some(&ours), None)?;
        let files: std::collections::BTreeSet<Vec<u8>> = diff
            .deltas()
            .filter_map(|d| d.new_file().path_bytes().or(d.old_file().path_bytes()))
            .map(<[u8]>::to_vec)
            .collect();
        let narrowed = match common.take() {
            None => files,
            Some(c) => c.intersection(&files).cloned().collect(),
        };
        if narrowed.is_empty() {
            return Ok(false);
        }
        common = Some(narrowed);
    }
    Ok(common.is_some_and(|c| !c.is_empty()))
}

fn entry(commit: &git2::Commit<'_>) -> LogEntry {
    let author = commit.author();
    let when = author.when();
    LogEntry {
        id: Revision::from_oid(commit.id()),
        summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        time: rfc3339(when.seconds(), when.offset_minutes()),
    }
}

/// `seconds` since the epoch shown at `offset_minutes` from UTC, as RFC 3339.
fn rfc3339(seconds: i64, offset_minutes: i32) -> String {
    let offset = jiff::tz::Offset::from_seconds(offset_minutes.saturating_mul(60))
        .unwrap_or(jiff::tz::Offset::UTC);
    match jiff::Timestamp::from_second(seconds) {
        Ok(t) => t.display_with_offset(offset).to_string(),
        Err(_) => jiff::Timestamp::UNIX_EPOCH.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_climbing_out_is_refused() {
        assert_eq!(clean_path("./charts//web/").unwrap(), ["charts", "web"]);
        assert!(clean_path(".").unwrap().is_empty());
        assert!(clean_path("").unwrap().is_empty());
        for bad in ["/etc/passwd", "charts/../../x", ".."] {
            assert!(
                matches!(clean_path(bad), Err(SourceError::InvalidPath { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_symlink_resolves_beside_itself_and_may_not_climb_out() {
        let v = |s: &[&str]| s.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            follow(&v(&["envs", "prod"]), "../shared/values.yaml", &[]),
            Some(v(&["envs", "shared", "values.yaml"]))
        );
        assert_eq!(
            follow(&v(&["envs"]), "./prod", &v(&["values.yaml"])),
            Some(v(&["envs", "prod", "values.yaml"]))
        );
        assert_eq!(follow(&v(&["envs"]), "../../etc", &[]), None);
        assert_eq!(follow(&v(&["envs"]), "/etc/passwd", &[]), None);
    }

    #[test]
    fn times_keep_the_authors_offset() {
        assert_eq!(rfc3339(1_714_550_400, 120), "2024-05-01T10:00:00+02:00");
        assert_eq!(rfc3339(1_714_550_400, 0), "2024-05-01T08:00:00+00:00");
        assert_eq!(rfc3339(1_714_550_400, -330), "2024-05-01T02:30:00-05:30");
    }
}
