//! `FakeGitHub`: options, the server thread and runtime, and the driver API tests use (seed
//! files, merge and close pull requests, protect branches, faults, rate limits, inspection).
//! The routes themselves are in `routes.rs`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::faults::{Fault, Faults, RequestRecord};
use crate::git::{Git, GitError};
use crate::shared::{lock, merge_pull, Shared};
use crate::state::{Comment, Issue, PullRequest, RateLimit, State};
use crate::time::now;

pub use crate::options::{AppOptions, Options, TEST_APP_KEY_PEM};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Serve(#[from] test_serving::Error),
    #[error("cannot create the bare repository: {0}")]
    Repository(String),
    #[error("the App key is not a usable RSA PEM: {0}")]
    AppKey(String),
    #[error("{0}")]
    Git(String),
    #[error("no pull request #{0}")]
    NoPull(u64),
}

impl From<GitError> for Error {
    fn from(e: GitError) -> Self {
        Self::Git(format!("{e:?}"))
    }
}

/// A running fake GitHub; it stops (and deletes its repository) when dropped.
pub struct FakeGitHub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    serving: test_serving::Serving,
    dir: tempfile::TempDir,
}

fn public_key(pem: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| Error::AppKey(e.to_string()))?;
    let pair = if pem.contains("BEGIN RSA PRIVATE KEY") {
        ring::signature::RsaKeyPair::from_der(&der)
    } else {
        ring::signature::RsaKeyPair::from_pkcs8(&der)
    }
    .map_err(|e| Error::AppKey(e.to_string()))?;
    use ring::signature::KeyPair;
    Ok(pair.public_key().as_ref().to_vec())
}

