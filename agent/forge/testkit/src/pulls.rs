//! Pull requests: list, create, update, merge, request reviewers.

use serde_json::{json, Value};

use crate::git::GitError;
use crate::reply::{
    number, paginate, param, set_state, state_matches, str_field, strings, Reply, R,
};
use crate::shapes::{self, Ctx};
use crate::state::{PullRequest, State};
use crate::time::now;

pub(crate) fn pull_json(ctx: &Ctx, st: &State, p: &PullRequest, full: bool) -> Value {
    shapes::pull(ctx, p, &st.labels_of(&p.labels), &st.default_branch, full)
}

pub(crate) fn with_pull(
    st: &mut State,
    n: &str,
    f: impl FnOnce(&mut State, &PullRequest) -> R,
) -> R {
    let p = st
        .pulls
        .get(&number(n)?)
        .cloned()
        .ok_or_else(Reply::not_found)?;
    f(st, &p)
}

pub(crate) fn list_pulls(ctx: &Ctx, st: &State, q: &[(String, String)]) -> R {
    let head = param(q, "head").map(|h| h.split_once(':').map_or(h, |(_, b)| b).to_string());
    let base = param(q, "base");
    let items: Vec<Value> = st
        .pulls
        .values()
        .rev()
        .filter(|p| state_matches(p.open, param(q, "state")))
        .filter(|p| head.as_deref().is_none_or(|h| p.head == h))
        .filter(|p| base.is_none_or(|b| p.base == b))
        .map(|p| pull_json(ctx, st, p, false))
        .collect();
    Ok(paginate(&format!("{}/pulls", ctx.repo_api()), q, items))
}

pub(crate) fn create_pull(ctx: &Ctx, st: &mut State, actor: &str, b: &Value) -> R {
    let title = str_field(b, "title")?.to_string();
    let head = str_field(b, "head")?;
    let head = head.split_once(':').map_or(head, |(_, b)| b).to_string();
    let base = str_field(b, "base")?.to_string();
    let head_sha = st
        .git
        .branch(&head)
        .ok_or_else(|| Reply::invalid("head invalid", "PullRequest", "invalid"))?;
    let base_sha = st
        .git
        .branch(&base)
        .ok_or_else(|| Reply::invalid("base invalid", "PullRequest", "invalid"))?;
    if st
        .pulls
        .values()
        .any(|p| p.open && p.head == head && p.base == base)
    {
        let owner = ctx.owner;
        return Err(Reply::invalid(
            &format!("A pull request already exists for {owner}:{head}."),
            "PullRequest",
            "custom",
        ));
    }
    if head_sha == base_sha {
        return Err(Reply::invalid(
            &format!("No commits between {base} and {head}"),
            "PullRequest",
            "custom",
        ));
    }
    let n = st.take_number();
    let t = now();
    let changed_files = st.git.changed_files(&base_sha, &head_sha);
    let p = PullRequest {
        number: n,
        title,
        body: b["body"].as_str().map(str::to_string),
        head,
        head_sha,
        base,
        base_sha,
        open: true,
        draft: b["draft"].as_bool().unwrap_or(false),
        merged_at: None,
        merge_commit_sha: None,
        closed_at: None,
        created_at: t,
        updated_at: t,
        author: actor.to_string(),
        assignees: Vec::new(),
        reviewers: Vec::new(),
        labels: Vec::new(),
        comments: 0,
        changed_files,
        fork: None,
        pull_ref: None,
    };
    st.pulls.insert(n, p.clone());
    st.refresh_heads();
    Ok(Reply::json(201, pull_json(ctx, st, &p, true)))
}

pub(crate) fn update_pull(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let p = st.pulls.get_mut(&n).ok_or_else(Reply::not_found)?;
    if p.merged_at.is_some() && b["state"].as_str() == Some("open") {
        return Err(Reply::invalid(
            "state cannot be changed. The pull request has been merged.",
            "PullRequest",
            "custom",
        ));
    }
    if let Some(t) = b["title"].as_str() {
        p.title = t.to_string();
    }
    if let Some(body) = b.get("body") {
        p.body = body.as_str().map(str::to_string);
    }
    set_state(&mut p.open, &mut p.closed_at, b)?;
    p.updated_at = now();
    let p = p.clone();
    Ok(Reply::json(200, pull_json(ctx, st, &p, true)))
}

/// GitHub's "Merge a pull request" (a reviewer's merge button, driven over HTTP): the merge
/// method `merge` only; `sha`, when given, must be the head's tip.
pub(crate) fn merge_pull(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let p = st.pulls.get(&n).cloned().ok_or_else(Reply::not_found)?;
    if !p.open {
        return Err(Reply::error(405, "Pull Request is not mergeable"));
    }
    if let Some(method) = b["merge_method"].as_str().filter(|m| *m != "merge") {
        return Err(Reply::invalid(
            &format!("merge_method {method} is not served by the fake (merge only)"),
            "PullRequest",
            "invalid",
        ));
    }
    if b["sha"].as_str().is_some_and(|sha| sha != p.head_sha) {
        return Err(Reply::error(
            409,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    let sha = crate::shared::merge_pull(st, ctx.owner, &p).map_err(|e| match e {
        GitError::Conflict(_) => Reply::error(405, "Pull Request is not mergeable"),
        e => Reply::from(e),
    })?;
    Ok(Reply::json(
        200,
        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
    ))
}

pub(crate) fn request_reviewers(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let p = st.pulls.get_mut(&n).ok_or_else(Reply::not_found)?;
    let reviewers = strings(b, "reviewers");
    if reviewers.contains(&p.author) {
        return Err(Reply::invalid(
            "Review cannot be requested from pull request author.",
            "PullRequest",
            "custom",
        ));
    }
    for r in reviewers {
        if !p.reviewers.contains(&r) {
            p.reviewers.push(r);
        }
    }
    let p = p.clone();
    Ok(Reply::json(201, pull_json(ctx, st, &p, false)))
}
