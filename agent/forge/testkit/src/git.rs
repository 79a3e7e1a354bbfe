//! The fake's git data: a real bare repository (git2). Blobs, trees, commits and refs created
//! over the API are real objects in it, so `git clone file://…` or `git daemon` sees them.

use std::path::{Path, PathBuf};

use git2::{build::TreeUpdateBuilder, FileMode, ObjectType, Oid, Repository, Signature};

/// Why a git operation failed, in GitHub's terms (the routes map it to a status and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitError {
    /// 404.
    NotFound(String),
    /// 422, with GitHub's message.
    Unprocessable(String),
    /// 409 (a merge that conflicts).
    Conflict(String),
    /// 422 "Update is not a fast forward": a ref update without `force` to a commit that does
    /// not descend from where the ref points.
    NotFastForward,
}

impl From<git2::Error> for GitError {
    fn from(e: git2::Error) -> Self {
        if e.code() == git2::ErrorCode::NotFound {
            Self::NotFound(e.message().to_string())
        } else {
            Self::Unprocessable(e.message().to_string())
        }
    }
}

pub type GitResult<T> = Result<T, GitError>;

pub struct Git {
    repo: Repository,
    path: PathBuf,
}

/// A commit as the API shows it.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
    pub author: (String, String, i64),
    pub committer: (String, String, i64),
}

fn oid(sha: &str) -> GitResult<Oid> {
    Oid::from_str(sha).map_err(|_| GitError::Unprocessable(format!("{sha} is not a valid SHA")))
}

fn signature() -> GitResult<Signature<'static>> {
    Ok(Signature::now(
        "Sextant Fake GitHub",
        "fake-github@example.invalid",
    )?)
}

