//! What the agent needs of a forge, as the core defines it; `sextant-forge` (GitHub REST and Git
//! Data) is the edge that implements it, `sextant-fakes` an in-memory fake. The drift
//! pull-request loop and the promotion speak only this trait, in the core's own types, so a fake
//! or another forge fits without touching them.

pub use crate::drift::pr::Kind;
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
    /// [`Forge::advance`]: the branch moved since its head was read. Bounded: a metric label.
    pub label: &'static str,
    pub kind: ErrorKind,
}

/// [`ForgeError::label`] of a write that lost a race: the branch (or object) changed under it.
pub const CONFLICT: &str = "conflict";

impl ForgeError {
    /// A failure of the agent's own making (`label` for metrics), neither transient nor permanent.
    pub fn other(label: &'static str, message: String) -> Self {
        Self {
            message,
            label,
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

/// A commit status's state, as GitHub names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    /// The checker itself could not tell (here: a failure a later try may fix).
    Error,
}

impl StatusState {
    pub fn as_str(&self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// An open pull request as the forge lists it: what a preview needs to pick it and report on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPull {
    pub number: u64,
    pub url: String,
    /// The head commit the forge shows.
    pub head_sha: String,
    /// The head is in another repository (a fork), or in one since deleted.
    pub from_fork: bool,
}

/// A comment on a pull request or issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedComment {
    pub id: u64,
    pub url: String,
    pub body: String,
}

/// A commit status: who says it (`context`, e.g. `sextant/prod`), its state and a description
/// of at most [`CommitStatus::MAX_DESCRIPTION`] characters, as GitHub takes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitStatus {
    pub context: String,
    pub state: StatusState,
    pub description: String,
}

impl CommitStatus {
    /// GitHub refuses a longer description (422).
    pub const MAX_DESCRIPTION: usize = 140;

    /// The status, its description cut to fit (ending in `…` when cut).
    pub fn new(context: &str, state: StatusState, description: &str) -> Self {
        let description = if description.chars().count() > Self::MAX_DESCRIPTION {
            let kept: String = description
                .chars()
                .take(Self::MAX_DESCRIPTION - 1)
                .collect();
            format!("{kept}…")
        } else {
            description.to_string()
        };
        CommitStatus {
            context: context.to_string(),
            state,
            description,
        }
    }
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
    /// A status on commit `sha` (the newest per context is the one GitHub shows).
    fn set_status(
        &self,
        sha: &str,
        status: &CommitStatus,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The deployment of commit `sha` to `environment` (created the first time) gets a status
    /// saying what `status` says: `pending` as `in_progress`, the others by their name.
    fn deployment_status(
        &self,
        sha: &str,
        environment: &str,
        status: &CommitStatus,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The open pull requests into `base`, forks' included.
    fn open_pulls(&self, base: &str) -> impl Future<Output = Result<Vec<OpenPull>>> + Send;
    /// The comments on pull request or issue `number`, oldest first.
    fn comments(&self, number: u64) -> impl Future<Output = Result<Vec<PostedComment>>> + Send;
    /// A new comment on pull request or issue `number`.
    fn add_comment(
        &self,
        number: u64,
        body: &str,
    ) -> impl Future<Output = Result<PostedComment>> + Send;
    /// A new body for comment `id`.
    fn edit_comment(
        &self,
        id: u64,
        body: &str,
    ) -> impl Future<Output = Result<PostedComment>> + Send;
}

/// A deployment status's state for a commit status's (GitHub names them apart: a deployment is
/// `in_progress` where a commit is `pending`).
pub fn deployment_state(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "in_progress",
        other => other.as_str(),
    }
}

/// Opens a pull request and gives it `label` (a promotion's or a revert's: the label is how a
/// person filters them), the two writes every such proposal makes.
pub async fn open_labelled_pull<F: Forge>(
    forge: &F,
    title: &str,
    body: &str,
    head: &str,
    base: &str,
    label: &str,
) -> Result<Request> {
    let pr = forge.open_pull(title, body, head, base).await?;
    forge
        .decorate(pr.number, Kind::PullRequest, &[label.to_string()], &[], &[])
        .await?;
    Ok(pr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_description_is_cut_to_what_github_takes() {
        let long = "é".repeat(200);
        let s = CommitStatus::new("sextant/prod", StatusState::Failure, &long);
        assert_eq!(s.description.chars().count(), CommitStatus::MAX_DESCRIPTION);
        assert!(s.description.ends_with('…'));
        let short = CommitStatus::new("sextant/prod", StatusState::Success, "applied");
        assert_eq!(short.description, "applied");
        assert_eq!(StatusState::Error.as_str(), "error");
    }
}
