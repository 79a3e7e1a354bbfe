//! What the agent needs of a forge, as the core defines it; `sextant-forge` (GitHub REST and Git
//! Data) is the edge that implements it. The drift pull-request loop and the promotion speak only
//! this trait, in the core's own types, so a fake or another forge fits without touching it.

use crate::drift::pr::Kind;
use std::future::Future;

/// A request (pull request or issue) as read back from the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub number: u64,
    pub kind: Kind,
    pub url: String,
    pub body: String,
    pub open: bool,
    /// A closed pull request that was merged.
    pub merged: bool,
    /// When the forge says it was opened (RFC 3339).
    pub created_at: Option<String>,
}

/// What kind of failure a forge error is: what a loop does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A write that lost a race: the branch moved since its head was read. Re-read, re-apply.
    Conflict,
    /// Worth trying again at the loop's pace: a rate limit, a 5xx, no answer (the edge has
    /// already retried within its budget).
    Transient,
    /// The same answer however soon it is repeated, until a person changes something (the
    /// token, a permission, branch protection): 401, 403 without a rate limit, 404, 422. A loop
    /// backs off on these instead of repeating them at its pace.
    Permanent,
    /// Anything else (an answer that cannot be read, an edit that does not apply).
    Other,
}

/// A forge failure, typed by the edge; the message never holds a credential.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ForgeError {
    pub message: String,
    /// A short label for metrics (`unauthorized`, `rate_limited`, …). [`CONFLICT`] from
    /// [`Forge::advance`]: the branch moved since its head was read.
    pub label: String,
    pub kind: ErrorKind,
}

/// [`ForgeError::label`] of a write that lost a race: the branch (or object) changed under it.
pub const CONFLICT: &str = "conflict";

impl ForgeError {
    /// A failure of the agent's own making (`label` for metrics), neither transient nor permanent.
    pub fn other(label: &str, message: String) -> Self {
        Self {
            message,
            label: label.to_string(),
            kind: ErrorKind::Other,
        }
    }

    /// An edit of a values file that does not apply (the key gone, the file unreadable).
    pub fn edit(message: String) -> Self {
        Self::other("edit", message)
    }

    /// The branch moved since the caller read it ([`CONFLICT`]): re-read, re-apply, try again.
    pub fn is_conflict(&self) -> bool {
        self.label == CONFLICT
    }

    /// See [`ErrorKind::Permanent`].
    pub fn is_permanent(&self) -> bool {
        self.kind == ErrorKind::Permanent
    }
}

pub type Result<T> = std::result::Result<T, ForgeError>;

/// Which of the agent's requests a pass reads: the pull requests on its own deterministic
/// branches (found by branch, one list request each, whatever else the repository holds), and
/// the issues carrying a label (an issue has no branch; the label is matched regardless of
/// case, as GitHub names labels). The caller still checks each body's hidden marker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub branches: Vec<String>,
    pub issue_label: Option<String>,
}