impl Git {
    pub fn init(path: &Path, default_branch: &str) -> Result<Self, git2::Error> {
        let repo = Repository::init_bare(path)?;
        repo.set_head(&format!("refs/heads/{default_branch}"))?;
        Ok(Self {
            repo,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn blob(&self, bytes: &[u8]) -> GitResult<String> {
        Ok(self.repo.blob(bytes)?.to_string())
    }

    pub fn blob_bytes(&self, sha: &str) -> GitResult<Vec<u8>> {
        Ok(self.repo.find_blob(oid(sha)?)?.content().to_vec())
    }

    /// A tree over `base` (a tree sha, or empty) with each `(path, mode, Some(blob))` set and each
    /// `(path, _, None)` removed.
    pub fn tree(
        &self,
        base: Option<&str>,
        entries: &[(String, String, Option<String>)],
    ) -> GitResult<String> {
        let base_tree = match base {
            Some(sha) => self
                .repo
                .find_tree(oid(sha)?)
                .map_err(|_| GitError::Unprocessable("Invalid tree info".into()))?,
            None => {
                let empty = self.repo.treebuilder(None)?.write()?;
                self.repo.find_tree(empty)?
            }
        };
        let mut update = TreeUpdateBuilder::new();
        for (path, mode, sha) in entries {
            match sha {
                Some(sha) => {
                    let id = oid(sha)?;
                    if self.repo.find_blob(id).is_err() {
                        return Err(GitError::Unprocessable(format!(
                            "tree.sha {sha} is not a valid blob"
                        )));
                    }
                    let mode = if mode == "100755" {
                        FileMode::BlobExecutable
                    } else {
                        FileMode::Blob
                    };
                    update.upsert(path.as_str(), id, mode);
                }
                None => {
                    update.remove(path.as_str());
                }
            }
        }
        Ok(update.create_updated(&self.repo, &base_tree)?.to_string())
    }

    /// `(path, mode, type, sha)` of a tree's direct entries.
    pub fn tree_entries(&self, sha: &str) -> GitResult<Vec<(String, String, String, String)>> {
        let tree = self.repo.find_tree(oid(sha)?)?;
        Ok(tree
            .iter()
            .map(|e| {
                let kind = match e.kind() {
                    Some(ObjectType::Tree) => "tree",
                    Some(ObjectType::Commit) => "commit",
                    _ => "blob",
                };
                (
                    e.name().unwrap_or_default().to_string(),
                    format!("{:06o}", e.filemode()),
                    kind.to_string(),
                    e.id().to_string(),
                )
            })
            .collect())
    }

    pub fn commit(&self, message: &str, tree: &str, parents: &[String]) -> GitResult<String> {
        let tree = self
            .repo
            .find_tree(oid(tree)?)
            .map_err(|_| GitError::Unprocessable("Tree SHA does not exist".into()))?;
        let mut ps = Vec::new();
        for p in parents {
            ps.push(self.repo.find_commit(oid(p)?).map_err(|_| {
                GitError::Unprocessable(
                    "Parent SHA does not exist or is not a commit object".into(),
                )
            })?);
        }
        let refs: Vec<&git2::Commit> = ps.iter().collect();
        let sig = signature()?;
        Ok(self
            .repo
            .commit(None, &sig, &sig, message, &tree, &refs)?
            .to_string())
    }

    pub fn commit_info(&self, sha: &str) -> GitResult<CommitInfo> {
        let c = self.repo.find_commit(oid(sha)?)?;
        let who = |s: git2::Signature| {
            (
                s.name().unwrap_or_default().to_string(),
                s.email().unwrap_or_default().to_string(),
                s.when().seconds(),
            )
        };
        Ok(CommitInfo {
            sha: c.id().to_string(),
            tree: c.tree_id().to_string(),
            parents: c.parent_ids().map(|p| p.to_string()).collect(),
            message: c.message().unwrap_or_default().to_string(),
            author: who(c.author()),
            committer: who(c.committer()),
        })
    }

    /// Where `refs/heads/<branch>` points, if it exists.
    pub fn branch(&self, branch: &str) -> Option<String> {
        self.repo
            .find_reference(&format!("refs/heads/{branch}"))
            .ok()
            .and_then(|r| r.target())
            .map(|o| o.to_string())
    }

    pub fn ref_target(&self, name: &str) -> Option<String> {
        self.repo
            .find_reference(name)
            .ok()
            .and_then(|r| r.target())
            .map(|o| o.to_string())
    }

    /// `POST /git/refs`: 422 "Reference already exists" when it does.
    pub fn create_ref(&self, name: &str, sha: &str) -> GitResult<()> {
        if !name.starts_with("refs/") || name.matches('/').count() < 2 {
            return Err(GitError::Unprocessable(
                "Reference name must start with 'refs/' and have at least two slashes.".into(),
            ));
        }
        if self.ref_target(name).is_some() {
            return Err(GitError::Unprocessable("Reference already exists".into()));
        }
        let id = oid(sha)?;
        if self.repo.find_commit(id).is_err() {
            return Err(GitError::Unprocessable("Object does not exist".into()));
        }
        self.repo
            .reference(name, id, false, "fake-github: create ref")?;
        Ok(())
    }

    /// `PATCH /git/refs/...`: without `force`, only a fast-forward.
    pub fn update_ref(&self, name: &str, sha: &str, force: bool) -> GitResult<()> {
        let Some(current) = self.ref_target(name) else {
            return Err(GitError::Unprocessable("Reference does not exist".into()));
        };
        let id = oid(sha)?;
        if self.repo.find_commit(id).is_err() {
            return Err(GitError::Unprocessable("Object does not exist".into()));
        }
        let old = oid(&current)?;
        if !force && id != old && !self.repo.graph_descendant_of(id, old)? {
            return Err(GitError::NotFastForward);
        }
        self.repo
            .reference(name, id, true, "fake-github: update ref")?;
        Ok(())
    }

    /// `refs/pull/<number>/head` at `sha`, as GitHub keeps it for every pull request (forks'
    /// included): what `git fetch origin refs/pull/<number>/head` brings.
    pub fn keep_pull_head(&self, number: u64, sha: &str) -> GitResult<()> {
        self.repo.reference(
            &format!("refs/pull/{number}/head"),
            oid(sha)?,
            true,
            "fake-github: pull request head",
        )?;
        Ok(())
    }

    pub fn delete_ref(&self, name: &str) -> GitResult<()> {
        let mut r = self
            .repo
            .find_reference(name)
            .map_err(|_| GitError::Unprocessable("Reference does not exist".into()))?;
        r.delete()?;
        Ok(())
    }

    /// A commit sha for a branch name, a full ref or a sha.
    pub fn resolve(&self, rev: &str) -> GitResult<String> {
        if let Some(sha) = self.branch(rev).or_else(|| self.ref_target(rev)) {
            return Ok(sha);
        }
        let obj = self
            .repo
            .revparse_single(rev)
            .map_err(|_| GitError::NotFound(format!("No commit found for the ref {rev}")))?;
        Ok(obj.peel_to_commit()?.id().to_string())
    }

    /// `(blob sha, bytes)` of a file at a commit.
    pub fn file_at(&self, rev: &str, path: &str) -> GitResult<(String, Vec<u8>)> {
        let commit = self.repo.find_commit(oid(&self.resolve(rev)?)?)?;
        let entry = commit
            .tree()?
            .get_path(Path::new(path))
            .map_err(|_| GitError::NotFound("Not Found".into()))?;
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|_| GitError::NotFound("Not Found".into()))?;
        Ok((entry.id().to_string(), blob.content().to_vec()))
    }

    /// A merge commit of `head` into `base` (parents base, head), or a conflict.
    pub fn merge(&self, base: &str, head: &str, message: &str) -> GitResult<String> {
        let b = self.repo.find_commit(oid(base)?)?;
        let h = self.repo.find_commit(oid(head)?)?;
        let mut index = self.repo.merge_commits(&b, &h, None)?;
        if index.has_conflicts() {
            return Err(GitError::Conflict("Merge conflict".into()));
        }
        let tree = index.write_tree_to(&self.repo)?;
        let tree = self.repo.find_tree(tree)?;
        let sig = signature()?;
        Ok(self
            .repo
            .commit(None, &sig, &sig, message, &tree, &[&b, &h])?
            .to_string())
    }

    /// Files changed between the merge base of `base`..`head` and `head` (the PR's size).
    pub fn changed_files(&self, base: &str, head: &str) -> usize {
        let count = || -> GitResult<usize> {
            let mb = self.repo.merge_base(oid(base)?, oid(head)?)?;
            let old = self.repo.find_commit(mb)?.tree()?;
            let new = self.repo.find_commit(oid(head)?)?.tree()?;
            Ok(self
                .repo
                .diff_tree_to_tree(Some(&old), Some(&new), None)?
                .deltas()
                .len())
        };
        count().unwrap_or(0)
    }
}
