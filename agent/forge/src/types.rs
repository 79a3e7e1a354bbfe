//! Plain data the operations return and take: no reqwest or serde_json types leak out, so the
//! core's `Forge` adapter maps them field by field.

use serde::Deserialize;

/// The result of a create that GitHub may answer with 422 "already exists": both carry the
/// object (for `AlreadyExists`, the one that was already there, read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    Created(T),
    AlreadyExists(T),
}

impl<T> Outcome<T> {
    pub fn created(&self) -> bool {
        matches!(self, Self::Created(_))
    }

    pub fn into_inner(self) -> T {
        match self {
            Self::Created(t) | Self::AlreadyExists(t) => t,
        }
    }

    pub fn get(&self) -> &T {
        match self {
            Self::Created(t) | Self::AlreadyExists(t) => t,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Open,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// Which pull requests or issues a list asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Open,
    Closed,
    All,
}

impl StateFilter {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::All => "all",
        }
    }
}

/// A git ref: `refs/heads/<branch>` and the commit it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    pub name: String,
    pub sha: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub tree_sha: String,
    pub parents: Vec<String>,
    pub message: String,
}

/// A file read at a ref: its blob sha and exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub path: String,
    pub sha: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub html_url: String,
    pub state: State,
    /// Merged (a closed PR that is not merged was rejected).
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub head_ref: String,
    pub head_sha: String,
    /// The head's repository, `owner/name`: another than this one for a fork's pull request,
    /// `None` when that fork was deleted.
    pub head_repo: Option<String>,
    pub base_ref: String,
    pub title: String,
    /// Empty when GitHub has none (`null`).
    pub body: String,
    pub labels: Vec<String>,
    /// When it was opened (RFC 3339), as GitHub says.
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub html_url: String,
    pub state: State,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// GitHub's issue list includes pull requests; this says which.
    pub is_pull_request: bool,
    /// When it was opened (RFC 3339), as GitHub says.
    pub created_at: Option<String>,
}

/// A commit status as GitHub keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub id: u64,
    pub state: String,
    pub context: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub html_url: String,
    pub body: String,
}

/// A new pull request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPull {
    pub title: String,
    /// The branch with the change (in this repository).
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    pub body: String,
    pub draft: bool,
}

/// Fields to change on a pull request or issue; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub title: Option<String>,
    pub body: Option<String>,
    pub state: Option<State>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewIssue {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
}

/// Which pull requests to list. `label` is filtered here, regardless of case as GitHub names
/// labels (its pulls list has no label filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFilter {
    pub state: StateFilter,
    /// A branch of this repository (sent as `head=owner:branch`).
    pub head: Option<String>,
    pub base: Option<String>,
    pub label: Option<String>,
}

impl Default for PullFilter {
    fn default() -> Self {
        Self {
            state: StateFilter::Open,
            head: None,
            base: None,
            label: None,
        }
    }
}

// GitHub's shapes, read leniently: only what the types above need.

#[derive(Deserialize)]
pub(crate) struct RefWire {
    #[serde(rename = "ref")]
    pub name: String,
    pub object: ShaWire,
}

impl From<RefWire> for GitRef {
    fn from(w: RefWire) -> Self {
        Self {
            name: w.name,
            sha: w.object.sha,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ShaWire {
    pub sha: String,
}

#[derive(Deserialize)]
pub(crate) struct CommitWire {
    pub sha: String,
    pub tree: ShaWire,
    #[serde(default)]
    pub parents: Vec<ShaWire>,
    #[serde(default)]
    pub message: String,
}

impl From<CommitWire> for Commit {
    fn from(w: CommitWire) -> Self {
        Self {
            sha: w.sha,
            tree_sha: w.tree.sha,
            parents: w.parents.into_iter().map(|p| p.sha).collect(),
            message: w.message,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ContentWire {
    pub path: String,
    pub sha: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub encoding: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Deserialize)]
pub(crate) struct LabelWire {
    pub name: String,
}

#[derive(Deserialize)]
pub(crate) struct BranchWire {
    #[serde(rename = "ref")]
    pub name: String,
    pub sha: String,
    /// `null` when the head's repository (a fork) was deleted.
    #[serde(default)]
    pub repo: Option<RepoNameWire>,
}

#[derive(Deserialize)]
pub(crate) struct RepoNameWire {
    pub full_name: String,
}

#[derive(Deserialize)]
pub(crate) struct PullWire {
    pub number: u64,
    pub html_url: String,
    pub state: State,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub head: BranchWire,
    pub base: BranchWire,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub labels: Vec<LabelWire>,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl From<PullWire> for PullRequest {
    fn from(w: PullWire) -> Self {
        Self {
            number: w.number,
            html_url: w.html_url,
            state: w.state,
            merged: w.merged.unwrap_or(false) || w.merged_at.is_some(),
            merge_commit_sha: w.merge_commit_sha,
            head_ref: w.head.name,
            head_sha: w.head.sha,
            head_repo: w.head.repo.map(|r| r.full_name),
            base_ref: w.base.name,
            title: w.title,
            body: w.body.unwrap_or_default(),
            labels: w.labels.into_iter().map(|l| l.name).collect(),
            created_at: w.created_at,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct IssueWire {
    pub number: u64,
    pub html_url: String,
    pub state: State,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub labels: Vec<LabelWire>,
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl From<IssueWire> for Issue {
    fn from(w: IssueWire) -> Self {
        Self {
            number: w.number,
            html_url: w.html_url,
            state: w.state,
            title: w.title,
            body: w.body.unwrap_or_default(),
            labels: w.labels.into_iter().map(|l| l.name).collect(),
            is_pull_request: w.pull_request.is_some(),
            created_at: w.created_at,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct StatusWire {
    pub id: u64,
    pub state: String,
    pub context: String,
    #[serde(default)]
    pub description: Option<String>,
}

impl From<StatusWire> for Status {
    fn from(w: StatusWire) -> Self {
        Self {
            id: w.id,
            state: w.state,
            context: w.context,
            description: w.description.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CommentWire {
    pub id: u64,
    pub html_url: String,
    #[serde(default)]
    pub body: Option<String>,
}

impl From<CommentWire> for Comment {
    fn from(w: CommentWire) -> Self {
        Self {
            id: w.id,
            html_url: w.html_url,
            body: w.body.unwrap_or_default(),
        }
    }
}