pub trait Forge: Send + Sync {
    /// The agent's requests `query` names, open and closed.
    fn requests(&self, query: &Query) -> impl Future<Output = Result<Vec<Request>>> + Send;
    /// The commit a branch points at.
    fn head(&self, branch: &str) -> impl Future<Output = Result<String>> + Send;
    /// A file's bytes at a commit; `None` when it does not exist.
    fn file(
        &self,
        path: &str,
        commit: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
    /// One commit of `files` on `branch` (created or moved), its parent `base`.
    fn commit(
        &self,
        branch: &str,
        base: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> impl Future<Output = Result<String>> + Send;
    /// One commit of `files` on the shared, tracked `branch` (e.g. `main`), its parent
    /// `expected_head` (the head the caller read and edited), the branch moved only as a
    /// fast-forward, so a commit someone else made meanwhile is never lost. Returns the new
    /// commit. If the branch moved, nothing is written to it and the error
    /// [`is_conflict`](ForgeError::is_conflict) (label [`CONFLICT`]): read the head again,
    /// re-apply the edit on that head's file and call again (a bounded number of times). No
    /// other error means the branch moved, so only a conflict is worth re-applying. (GitHub's
    /// 409 carries the same label; from the Git Data API it means an empty repository, which
    /// has no head to re-read, so such a loop still ends.)
    fn advance(
        &self,
        branch: &str,
        expected_head: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> impl Future<Output = Result<String>> + Send;
    fn open_pull(
        &self,
        title: &str,
        body: &str,
        head: &str,
        base: &str,
    ) -> impl Future<Output = Result<Request>> + Send;
    /// An issue, labelled as it is created (an unlabelled one would not be found again).
    fn open_issue(
        &self,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> impl Future<Output = Result<Request>> + Send;
    /// New title and body of a request of either kind.
    fn edit(
        &self,
        number: u64,
        kind: Kind,
        title: &str,
        body: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A new body, the title left as it is.
    fn edit_body(
        &self,
        number: u64,
        kind: Kind,
        body: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Labels, and for a pull request its reviewers, and assignees.
    fn decorate(
        &self,
        number: u64,
        kind: Kind,
        labels: &[String],
        reviewers: &[String],
        assignees: &[String],
    ) -> impl Future<Output = Result<()>> + Send;
    fn comment(&self, number: u64, body: &str) -> impl Future<Output = Result<()>> + Send;
    fn close(&self, number: u64, kind: Kind) -> impl Future<Output = Result<()>> + Send;
    fn delete_branch(&self, branch: &str) -> impl Future<Output = Result<()>> + Send;
}

fn typed(e: sextant_forge::Error) -> ForgeError {
    let kind = if e.is_not_fast_forward() || matches!(e, sextant_forge::Error::Conflict { .. }) {
        ErrorKind::Conflict
    } else if e.is_transient() {
        ErrorKind::Transient
    } else if e.is_permanent() {
        ErrorKind::Permanent
    } else {
        ErrorKind::Other
    };
    ForgeError {
        label: e.metric_label().to_string(),
        message: e.to_string(),
        kind,
    }
}

impl Forge for sextant_forge::GitHub {
    async fn requests(&self, query: &Query) -> Result<Vec<Request>> {
        use sextant_forge::{PullFilter, State, StateFilter};
        let mut out: Vec<Request> = Vec::new();
        // `head=owner:branch`: GitHub answers only that branch's pull requests, open and
        // closed, so a busy repository costs nothing more and a newer PR hides nothing
        // (docs.github.com/rest/pulls/pulls#list-pull-requests, parameter `head`; with
        // `state=all` it is how r-lib/usethis#1257 finds a branch's closed pull requests).
        for branch in &query.branches {
            let pulls = self
                .list_pulls(&PullFilter {
                    state: StateFilter::All,
                    head: Some(branch.clone()),
                    ..PullFilter::default()
                })
                .await
                .map_err(typed)?;
            for p in pulls.into_iter().filter(|p| p.head_ref == *branch) {
                if out.iter().any(|r| r.number == p.number) {
                    continue;
                }
                out.push(Request {
                    number: p.number,
                    kind: Kind::PullRequest,
                    url: p.html_url,
                    body: p.body,
                    open: p.state == State::Open,
                    merged: p.merged,
                    created_at: p.created_at,
                });
            }
        }
        if let Some(label) = &query.issue_label {
            let issues = self
                .list_issues(label, StateFilter::All)
                .await
                .map_err(typed)?;
            out.extend(
                issues
                    .into_iter()
                    .filter(|i| !i.is_pull_request)
                    .filter(|i| i.labels.iter().any(|l| l.eq_ignore_ascii_case(label)))
                    .map(|i| Request {
                        number: i.number,
                        kind: Kind::Issue,
                        url: i.html_url,
                        body: i.body,
                        open: i.state == State::Open,
                        merged: false,
                        created_at: i.created_at,
                    }),
            );
        }
        Ok(out)
    }

    async fn head(&self, branch: &str) -> Result<String> {
        Ok(self.branch_head(branch).await.map_err(typed)?.sha)
    }

    async fn file(&self, path: &str, commit: &str) -> Result<Option<Vec<u8>>> {
        match self.file_at(path, commit).await {
            Ok(f) => Ok(Some(f.bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(typed(e)),
        }
    }

    async fn commit(
        &self,
        branch: &str,
        base: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String> {
        self.commit_files(branch, base, files, message)
            .await
            .map_err(typed)
    }

    async fn advance(
        &self,
        branch: &str,
        expected_head: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String> {
        self.commit_on_branch(branch, expected_head, files, message)
            .await
            .map_err(typed)
    }

    async fn open_pull(&self, title: &str, body: &str, head: &str, base: &str) -> Result<Request> {
        let p = self
            .create_pull(&sextant_forge::NewPull {
                title: title.into(),
                head: head.into(),
                base: base.into(),
                body: body.into(),
                draft: false,
            })
            .await
            .map_err(typed)?
            .into_inner();
        Ok(Request {
            number: p.number,
            kind: Kind::PullRequest,
            url: p.html_url,
            body: p.body,
            open: true,
            merged: false,
            created_at: p.created_at,
        })
    }

    async fn open_issue(&self, title: &str, body: &str, labels: &[String]) -> Result<Request> {
        let i = self
            .create_issue(&sextant_forge::NewIssue {
                title: title.into(),
                body: body.into(),
                labels: labels.to_vec(),
                assignees: Vec::new(),
            })
            .await
            .map_err(typed)?;
        Ok(Request {
            number: i.number,
            kind: Kind::Issue,
            url: i.html_url,
            body: i.body,
            open: true,
            merged: false,
            created_at: i.created_at,
        })
    }

    async fn edit(&self, number: u64, kind: Kind, title: &str, body: &str) -> Result<()> {
        let update = sextant_forge::Update {
            title: Some(title.into()),
            body: Some(body.into()),
            state: None,
        };
        match kind {
            Kind::PullRequest => self.update_pull(number, &update).await.map(drop),
            Kind::Issue => self.update_issue(number, &update).await.map(drop),
        }
        .map_err(typed)
    }

    async fn edit_body(&self, number: u64, kind: Kind, body: &str) -> Result<()> {
        let update = sextant_forge::Update {
            title: None,
            body: Some(body.into()),
            state: None,
        };
        match kind {
            Kind::PullRequest => self.update_pull(number, &update).await.map(drop),
            Kind::Issue => self.update_issue(number, &update).await.map(drop),
        }
        .map_err(typed)
    }

    async fn decorate(
        &self,
        number: u64,
        kind: Kind,
        labels: &[String],
        reviewers: &[String],
        assignees: &[String],
    ) -> Result<()> {
        if !labels.is_empty() {
            self.add_labels(number, labels).await.map_err(typed)?;
        }
        if kind == Kind::PullRequest && !reviewers.is_empty() {
            self.request_reviewers(number, reviewers, &[])
                .await
                .map_err(typed)?;
        }
        if !assignees.is_empty() {
            self.add_assignees(number, assignees).await.map_err(typed)?;
        }
        Ok(())
    }

    async fn comment(&self, number: u64, body: &str) -> Result<()> {
        self.create_comment(number, body)
            .await
            .map(drop)
            .map_err(typed)
    }

    async fn close(&self, number: u64, kind: Kind) -> Result<()> {
        let update = sextant_forge::Update {
            state: Some(sextant_forge::State::Closed),
            ..Default::default()
        };
        match kind {
            Kind::PullRequest => self.update_pull(number, &update).await.map(drop),
            Kind::Issue => self.update_issue(number, &update).await.map(drop),
        }
        .map_err(typed)
    }

    async fn delete_branch(&self, branch: &str) -> Result<()> {
        sextant_forge::GitHub::delete_branch(self, branch)
            .await
            .map(drop)
            .map_err(typed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_testkit::{FakeGitHub, Options};
    use sextant_forge::{Auth, Config, GitHub, Secret};

    const VALUES: &str = "environments/prod/values/hash-service.yaml";

    fn github(fake: &FakeGitHub) -> GitHub {
        let o = fake.options();
        let auth = Auth::Token(Secret::new(o.token.clone()));
        GitHub::new(Config::new(fake.url(), &o.owner, &o.repo, auth)).expect("a client")
    }

    fn values(digest: &str) -> Vec<(String, Vec<u8>)> {
        vec![(
            VALUES.to_string(),
            format!("image:\n  digest: {digest}\n").into_bytes(),
        )]
    }

    #[tokio::test]
    async fn advance_moves_the_tracked_branch_by_one_commit_on_the_expected_head() {
        let fake = FakeGitHub::start(Options::default()).expect("the fake GitHub");
        let gh = github(&fake);
        let head = Forge::head(&gh, "main").await.unwrap();
        let sha = gh
            .advance("main", &head, &values("sha256:new"), "promote(prod)")
            .await
            .unwrap();
        assert_eq!(Forge::head(&gh, "main").await.unwrap(), sha);
        assert_eq!(fake.parents(&sha), vec![head]);
        assert_eq!(
            Forge::file(&gh, VALUES, &sha).await.unwrap(),
            Some(values("sha256:new").remove(0).1)
        );
    }

    #[tokio::test]
    async fn advance_on_a_branch_that_moved_is_a_conflict_and_keeps_the_other_commit() {
        let fake = FakeGitHub::start(Options::default()).expect("the fake GitHub");
        let gh = github(&fake);
        let read = Forge::head(&gh, "main").await.unwrap();
        let theirs = fake
            .seed("main", &[("README.md", b"# edited\n")], "a human's commit")
            .unwrap();
        let err = gh
            .advance("main", &read, &values("sha256:new"), "promote(prod)")
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err:?}");
        assert_eq!(err.label, CONFLICT);
        assert_eq!(fake.branch_sha("main").as_deref(), Some(theirs.as_str()));
        assert_eq!(Forge::file(&gh, VALUES, "main").await.unwrap(), None);

        let other = gh
            .advance("no-such-branch", &read, &values("sha256:new"), "m")
            .await
            .unwrap_err();
        assert!(
            !other.is_conflict(),
            "a missing branch is not a race: {other:?}"
        );
    }
}