impl FakeGitHub {
    /// Create the bare repository (with one commit on the default branch), bind, and serve on
    /// a dedicated thread, so both sync and async tests can use it.
    pub fn start(options: Options) -> Result<Self, Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::Repository(e.to_string()))?;
        let git = Git::init(
            &dir.path().join(format!("{}.git", options.repo)),
            &options.default_branch,
        )
        .map_err(|e| Error::Repository(e.to_string()))?;
        let app_public_key = options
            .app
            .as_ref()
            .map(|a| public_key(&a.key_pem))
            .transpose()?;
        let bound = test_serving::Bound::bind(options.addr)?;
        let addr = bound.addr();
        let rate = RateLimit {
            limit: options.rate_limit,
            remaining: options.rate_limit,
            reset: now() + 3600,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(git, options.default_branch.clone(), rate)),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(Vec::new()),
            options,
            app_public_key,
            url: format!("http://{addr}"),
            writes_in_flight: Default::default(),
            max_writes_in_flight: Default::default(),
        });
        let serving = shared.clone();
        let serving = bound.serve("fake-github", move || crate::routes::router(serving))?;
        let fake = Self {
            addr,
            shared,
            serving,
            dir,
        };
        let branch = fake.shared.options.default_branch.clone();
        fake.seed(
            &branch,
            &[("README.md", b"# deploy\n".as_slice())],
            "initial commit",
        )?;
        tracing::info!(%addr, "fake GitHub serving");
        Ok(fake)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API root as github.com has it (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.shared.url.clone()
    }

    /// The same API under GitHub Enterprise Server's prefix (`http://127.0.0.1:PORT/api/v3`).
    pub fn enterprise_url(&self) -> String {
        format!("{}/api/v3", self.shared.url)
    }

    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// The bare repository on disk.
    pub fn repo_path(&self) -> std::path::PathBuf {
        lock(&self.shared.state).git.path().to_path_buf()
    }

    /// `file:///…/deploy.git`, for `git clone` or the agent's Git source.
    pub fn clone_url(&self) -> String {
        format!("file://{}", self.repo_path().display())
    }

    /// The scratch folder the repository lives in (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Commit `files` on top of `branch` (creating it from the default branch's tip, or as a
    /// root commit in an empty repository) and move the branch: test setup, no HTTP.
    pub fn seed(
        &self,
        branch: &str,
        files: &[(&str, &[u8])],
        message: &str,
    ) -> Result<String, Error> {
        let mut st = lock(&self.shared.state);
        let default = st.default_branch.clone();
        let parent = st.git.branch(branch).or_else(|| st.git.branch(&default));
        let base_tree = parent
            .as_ref()
            .map(|p| st.git.commit_info(p))
            .transpose()?
            .map(|c| c.tree);
        let mut entries = Vec::new();
        for (path, bytes) in files {
            entries.push((
                path.to_string(),
                "100644".to_string(),
                Some(st.git.blob(bytes)?),
            ));
        }
        let tree = st.git.tree(base_tree.as_deref(), &entries)?;
        let parents: Vec<String> = parent.into_iter().collect();
        let sha = st.git.commit(message, &tree, &parents)?;
        let name = format!("refs/heads/{branch}");
        if st.git.ref_target(&name).is_some() {
            st.git.update_ref(&name, &sha, true)?;
        } else {
            st.git.create_ref(&name, &sha)?;
        }
        st.refresh_heads();
        Ok(sha)
    }

    /// Where a branch points, if it exists.
    pub fn branch_sha(&self, branch: &str) -> Option<String> {
        lock(&self.shared.state).git.branch(branch)
    }

    /// A file's exact bytes at a branch or sha.
    pub fn file(&self, rev: &str, path: &str) -> Option<Vec<u8>> {
        lock(&self.shared.state)
            .git
            .file_at(rev, path)
            .ok()
            .map(|(_, b)| b)
    }

    /// Parents of a commit.
    pub fn parents(&self, sha: &str) -> Vec<String> {
        lock(&self.shared.state)
            .git
            .commit_info(sha)
            .map(|c| c.parents)
            .unwrap_or_default()
    }

    /// Merge a pull request as GitHub's merge button does: a real merge commit (parents: base
    /// tip, head tip) on the base branch; the PR is then merged and closed. Returns the commit.
    /// Also served over HTTP as GitHub's `PUT /repos/{owner}/{repo}/pulls/{n}/merge`.
    pub fn merge(&self, number: u64) -> Result<String, Error> {
        let mut st = lock(&self.shared.state);
        st.refresh_heads();
        let p = st
            .pulls
            .get(&number)
            .cloned()
            .ok_or(Error::NoPull(number))?;
        if !p.open {
            return Err(Error::Git(format!("pull request #{number} is not open")));
        }
        Ok(merge_pull(&mut st, &self.shared.options.owner, &p)?)
    }

    /// Close a pull request without merging (a reviewer's rejection).
    pub fn close(&self, number: u64) -> Result<(), Error> {
        let mut st = lock(&self.shared.state);
        let pr = st.pulls.get_mut(&number).ok_or(Error::NoPull(number))?;
        pr.open = false;
        pr.closed_at = Some(now());
        pr.updated_at = now();
        Ok(())
    }

    /// Protect a branch: updates, force pushes and deletes of it are refused as GitHub does.
    pub fn protect(&self, branch: &str) {
        lock(&self.shared.state)
            .protected
            .insert(branch.to_string());
    }

    pub fn unprotect(&self, branch: &str) {
        lock(&self.shared.state).protected.remove(branch);
    }

    pub fn pulls(&self) -> Vec<PullRequest> {
        let mut st = lock(&self.shared.state);
        st.refresh_heads();
        st.pulls.values().cloned().collect()
    }

    pub fn pull(&self, number: u64) -> Option<PullRequest> {
        self.pulls().into_iter().find(|p| p.number == number)
    }

    /// Issues proper (not pull requests).
    pub fn issues(&self) -> Vec<Issue> {
        lock(&self.shared.state).issues.values().cloned().collect()
    }

    /// The repository's labels (created on first use, as GitHub does when labelling).
    pub fn labels(&self) -> Vec<crate::state::Label> {
        lock(&self.shared.state).labels.values().cloned().collect()
    }

    /// Create a label as a person would (a team colouring its labels): test setup, no HTTP.
    /// A name that exists in any case is left as it is.
    pub fn create_label(&self, name: &str, color: &str) -> crate::state::Label {
        let mut st = lock(&self.shared.state);
        let mut l = st.ensure_labels(&[name.to_string()]).remove(0);
        if l.name == name {
            l.color = color.to_string();
            st.labels.insert(name.to_lowercase(), l.clone());
        }
        l
    }

    /// Open a pull request someone else made: a branch `head` at the default branch's tip and
    /// an open pull request from it, with `labels` (test setup for busy repositories, no HTTP).
    pub fn seed_pull(&self, head: &str, title: &str, labels: &[&str]) -> Result<u64, Error> {
        let mut st = lock(&self.shared.state);
        let base = st.default_branch.clone();
        let sha = st
            .git
            .branch(&base)
            .ok_or_else(|| Error::Git(format!("no branch {base}")))?;
        let name = format!("refs/heads/{head}");
        if st.git.ref_target(&name).is_none() {
            st.git.create_ref(&name, &sha)?;
        }
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        let labels = st.canonical_labels(&labels);
        let n = opened(&mut st, title, head, sha, "someone-else")?;
        if let Some(p) = st.pulls.get_mut(&n) {
            p.labels = labels;
        }
        Ok(n)
    }

    /// Open a pull request from a fork owned by `fork_owner`: `files` committed on top of the
    /// default branch, kept only at `refs/pull/<n>/head` (the fork's branch is not in this
    /// repository, as on GitHub). Test setup, no HTTP.
    pub fn seed_fork_pull(
        &self,
        fork_owner: &str,
        files: &[(&str, &[u8])],
        title: &str,
    ) -> Result<u64, Error> {
        let scratch = format!("fake-github/fork/{fork_owner}");
        let sha = self.seed(&scratch, files, title)?;
        let mut st = lock(&self.shared.state);
        st.git.delete_ref(&format!("refs/heads/{scratch}"))?;
        let n = opened(&mut st, title, "patch-1", sha, fork_owner)?;
        if let Some(p) = st.pulls.get_mut(&n) {
            p.changed_files = files.len();
            p.fork = Some(fork_owner.to_string());
        }
        st.refresh_heads();
        Ok(n)
    }

    /// Deployments, oldest first, each with its statuses.
    pub fn deployments(&self) -> Vec<crate::state::Deployment> {
        lock(&self.shared.state).deployments.clone()
    }

    /// Comments on an issue or pull request, oldest first.
    pub fn comments(&self, number: u64) -> Vec<Comment> {
        lock(&self.shared.state)
            .comments
            .iter()
            .filter(|c| c.issue == number)
            .cloned()
            .collect()
    }

    /// Every request served so far, in arrival order.
    /// The statuses set on commit `sha`, oldest first.
    pub fn statuses(&self, sha: &str) -> Vec<crate::state::StatusRecord> {
        lock(&self.shared.state)
            .statuses
            .iter()
            .filter(|s| s.sha == sha)
            .cloned()
            .collect()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).add(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Set the primary rate limit: `remaining` requests until `reset` (unix seconds).
    pub fn set_rate_limit(&self, remaining: i64, reset: i64) {
        let mut st = lock(&self.shared.state);
        st.rate.remaining = remaining;
        st.rate.reset = reset;
    }

    pub fn rate_limit(&self) -> RateLimit {
        lock(&self.shared.state).rate
    }

    /// The most write requests (POST, PATCH, PUT, DELETE) the fake ever served at once.
    pub fn max_concurrent_writes(&self) -> usize {
        self.shared
            .max_writes_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many installation tokens the App exchange has minted.
    pub fn tokens_minted(&self) -> u64 {
        lock(&self.shared.state).tokens_minted
    }

    /// Revoke every installation token (the next use answers 401).
    pub fn revoke_tokens(&self) {
        lock(&self.shared.state).tokens.clear();
    }

    pub fn stop(mut self) {
        self.serving.stop();
    }
}

/// A pull request `author` opens from `head` (at `head_sha`) into the default branch: open, no
/// labels, reviewers or comments yet; returns its number.
fn opened(
    st: &mut crate::state::State,
    title: &str,
    head: &str,
    head_sha: String,
    author: &str,
) -> Result<u64, Error> {
    let base = st.default_branch.clone();
    let base_sha = st
        .git
        .branch(&base)
        .ok_or_else(|| Error::Git(format!("no branch {base}")))?;
    let n = st.take_number();
    let t = now();
    st.pulls.insert(
        n,
        PullRequest {
            number: n,
            title: title.to_string(),
            body: Some(format!("{title}\n")),
            head: head.to_string(),
            head_sha,
            base,
            base_sha,
            open: true,
            draft: false,
            merged_at: None,
            merge_commit_sha: None,
            closed_at: None,
            created_at: t,
            updated_at: t,
            author: author.to_string(),
            assignees: Vec::new(),
            reviewers: Vec::new(),
            labels: Vec::new(),
            comments: 0,
            changed_files: 0,
            fork: None,
            pull_ref: None,
        },
    );
    Ok(n)
}
