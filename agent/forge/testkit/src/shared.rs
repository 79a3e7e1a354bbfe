//! What the fake GitHub's server and routes share: the state behind its lock, the faults, the
//! request log, and the one merge both the REST route and the test helper perform.

use std::sync::{Mutex, MutexGuard};

use crate::faults::{Faults, RequestRecord};
use crate::git::GitError;
use crate::options::Options;
use crate::state::{PullRequest, State};
use crate::time::now;

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub options: Options,
    /// The App's public key (DER `RSAPublicKey`), to verify JWTs.
    pub app_public_key: Option<Vec<u8>>,
    pub url: String,
    /// Writes being served now, and the most ever served at once.
    pub writes_in_flight: std::sync::atomic::AtomicUsize,
    pub max_writes_in_flight: std::sync::atomic::AtomicUsize,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The merge itself, for `FakeGitHub::merge` and the merge route, which have found `p` open
/// (heads refreshed): the merge commit on the base branch, the pull request marked merged.
pub(crate) fn merge_pull(st: &mut State, owner: &str, p: &PullRequest) -> Result<String, GitError> {
    let base = st
        .git
        .branch(&p.base)
        .ok_or_else(|| GitError::Unprocessable(format!("no base branch {}", p.base)))?;
    let message = format!(
        "Merge pull request #{} from {owner}/{}\n\n{}",
        p.number, p.head, p.title
    );
    let sha = st.git.merge(&base, &p.head_sha, &message)?;
    st.git
        .update_ref(&format!("refs/heads/{}", p.base), &sha, true)?;
    let t = now();
    if let Some(pr) = st.pulls.get_mut(&p.number) {
        pr.open = false;
        pr.merged_at = Some(t);
        pr.closed_at = Some(t);
        pr.updated_at = t;
        pr.merge_commit_sha = Some(sha.clone());
    }
    Ok(sha)
}
