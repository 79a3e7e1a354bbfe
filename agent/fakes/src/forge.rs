//! An in-memory forge: one repository with branches and commits (each a full set of files), pull
//! requests and issues. It answers as `sextant-forge` over GitHub does (the contract test runs
//! both): requests are found by their head branch or, for issues, a label in any case; a commit
//! on a branch creates or moves it; `advance` moves a branch only from the head the caller read;
//! errors carry the edge's labels and kinds.

use sextant_core::ports::forge::{
    CommitStatus, ErrorKind, Forge, ForgeError, Kind, OpenPull, PostedComment, Query, Request,
    Result, CONFLICT,
};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// A pull request or an issue as the fake keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub number: u64,
    pub kind: Kind,
    pub title: String,
    pub body: String,
    /// A pull request's head branch and base branch.
    pub head: Option<String>,
    pub base: Option<String>,
    pub open: bool,
    pub merged: bool,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub assignees: Vec<String>,
    pub comments: Vec<String>,
}

/// One call the fake answered (or failed): the operation and its main argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: &'static str,
    pub what: String,
}

#[derive(Debug, Clone)]
struct Commit {
    files: BTreeMap<String, Vec<u8>>,
    message: String,
}

#[derive(Debug, Default)]
struct State {
    commits: BTreeMap<String, Commit>,
    branches: BTreeMap<String, String>,
    requests: Vec<Stored>,
    /// Each commit status set, in order, with its commit.
    statuses: Vec<(String, CommitStatus)>,
    /// Each deployment status, in order: commit, environment, GitHub's state, description.
    deployments: Vec<(String, String, &'static str, String)>,
    faults: VecDeque<(&'static str, ForgeError, usize)>,
    calls: Vec<Call>,
}

/// See the module's documentation. `main` starts with one empty commit.
pub struct FakeForge {
    state: Mutex<State>,
}

impl Default for FakeForge {
    fn default() -> Self {
        let forge = FakeForge {
            state: Mutex::new(State::default()),
        };
        forge.seed("main", &[]);
        forge
    }
}

fn error(kind: ErrorKind, label: &'static str, message: String) -> ForgeError {
    ForgeError {
        message,
        label,
        kind,
    }
}

fn not_found(what: &str) -> ForgeError {
    error(
        ErrorKind::Permanent,
        "not_found",
        format!("{what}: HTTP 404 Not Found"),
    )
}

/// A comment's id is its request's number and its place there: `number * 1000 + index`.
const COMMENTS_PER_REQUEST: u64 = 1000;

fn posted(number: u64, index: usize, body: &str) -> PostedComment {
    let id = number * COMMENTS_PER_REQUEST + index as u64;
    PostedComment {
        id,
        url: format!("fake://comment/{id}"),
        body: body.to_string(),
    }
}

fn validation(message: &str) -> ForgeError {
    error(
        ErrorKind::Permanent,
        "validation",
        format!("HTTP 422 Validation Failed: {message}"),
    )
}

impl FakeForge {
    pub fn new() -> Self {
        Self::default()
    }

    /// A 401 as the edge reports a refused token.
    pub fn unauthorized() -> ForgeError {
        error(
            ErrorKind::Permanent,
            "unauthorized",
            "HTTP 401 Bad credentials: the token was refused".into(),
        )
    }

    /// A 5xx after the edge's own retries.
    pub fn unavailable() -> ForgeError {
        error(
            ErrorKind::Transient,
            "server",
            "HTTP 503 Service Unavailable (gave up after the retries)".into(),
        )
    }

    /// A 422, as a ruleset refusing a branch answers.
    pub fn refused(message: &str) -> ForgeError {
        validation(message)
    }

    /// The next `times` calls of `op` (a method of [`Forge`], or `"*"` for any) fail with `e`.
    pub fn fail(&self, op: &'static str, e: ForgeError, times: usize) {
        self.state().faults.push_back((op, e, times));
    }

    /// A commit of `files` on top of `branch` (a new branch starts from `main`'s tip), as a
    /// person pushes one.
    pub fn seed(&self, branch: &str, files: &[(&str, &[u8])]) -> String {
        let mut s = self.state();
        let parent = s
            .branches
            .get(branch)
            .or_else(|| s.branches.get("main"))
            .cloned();
        let mut tree = parent
            .and_then(|p| s.commits.get(&p).map(|c| c.files.clone()))
            .unwrap_or_default();
        for (path, bytes) in files {
            tree.insert(path.to_string(), bytes.to_vec());
        }
        let sha = s.add_commit(tree, "a person's commit");
        s.branches.insert(branch.to_string(), sha.clone());
        sha
    }

    /// A reviewer merges pull request `number`: its branch's files land on its base.
    pub fn merge(&self, number: u64) -> Option<String> {
        let mut s = self.state();
        let r = s.requests.iter().find(|r| r.number == number && r.open)?;
        let (head, base) = (r.head.clone()?, r.base.clone()?);
        let files = s.files_at(&head)?;
        let mut tree = s.files_at(&base)?;
        tree.extend(files);
        let sha = s.add_commit(tree, &format!("Merge pull request #{number}"));
        s.branches.insert(base, sha.clone());
        let r = s.requests.iter_mut().find(|r| r.number == number)?;
        r.open = false;
        r.merged = true;
        Some(sha)
    }

    /// A reviewer closes request `number` without merging it.
    pub fn reject(&self, number: u64) {
        if let Some(r) = self
            .state()
            .requests
            .iter_mut()
            .find(|r| r.number == number)
        {
            r.open = false;
        }
    }

    /// Every request, in the order they were opened.
    pub fn stored(&self) -> Vec<Stored> {
        self.state().requests.clone()
    }

    /// The calls answered or failed so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// How many calls of `op` were made.
    pub fn count(&self, op: &str) -> usize {
        self.state().calls.iter().filter(|c| c.op == op).count()
    }

    /// A commit's message.
    pub fn message(&self, commit: &str) -> Option<String> {
        let s = self.state();
        let sha = s.resolve(commit)?;
        s.commits.get(sha).map(|c| c.message.clone())
    }

    /// Where a branch points, if it exists.
    pub fn branch_head(&self, branch: &str) -> Option<String> {
        self.state().branches.get(branch).cloned()
    }

    /// A file on a branch now.
    /// The statuses set on commit `sha`, oldest first.
    /// The deployment statuses of commit `sha`, in order: (environment, GitHub's state).
    pub fn deployments(&self, sha: &str) -> Vec<(String, &'static str)> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .deployments
            .iter()
            .filter(|d| d.0 == sha)
            .map(|d| (d.1.clone(), d.2))
            .collect()
    }

    pub fn statuses(&self, sha: &str) -> Vec<CommitStatus> {
        self.state()
            .statuses
            .iter()
            .filter(|(c, _)| c == sha)
            .map(|(_, s)| s.clone())
            .collect()
    }

    pub fn file_on(&self, branch: &str, path: &str) -> Option<Vec<u8>> {
        self.state().files_at(branch)?.get(path).cloned()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the call and fails it when a fault waits for it.
    fn enter(&self, op: &'static str, what: &str) -> Result<std::sync::MutexGuard<'_, State>> {
        let mut s = self.state();
        s.calls.push(Call {
            op,
            what: what.to_string(),
        });
        if let Some(i) = s.faults.iter().position(|(o, _, _)| *o == op || *o == "*") {
            let e = s.faults[i].1.clone();
            s.faults[i].2 -= 1;
            if s.faults[i].2 == 0 {
                s.faults.remove(i);
            }
            return Err(e);
        }
        Ok(s)
    }
}

impl State {
    fn add_commit(&mut self, files: BTreeMap<String, Vec<u8>>, message: &str) -> String {
        let sha = format!("{:040x}", self.commits.len() + 1);
        let message = message.to_string();
        self.commits.insert(sha.clone(), Commit { files, message });
        sha
    }

    /// The commit a branch name or a commit id names.
    fn resolve(&self, reference: &str) -> Option<&String> {
        self.branches
            .get(reference)
            .or_else(|| self.commits.get_key_value(reference).map(|(k, _)| k))
    }

    fn files_at(&self, reference: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let sha = self.resolve(reference)?;
        self.commits.get(sha).map(|c| c.files.clone())
    }

    fn commit_on(
        &mut self,
        base: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String> {
        let mut tree = self
            .files_at(base)
            .ok_or_else(|| not_found(&format!("commit {base}")))?;
        for (path, bytes) in files {
            tree.insert(path.clone(), bytes.clone());
        }
        Ok(self.add_commit(tree, message))
    }

    fn open(&mut self, mut r: Stored) -> Request {
        r.number = self.requests.len() as u64 + 1;
        self.requests.push(r.clone());
        as_request(&r)
    }

    /// Pull request or issue `number`, whichever it is.
    fn numbered(&mut self, number: u64) -> Result<&mut Stored> {
        self.requests
            .iter_mut()
            .find(|r| r.number == number)
            .ok_or_else(|| not_found(&format!("request #{number}")))
    }

    fn request_mut(&mut self, number: u64, kind: Kind) -> Result<&mut Stored> {
        self.requests
            .iter_mut()
            .find(|r| r.number == number && r.kind == kind)
            .ok_or_else(|| not_found(&format!("request #{number}")))
    }
}

fn as_request(r: &Stored) -> Request {
    let path = match r.kind {
        Kind::PullRequest => "pull",
        Kind::Issue => "issues",
    };
    Request {
        number: r.number,
        kind: r.kind,
        url: format!("https://github.com/acme/platform/{path}/{}", r.number),
        body: r.body.clone(),
        open: r.open,
        merged: r.merged,
        created_at: Some(format!("2026-01-01T00:00:{:02}Z", r.number % 60)),
    }
}

impl Forge for FakeForge {
    async fn requests(&self, query: &Query) -> Result<Vec<Request>> {
        let s = self.enter("requests", &query.branches.join(","))?;
        let pulls = query.branches.iter().flat_map(|b| {
            s.requests
                .iter()
                .filter(move |r| r.kind == Kind::PullRequest && r.head.as_deref() == Some(b))
        });
        let issues = s.requests.iter().filter(|r| {
            r.kind == Kind::Issue
                && query
                    .issue_label
                    .as_ref()
                    .is_some_and(|l| r.labels.iter().any(|x| x.eq_ignore_ascii_case(l)))
        });
        Ok(pulls.chain(issues).map(as_request).collect())
    }

    async fn head(&self, branch: &str) -> Result<String> {
        let s = self.enter("head", branch)?;
        s.branches
            .get(branch)
            .cloned()
            .ok_or_else(|| not_found(&format!("branch {branch}")))
    }

    async fn file(&self, path: &str, commit: &str) -> Result<Option<Vec<u8>>> {
        let s = self.enter("file", path)?;
        let files = s
            .files_at(commit)
            .ok_or_else(|| not_found(&format!("commit {commit}")))?;
        Ok(files.get(path).cloned())
    }

    async fn commit(
        &self,
        branch: &str,
        base: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String> {
        let mut s = self.enter("commit", branch)?;
        let sha = s.commit_on(base, files, message)?;
        s.branches.insert(branch.to_string(), sha.clone());
        Ok(sha)
    }

    async fn advance(
        &self,
        branch: &str,
        expected_head: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String> {
        let mut s = self.enter("advance", branch)?;
        let Some(head) = s.branches.get(branch).cloned() else {
            return Err(not_found(&format!("branch {branch}")));
        };
        if head != expected_head {
            return Err(error(
                ErrorKind::Conflict,
                CONFLICT,
                format!("{branch} moved since {expected_head} was read (now {head}): not a fast-forward"),
            ));
        }
        let sha = s.commit_on(&head, files, message)?;
        s.branches.insert(branch.to_string(), sha.clone());
        Ok(sha)
    }

    async fn open_pull(&self, title: &str, body: &str, head: &str, base: &str) -> Result<Request> {
        let mut s = self.enter("open_pull", head)?;
        if !s.branches.contains_key(head) || !s.branches.contains_key(base) {
            return Err(validation(&format!(
                "head {head} or base {base} is not a branch"
            )));
        }
        // GitHub answers 422 "A pull request already exists"; the edge reads that as success
        // and returns the one open (the contract test holds both to it).
        let open = s
            .requests
            .iter()
            .find(|r| r.open && r.head.as_deref() == Some(head) && r.base.as_deref() == Some(base));
        if let Some(r) = open {
            return Ok(as_request(r));
        }
        if s.branches.get(head) == s.branches.get(base) {
            return Err(validation(&format!("No commits between {base} and {head}")));
        }
        Ok(s.open(Stored {
            number: 0,
            kind: Kind::PullRequest,
            title: title.into(),
            body: body.into(),
            head: Some(head.into()),
            base: Some(base.into()),
            open: true,
            merged: false,
            labels: Vec::new(),
            reviewers: Vec::new(),
            assignees: Vec::new(),
            comments: Vec::new(),
        }))
    }

    async fn open_issue(&self, title: &str, body: &str, labels: &[String]) -> Result<Request> {
        let mut s = self.enter("open_issue", title)?;
        Ok(s.open(Stored {
            number: 0,
            kind: Kind::Issue,
            title: title.into(),
            body: body.into(),
            head: None,
            base: None,
            open: true,
            merged: false,
            labels: labels.to_vec(),
            reviewers: Vec::new(),
            assignees: Vec::new(),
            comments: Vec::new(),
        }))
    }

    async fn edit(&self, number: u64, kind: Kind, title: &str, body: &str) -> Result<()> {
        let mut s = self.enter("edit", &number.to_string())?;
        let r = s.request_mut(number, kind)?;
        r.title = title.into();
        r.body = body.into();
        Ok(())
    }

    async fn edit_body(&self, number: u64, kind: Kind, body: &str) -> Result<()> {
        let mut s = self.enter("edit_body", &number.to_string())?;
        s.request_mut(number, kind)?.body = body.into();
        Ok(())
    }

    async fn decorate(
        &self,
        number: u64,
        kind: Kind,
        labels: &[String],
        reviewers: &[String],
        assignees: &[String],
    ) -> Result<()> {
        let mut s = self.enter("decorate", &number.to_string())?;
        let r = s.request_mut(number, kind)?;
        for l in labels {
            if !r.labels.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                r.labels.push(l.clone());
            }
        }
        if kind == Kind::PullRequest {
            r.reviewers.extend(reviewers.iter().cloned());
        }
        r.assignees.extend(assignees.iter().cloned());
        Ok(())
    }

    async fn comment(&self, number: u64, body: &str) -> Result<()> {
        let mut s = self.enter("comment", &number.to_string())?;
        let r = s.numbered(number)?;
        r.comments.push(body.into());
        Ok(())
    }

    async fn close(&self, number: u64, kind: Kind) -> Result<()> {
        let mut s = self.enter("close", &number.to_string())?;
        s.request_mut(number, kind)?.open = false;
        Ok(())
    }

    async fn delete_branch(&self, branch: &str) -> Result<()> {
        let mut s = self.enter("delete_branch", branch)?;
        s.branches.remove(branch);
        Ok(())
    }

    async fn deployment_status(
        &self,
        sha: &str,
        environment: &str,
        status: &CommitStatus,
    ) -> Result<()> {
        let mut s = self.enter("deployment_status", sha)?;
        // GitHub: 422 "No ref found for: …" for a commit it does not hold.
        if !s.commits.contains_key(sha) {
            return Err(validation(&format!("No ref found for: {sha}")));
        }
        s.deployments.push((
            sha.to_string(),
            environment.to_string(),
            sextant_core::ports::forge::deployment_state(status.state),
            status.description.clone(),
        ));
        Ok(())
    }

    async fn open_pulls(&self, base: &str) -> Result<Vec<OpenPull>> {
        let s = self.enter("open_pulls", base)?;
        Ok(s.requests
            .iter()
            .filter(|r| r.kind == Kind::PullRequest && r.open && r.base.as_deref() == Some(base))
            .filter_map(|r| {
                let head = s.branches.get(r.head.as_deref()?)?;
                Some(OpenPull {
                    number: r.number,
                    url: format!("fake://pull/{}", r.number),
                    head_sha: head.clone(),
                    from_fork: false,
                })
            })
            .collect())
    }

    async fn comments(&self, number: u64) -> Result<Vec<PostedComment>> {
        let mut s = self.enter("comments", &number.to_string())?;
        let r = s.numbered(number)?;
        Ok((0..r.comments.len())
            .map(|i| posted(number, i, &r.comments[i]))
            .collect())
    }

    async fn add_comment(&self, number: u64, body: &str) -> Result<PostedComment> {
        let mut s = self.enter("add_comment", &number.to_string())?;
        let r = s.numbered(number)?;
        r.comments.push(body.into());
        Ok(posted(number, r.comments.len() - 1, body))
    }

    async fn edit_comment(&self, id: u64, body: &str) -> Result<PostedComment> {
        let mut s = self.enter("edit_comment", &id.to_string())?;
        let (number, index) = (id / COMMENTS_PER_REQUEST, id % COMMENTS_PER_REQUEST);
        let comment = s
            .requests
            .iter_mut()
            .find(|r| r.number == number)
            .and_then(|r| r.comments.get_mut(index as usize))
            .ok_or_else(|| not_found(&format!("comment {id}")))?;
        *comment = body.into();
        Ok(posted(number, index as usize, body))
    }

    async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<()> {
        let mut s = self.enter("set_status", sha)?;
        // GitHub: 422 "No commit found for SHA: …" for a commit it does not hold.
        if !s.commits.contains_key(sha) {
            return Err(validation(&format!("No commit found for SHA: {sha}")));
        }
        s.statuses.push((sha.to_string(), status.clone()));
        Ok(())
    }
}
