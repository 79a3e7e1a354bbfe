//! The operations Sextant needs on one repository: Git Data (refs, blobs, trees, commits),
//! contents, pull requests, issues, comments, labels, reviewers and assignees; `commit_files`,
//! which puts several files on a branch of Sextant's in one commit, and `commit_on_branch`,
//! which does so on a shared branch as a fast-forward only.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{Answer, Config, NoObserver, Observer, Transport};
use crate::error::{Error, Result};
use crate::types::*;

/// A GitHub repository, reached over REST. Cheap to clone; clones share the write lock,
/// the ETag cache and the cached installation token.
#[derive(Clone, Debug)]
pub struct GitHub {
    t: Arc<Transport>,
}

/// `a/b c` → `a/b%20c`: each segment percent-encoded, slashes kept (refs and paths have them).
fn encode_path(s: &str) -> String {
    s.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// RFC 3986's unreserved characters pass; every other byte is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

impl GitHub {
    pub fn new(config: Config) -> Result<Self> {
        Self::with_observer(config, Arc::new(NoObserver))
    }

    pub fn with_observer(config: Config, observer: Arc<dyn Observer>) -> Result<Self> {
        Ok(Self {
            t: Arc::new(Transport::new(config, observer)?),
        })
    }

    pub fn owner(&self) -> &str {
        &self.t.owner
    }

    pub fn repo(&self) -> &str {
        &self.t.repo
    }

    async fn call(
        &self,
        op: &'static str,
        method: Method,
        rest: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<(String, Answer)> {
        let path = self.t.repo_path(rest);
        let answer = self.t.send(op, method, &path, query, body.as_ref()).await?;
        Ok((path, answer))
    }

    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        rest: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let (path, a) = self.call(op, Method::GET, rest, query, None).await?;
        a.json(op, &path)
    }

    pub(crate) async fn write<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        rest: &str,
        body: Value,
    ) -> Result<T> {
        let (path, a) = self.call(op, method, rest, &[], Some(body)).await?;
        a.json(op, &path)
    }

    // --- Git Data ---

    /// The commit a branch points at (`GET /git/ref/heads/{branch}`).
    pub async fn branch_head(&self, branch: &str) -> Result<GitRef> {
        let w: RefWire = self
            .get(
                "get_ref",
                &format!("/git/ref/heads/{}", encode_path(branch)),
                &[],
            )
            .await?;
        Ok(w.into())
    }

    pub async fn get_commit(&self, sha: &str) -> Result<Commit> {
        let w: CommitWire = self
            .get(
                "get_commit",
                &format!("/git/commits/{}", encode_segment(sha)),
                &[],
            )
            .await?;
        Ok(w.into())
    }

    /// A blob of exact bytes (sent base64, so any content survives); returns its sha.
    pub async fn create_blob(&self, bytes: &[u8]) -> Result<String> {
        let w: ShaWire = self
            .write(
                "create_blob",
                Method::POST,
                "/git/blobs",
                json!({"content": STANDARD.encode(bytes), "encoding": "base64"}),
            )
            .await?;
        Ok(w.sha)
    }

    /// A tree: `base_tree` with each `(path, blob sha)` set as a regular file (mode 100644).
    pub async fn create_tree(
        &self,
        base_tree: Option<&str>,
        entries: &[(String, String)],
    ) -> Result<String> {
        let tree: Vec<Value> = entries
            .iter()
            .map(|(path, sha)| json!({"path": path, "mode": "100644", "type": "blob", "sha": sha}))
            .collect();
        let mut body = json!({ "tree": tree });
        if let Some(base) = base_tree {
            body["base_tree"] = json!(base);
        }
        let w: ShaWire = self
            .write("create_tree", Method::POST, "/git/trees", body)
            .await?;
        Ok(w.sha)
    }

    /// A commit object (author and committer are the credentials' identity).
    pub async fn create_commit(
        &self,
        message: &str,
        tree: &str,
        parents: &[String],
    ) -> Result<Commit> {
        let w: CommitWire = self
            .write(
                "create_commit",
                Method::POST,
                "/git/commits",
                json!({"message": message, "tree": tree, "parents": parents}),
            )
            .await?;
        Ok(w.into())
    }

    /// A new branch at `sha`. If the branch exists, `AlreadyExists` with where it points now.
    pub async fn create_branch(&self, branch: &str, sha: &str) -> Result<Outcome<GitRef>> {
        let body = json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
        match self
            .write::<RefWire>("create_ref", Method::POST, "/git/refs", body)
            .await
        {
            Ok(w) => Ok(Outcome::Created(w.into())),
            Err(e) if e.is_already_exists() => {
                Ok(Outcome::AlreadyExists(self.branch_head(branch).await?))
            }
            Err(e) => Err(e),
        }
    }

    /// Move a branch to `sha`; `force` allows a non-fast-forward (Sextant's own branches).
    /// Without `force`, a branch that has moved so that `sha` no longer descends from it is
    /// [`Error::NotFastForward`].
    pub async fn update_branch(&self, branch: &str, sha: &str, force: bool) -> Result<GitRef> {
        let rest = format!("/git/refs/heads/{}", encode_path(branch));
        let w: RefWire = match self
            .write(
                "update_ref",
                Method::PATCH,
                &rest,
                json!({"sha": sha, "force": force}),
            )
            .await
        {
            Ok(w) => w,
            Err(Error::Validation { message, .. })
                if !force && message.to_ascii_lowercase().contains("not a fast forward") =>
            {
                return Err(Error::NotFastForward {
                    operation: "update_ref",
                    path: self.t.repo_path(&rest),
                    branch: branch.to_string(),
                });
            }
            Err(e) => return Err(e),
        };
        Ok(w.into())
    }

    /// Delete a branch. `false` if it was already gone (GitHub's 422 "Reference does not exist").
    pub async fn delete_branch(&self, branch: &str) -> Result<bool> {
        let r = self
            .call(
                "delete_ref",
                Method::DELETE,
                &format!("/git/refs/heads/{}", encode_path(branch)),
                &[],
                None,
            )
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(Error::Validation { message, .. })
                if message.to_ascii_lowercase().contains("does not exist") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Put `files` on `branch` in one new commit whose parent is `base_sha`: blobs, then one
    /// tree over the base commit's tree, then the commit, and only then the ref (created, or
    /// force-moved if it exists). Readers see the old commit or the new one, never a part.
    /// For Sextant's own branches; a shared branch takes [`GitHub::commit_on_branch`].
    pub async fn commit_files<P, B>(
        &self,
        branch: &str,
        base_sha: &str,
        files: &[(P, B)],
        message: &str,
    ) -> Result<String>
    where
        P: AsRef<str>,
        B: AsRef<[u8]>,
    {
        let commit = self.commit_over(base_sha, files, message).await?;
        if let Outcome::AlreadyExists(_) = self.create_branch(branch, &commit.sha).await? {
            self.update_branch(branch, &commit.sha, true).await?;
        }
        tracing::info!(branch, commit = %commit.sha, files = files.len(), "committed files to the forge");
        Ok(commit.sha)
    }

    /// Put `files` on an existing, shared `branch` (the tracked `main`) as one commit whose
    /// parent is `expected_head`, moving the branch only as a fast-forward (`force: false`), so
    /// a commit someone else made meanwhile is never lost: GitHub refuses the move and this is
    /// [`Error::NotFastForward`] (not transient: re-read the head, re-apply the change, call
    /// again). The new commit is left unreferenced then, as GitHub collects such objects.
    /// Returns the new commit, which the branch now points at.
    ///
    /// `expected_head` is what the caller read and edited; if the branch was moved *back* to an
    /// ancestor of it meanwhile (a force-push), the fast-forward succeeds and restores what was
    /// between, since the Git Data API has no compare-and-swap on refs.
    pub async fn commit_on_branch<P, B>(
        &self,
        branch: &str,
        expected_head: &str,
        files: &[(P, B)],
        message: &str,
    ) -> Result<String>
    where
        P: AsRef<str>,
        B: AsRef<[u8]>,
    {
        let commit = self.commit_over(expected_head, files, message).await?;
        self.update_branch(branch, &commit.sha, false).await?;
        tracing::info!(branch, commit = %commit.sha, parent = expected_head, files = files.len(), "committed files onto the branch");
        Ok(commit.sha)
    }

    /// Blobs, one tree over `base_sha`'s tree, and a commit on `base_sha`; no ref is touched.
    async fn commit_over<P, B>(
        &self,
        base_sha: &str,
        files: &[(P, B)],
        message: &str,
    ) -> Result<Commit>
    where
        P: AsRef<str>,
        B: AsRef<[u8]>,
    {
        let base = self.get_commit(base_sha).await?;
        let mut entries = Vec::with_capacity(files.len());
        for (path, bytes) in files {
            let sha = self.create_blob(bytes.as_ref()).await?;
            entries.push((path.as_ref().trim_start_matches('/').to_string(), sha));
        }
        let tree = self.create_tree(Some(&base.tree_sha), &entries).await?;
        self.create_commit(message, &tree, &[base.sha]).await
    }

    /// A file's bytes at a ref (branch, tag or sha). A missing file is `Error::NotFound`.
    pub async fn file_at(&self, path: &str, git_ref: &str) -> Result<FileContent> {
        const OP: &str = "get_content";
        let rest = format!("/contents/{}", encode_path(path.trim_start_matches('/')));
        let w: ContentWire = self.get(OP, &rest, &[("ref", git_ref.to_string())]).await?;
        let full = self.t.repo_path(&rest);
        if w.kind != "file" || w.encoding != "base64" {
            return Err(Error::Decode {
                operation: OP,
                path: full,
                message: format!(
                    "{path} is a {} ({} encoding), not a file's base64 content",
                    w.kind, w.encoding
                ),
            });
        }
        let clean: String = w.content.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = STANDARD.decode(clean).map_err(|e| Error::Decode {
            operation: OP,
            path: full,
            message: format!("content is not base64: {e}"),
        })?;
        Ok(FileContent {
            path: w.path,
            sha: w.sha,
            bytes,
        })
    }

    // --- Pull requests ---

    /// Pull requests matching `filter` (up to 10 pages of 100). With `head`, GitHub answers only
    /// that branch's pull requests: the way to find a request on a known branch in a busy
    /// repository, in one request whatever else is open.
    pub async fn list_pulls(&self, filter: &PullFilter) -> Result<Vec<PullRequest>> {
        let mut query = vec![
            ("state", filter.state.as_str().to_string()),
            ("per_page", "100".to_string()),
        ];
        if let Some(h) = &filter.head {
            query.push(("head", format!("{}:{h}", self.t.owner)));
        }
        if let Some(b) = &filter.base {
            query.push(("base", b.clone()));
        }
        let wires: Vec<PullWire> = self.pages("list_pulls", "/pulls", query).await?;
        Ok(wires
            .into_iter()
            .map(PullRequest::from)
            // GitHub's label names are unique regardless of case ("Sextant-Drift" is the
            // label "sextant-drift" asked for), so they are compared so.
            .filter(|p| {
                filter
                    .label
                    .as_ref()
                    .is_none_or(|l| p.labels.iter().any(|have| have.eq_ignore_ascii_case(l)))
            })
            .collect())
    }

    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        rest: &str,
        query: Vec<(&str, String)>,
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        for page in 1..=10 {
            let mut q = query.clone();
            q.push(("page", page.to_string()));
            let (path, a) = self.call(op, Method::GET, rest, &q, None).await?;
            let items: Vec<T> = a.json(op, &path)?;
            all.extend(items);
            let next = a
                .headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|l| l.contains("rel=\"next\""));
            if !next {
                break;
            }
        }
        Ok(all)
    }

    /// One pull request, with `merged` (how a closed PR tells merged from rejected).
    pub async fn get_pull(&self, number: u64) -> Result<PullRequest> {
        let w: PullWire = self
            .get("get_pull", &format!("/pulls/{number}"), &[])
            .await?;
        Ok(w.into())
    }

    /// Open a pull request; if one is already open for `head`, `AlreadyExists` with it.
    pub async fn create_pull(&self, new: &NewPull) -> Result<Outcome<PullRequest>> {
        let body = json!({"title": new.title, "head": new.head, "base": new.base, "body": new.body, "draft": new.draft});
        match self
            .write::<PullWire>("create_pull", Method::POST, "/pulls", body)
            .await
        {
            Ok(w) => Ok(Outcome::Created(w.into())),
            Err(e) if e.is_already_exists() => {
                let filter = PullFilter {
                    head: Some(new.head.clone()),
                    ..PullFilter::default()
                };
                match self.list_pulls(&filter).await?.into_iter().next() {
                    Some(p) => Ok(Outcome::AlreadyExists(p)),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Change title, body or state (`Closed` closes it without merging).
    pub async fn update_pull(&self, number: u64, update: &Update) -> Result<PullRequest> {
        let w: PullWire = self
            .write(
                "update_pull",
                Method::PATCH,
                &format!("/pulls/{number}"),
                update_body(update),
            )
            .await?;
        Ok(w.into())
    }

    pub async fn request_reviewers(
        &self,
        number: u64,
        reviewers: &[String],
        team_reviewers: &[String],
    ) -> Result<()> {
        let body = json!({"reviewers": reviewers, "team_reviewers": team_reviewers});
        self.call(
            "request_reviewers",
            Method::POST,
            &format!("/pulls/{number}/requested_reviewers"),
            &[],
            Some(body),
        )
        .await?;
        Ok(())
    }

    // --- Issues (a pull request is an issue for labels, assignees and comments) ---

    /// Add labels to an issue or pull request (labels already on it are fine); returns all its labels.
    pub async fn add_labels(&self, number: u64, labels: &[String]) -> Result<Vec<String>> {
        let w: Vec<LabelWire> = self
            .write(
                "add_labels",
                Method::POST,
                &format!("/issues/{number}/labels"),
                json!({ "labels": labels }),
            )
            .await?;
        Ok(w.into_iter().map(|l| l.name).collect())
    }

    pub async fn add_assignees(&self, number: u64, assignees: &[String]) -> Result<()> {
        self.call(
            "add_assignees",
            Method::POST,
            &format!("/issues/{number}/assignees"),
            &[],
            Some(json!({ "assignees": assignees })),
        )
        .await?;
        Ok(())
    }

    /// A status on commit `sha` (`POST /repos/{owner}/{repo}/statuses/{sha}`); `state` is one
    /// of `pending`, `success`, `failure`, `error`.
    pub async fn create_status(
        &self,
        sha: &str,
        state: &str,
        context: &str,
        description: &str,
    ) -> Result<Status> {
        let w: StatusWire = self
            .write(
                "create_status",
                Method::POST,
                &format!("/statuses/{}", encode_segment(sha)),
                json!({ "state": state, "context": context, "description": description }),
            )
            .await?;
        Ok(w.into())
    }

    pub async fn create_comment(&self, number: u64, body: &str) -> Result<Comment> {
        let w: CommentWire = self
            .write(
                "create_comment",
                Method::POST,
                &format!("/issues/{number}/comments"),
                json!({ "body": body }),
            )
            .await?;
        Ok(w.into())
    }

    /// The comments on an issue or pull request, oldest first (every page, up to 1,000).
    pub async fn list_comments(&self, number: u64) -> Result<Vec<Comment>> {
        let query = vec![("per_page", "100".to_string())];
        let wires: Vec<CommentWire> = self
            .pages(
                "list_comments",
                &format!("/issues/{number}/comments"),
                query,
            )
            .await?;
        Ok(wires.into_iter().map(Comment::from).collect())
    }

    /// A new body for comment `id` (`PATCH /issues/comments/{id}`).
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<Comment> {
        let w: CommentWire = self
            .write(
                "update_comment",
                Method::PATCH,
                &format!("/issues/comments/{id}"),
                json!({ "body": body }),
            )
            .await?;
        Ok(w.into())
    }

    pub async fn create_issue(&self, new: &NewIssue) -> Result<Issue> {
        let body = json!({"title": new.title, "body": new.body, "labels": new.labels, "assignees": new.assignees});
        let w: IssueWire = self
            .write("create_issue", Method::POST, "/issues", body)
            .await?;
        Ok(w.into())
    }

    pub async fn update_issue(&self, number: u64, update: &Update) -> Result<Issue> {
        let w: IssueWire = self
            .write(
                "update_issue",
                Method::PATCH,
                &format!("/issues/{number}"),
                update_body(update),
            )
            .await?;
        Ok(w.into())
    }

    pub async fn get_issue(&self, number: u64) -> Result<Issue> {
        let w: IssueWire = self
            .get("get_issue", &format!("/issues/{number}"), &[])
            .await?;
        Ok(w.into())
    }

    /// Issues carrying `label` (pull requests excluded).
    pub async fn list_issues(&self, label: &str, state: StateFilter) -> Result<Vec<Issue>> {
        let query = vec![
            ("labels", label.to_string()),
            ("state", state.as_str().to_string()),
            ("per_page", "100".to_string()),
        ];
        let wires: Vec<IssueWire> = self.pages("list_issues", "/issues", query).await?;
        Ok(wires
            .into_iter()
            .map(Issue::from)
            .filter(|i| !i.is_pull_request)
            .collect())
    }
}

fn update_body(u: &Update) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(t) = &u.title {
        body.insert("title".into(), json!(t));
    }
    if let Some(b) = &u.body {
        body.insert("body".into(), json!(b));
    }
    if let Some(s) = u.state {
        body.insert("state".into(), json!(s.as_str()));
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_their_slashes_and_encode_the_rest() {
        assert_eq!(
            encode_path("sextant/drift/prod/hash service"),
            "sextant/drift/prod/hash%20service"
        );
        assert_eq!(encode_segment("a?b#c"), "a%3Fb%23c");
    }

    #[test]
    fn an_update_sends_only_what_changes() {
        let u = Update {
            state: Some(State::Closed),
            ..Update::default()
        };
        assert_eq!(update_body(&u), json!({"state": "closed"}));
    }
}
