//! The fake's repository state beside the git data: pull requests, issues, comments, labels,
//! branch protection, issued App tokens and the primary rate limit. Plain data tests can read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::git::Git;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub id: u64,
    /// As it was created: `Sextant-Drift` stays so when asked for as `sextant-drift`.
    pub name: String,
    pub color: String,
    /// `None` answers `null`, as GitHub does for a label made without one.
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub base_sha: String,
    pub open: bool,
    pub draft: bool,
    pub merged_at: Option<i64>,
    pub merge_commit_sha: Option<String>,
    pub closed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub author: String,
    pub assignees: Vec<String>,
    pub reviewers: Vec<String>,
    pub labels: Vec<String>,
    pub comments: u64,
    pub changed_files: usize,
    /// The owner of the fork the head lives in; `None` for a branch of this repository.
    pub fork: Option<String>,
    /// Where `refs/pull/<number>/head` was last written to (written again only when the head
    /// moves: a repository with thousands of pull requests stays fast).
    pub pull_ref: Option<String>,
}

impl PullRequest {
    pub fn merged(&self) -> bool {
        self.merged_at.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub open: bool,
    pub closed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub author: String,
    pub assignees: Vec<String>,
    pub labels: Vec<String>,
    pub comments: u64,
    /// `Some(merged_at)` when this "issue" is the issue side of a pull request.
    pub pull_merged_at: Option<Option<i64>>,
}

impl From<&PullRequest> for Issue {
    fn from(p: &PullRequest) -> Self {
        Self {
            number: p.number,
            title: p.title.clone(),
            body: p.body.clone(),
            open: p.open,
            closed_at: p.closed_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
            author: p.author.clone(),
            assignees: p.assignees.clone(),
            labels: p.labels.clone(),
            comments: p.comments,
            pull_merged_at: Some(p.merged_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    /// The issue or pull request number.
    pub issue: u64,
    pub body: String,
    pub author: String,
    pub at: i64,
}

/// A commit status as the fake keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: String,
    pub at: i64,
}

/// A deployment, with its statuses oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    /// The ref it was asked for (a sha, a branch or a tag).
    pub reference: String,
    pub environment: String,
    pub description: Option<String>,
    pub creator: String,
    pub at: i64,
    pub statuses: Vec<DeploymentStatus>,
}

/// One status of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub id: u64,
    pub state: String,
    pub description: String,
    pub creator: String,
    pub at: i64,
}

/// The primary rate limit: `remaining` of `limit` until `reset` (unix seconds), then refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: i64,
    pub remaining: i64,
    pub reset: i64,
}

pub(crate) struct State {
    pub git: Git,
    pub default_branch: String,
    pub pulls: BTreeMap<u64, PullRequest>,
    pub issues: BTreeMap<u64, Issue>,
    pub next_number: u64,
    /// By lowercased name: GitHub's label names are unique regardless of case.
    pub labels: BTreeMap<String, Label>,
    pub comments: Vec<Comment>,
    /// Commit statuses, oldest first.
    pub statuses: Vec<StatusRecord>,
    /// Deployments, oldest first.
    pub deployments: Vec<Deployment>,
    pub protected: BTreeSet<String>,
    /// Installation token → expiry (unix seconds).
    pub tokens: HashMap<String, i64>,
    pub tokens_minted: u64,
    pub rate: RateLimit,
}

impl State {
    pub fn new(git: Git, default_branch: String, rate: RateLimit) -> Self {
        Self {
            git,
            default_branch,
            pulls: BTreeMap::new(),
            issues: BTreeMap::new(),
            next_number: 1,
            labels: BTreeMap::new(),
            comments: Vec::new(),
            statuses: Vec::new(),
            deployments: Vec::new(),
            protected: BTreeSet::new(),
            tokens: HashMap::new(),
            tokens_minted: 0,
            rate,
        }
    }

    pub fn take_number(&mut self) -> u64 {
        let n = self.next_number;
        self.next_number += 1;
        n
    }

    /// The label objects for names, creating labels the repository lacks (as GitHub does when
    /// labelling). A name matches a label whatever its case, and the label keeps its own:
    /// adding `sextant-drift` where `Sextant-Drift` exists attaches `Sextant-Drift`. GitHub's
    /// label names are unique regardless of case (rust-lang/triagebot#1721, intuit/auto#548).
    pub fn ensure_labels(&mut self, names: &[String]) -> Vec<Label> {
        names
            .iter()
            .map(|name| {
                let next = self.labels.len() as u64 + 1;
                self.labels
                    .entry(name.to_lowercase())
                    .or_insert_with(|| Label {
                        id: 9_000 + next,
                        name: name.clone(),
                        color: "ededed".into(),
                        description: None,
                    })
                    .clone()
            })
            .collect()
    }

    /// The label a name means, whatever its case.
    pub fn label(&self, name: &str) -> Option<&Label> {
        self.labels.get(&name.to_lowercase())
    }

    pub fn labels_of(&self, names: &[String]) -> Vec<Label> {
        names
            .iter()
            .filter_map(|n| self.label(n).cloned())
            .collect()
    }

    /// `names` as the labels the repository has (created where missing), each once.
    pub fn canonical_labels(&mut self, names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in self.ensure_labels(names) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&l.name)) {
                out.push(l.name);
            }
        }
        out
    }

    /// A PR's head sha follows its branch while it is open (as on GitHub).
    /// So does `refs/pull/<number>/head`.
    pub fn refresh_heads(&mut self) {
        for p in self.pulls.values_mut().filter(|p| p.open) {
            if let Some(sha) = self.git.branch(&p.head) {
                p.head_sha = sha;
            }
            if let Some(sha) = self.git.branch(&p.base) {
                p.base_sha = sha;
            }
            if p.pull_ref.as_deref() != Some(p.head_sha.as_str())
                && self.git.keep_pull_head(p.number, &p.head_sha).is_ok()
            {
                p.pull_ref = Some(p.head_sha.clone());
            }
        }
    }

    pub fn is_protected(&self, ref_name: &str) -> bool {
        ref_name
            .strip_prefix("refs/heads/")
            .is_some_and(|b| self.protected.contains(b))
    }
}
