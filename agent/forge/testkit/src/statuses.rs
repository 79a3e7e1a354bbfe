//! Commit statuses (`POST /repos/{owner}/{repo}/statuses/{sha}`): kept per commit, newest last,
//! refused as GitHub refuses them: a state outside the four, a description past 140
//! characters, a commit the repository does not hold.

use serde_json::{json, Value};

use crate::reply::{str_field, Reply};
use crate::shapes::{self, Ctx};
use crate::state::{State, StatusRecord};
use crate::time::now;

type R = Result<Reply, Reply>;

const STATES: [&str; 4] = ["error", "failure", "pending", "success"];

pub(crate) fn create_status(ctx: &Ctx, st: &mut State, actor: &str, sha: &str, b: &Value) -> R {
    let state = str_field(b, "state")?;
    if !STATES.contains(&state) {
        return Err(Reply::invalid(
            "state is not included in the list",
            "Status",
            "custom",
        ));
    }
    let description = b["description"].as_str().map(str::to_string);
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 140)
    {
        return Err(Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": "Status", "code": "custom", "field": "description",
                    "message": "description is too long (maximum is 140 characters)"}],
                "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
                "status": "422"
            }),
        ));
    }
    if st.git.commit_info(sha).is_err() {
        return Err(Reply::error(
            422,
            &format!("No commit found for SHA: {sha}"),
        ));
    }
    let record = StatusRecord {
        id: 7_000 + st.statuses.len() as u64 + 1,
        sha: sha.to_string(),
        state: state.to_string(),
        context: b["context"].as_str().unwrap_or("default").to_string(),
        description,
        target_url: b["target_url"].as_str().map(str::to_string),
        creator: actor.to_string(),
        at: now(),
    };
    st.statuses.push(record.clone());
    Ok(Reply::json(201, shapes::status(ctx, &record)))
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/statuses`: a commit's statuses, newest first, as
/// GitHub lists them; `ref` is a sha, a branch or a tag.
pub(crate) fn list_statuses(ctx: &Ctx, st: &State, reference: &str, q: &[(String, String)]) -> R {
    let sha = st.git.resolve(reference).map_err(|_| Reply::not_found())?;
    let items: Vec<Value> = st
        .statuses
        .iter()
        .rev()
        .filter(|s| s.sha == sha)
        .map(|s| shapes::status(ctx, s))
        .collect();
    let url = format!("{}/commits/{reference}/statuses", ctx.repo_api());
    Ok(crate::reply::paginate(&url, q, items))
}
