//! Issues (pull requests among them, as GitHub lists them), labels and comments.

use serde_json::Value;

use crate::reply::{
    number, paginate, param, set_state, state_matches, str_field, strings, Reply, R,
};
use crate::shapes::{self, Ctx};
use crate::state::{Comment, Issue, State};
use crate::time::now;

/// An issue number's issue view: a real issue, or a pull request seen as one.
pub(crate) fn issue_view(st: &State, n: u64) -> Option<Issue> {
    st.issues
        .get(&n)
        .cloned()
        .or_else(|| st.pulls.get(&n).map(Issue::from))
}

fn issue_json(ctx: &Ctx, st: &State, i: &Issue) -> Value {
    shapes::issue(ctx, i, &st.labels_of(&i.labels))
}

pub(crate) fn list_issues(ctx: &Ctx, st: &State, q: &[(String, String)]) -> R {
    let wanted: Vec<String> = param(q, "labels")
        .map(|l| {
            l.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut all: Vec<Issue> = st.issues.values().cloned().collect();
    all.extend(st.pulls.values().map(Issue::from));
    all.sort_by_key(|i| std::cmp::Reverse(i.number));
    // GitHub matches the `labels` filter regardless of case, as it names labels
    // (GitTools/GitReleaseManager#119: `Feature` asked, `feature` found).
    let items: Vec<Value> = all
        .iter()
        .filter(|i| state_matches(i.open, param(q, "state")))
        .filter(|i| {
            wanted
                .iter()
                .all(|w| i.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
        })
        .map(|i| issue_json(ctx, st, i))
        .collect();
    Ok(paginate(&format!("{}/issues", ctx.repo_api()), q, items))
}

pub(crate) fn list_labels(ctx: &Ctx, st: &State, q: &[(String, String)]) -> R {
    let mut all: Vec<&crate::state::Label> = st.labels.values().collect();
    all.sort_by_key(|l| l.id);
    let items = all.into_iter().map(|l| shapes::label(ctx, l)).collect();
    Ok(paginate(&format!("{}/labels", ctx.repo_api()), q, items))
}

/// GitHub's "Create a label": a name unique regardless of case (`already_exists` on the name
/// otherwise) and a six-digit hex colour (`invalid` on the colour otherwise).
pub(crate) fn create_label(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    let name = b["name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Reply::json(422, shapes::label_invalid("name", "missing_field")))?;
    let color = b["color"]
        .as_str()
        .unwrap_or("ededed")
        .trim_start_matches('#');
    if color.len() != 6 || !color.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(Reply::json(422, shapes::label_invalid("color", "invalid")));
    }
    if st.label(name).is_some() {
        return Err(Reply::json(
            422,
            shapes::label_invalid("name", "already_exists"),
        ));
    }
    let mut l = st.ensure_labels(&[name.to_string()]).remove(0);
    l.color = color.to_string();
    l.description = b["description"].as_str().map(str::to_string);
    st.labels.insert(name.to_lowercase(), l.clone());
    Ok(Reply::json(201, shapes::label(ctx, &l)))
}

pub(crate) fn create_issue(ctx: &Ctx, st: &mut State, actor: &str, b: &Value) -> R {
    let title = str_field(b, "title")?.to_string();
    let labels = st.canonical_labels(&strings(b, "labels"));
    let n = st.take_number();
    let t = now();
    let i = Issue {
        number: n,
        title,
        body: b["body"].as_str().map(str::to_string),
        open: true,
        closed_at: None,
        created_at: t,
        updated_at: t,
        author: actor.to_string(),
        assignees: strings(b, "assignees"),
        labels,
        comments: 0,
        pull_merged_at: None,
    };
    st.issues.insert(n, i.clone());
    Ok(Reply::json(201, issue_json(ctx, st, &i)))
}

pub(crate) fn get_issue(ctx: &Ctx, st: &State, n: &str) -> R {
    let i = issue_view(st, number(n)?).ok_or_else(Reply::not_found)?;
    Ok(Reply::json(200, issue_json(ctx, st, &i)))
}

pub(crate) fn update_issue(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    if let Some(p) = st.pulls.get_mut(&n) {
        if let Some(t) = b["title"].as_str() {
            p.title = t.to_string();
        }
        set_state(&mut p.open, &mut p.closed_at, b)?;
        p.updated_at = now();
    } else {
        let labels = b
            .get("labels")
            .map(|_| st.canonical_labels(&strings(b, "labels")));
        let i = st.issues.get_mut(&n).ok_or_else(Reply::not_found)?;
        if let Some(t) = b["title"].as_str() {
            i.title = t.to_string();
        }
        if let Some(body) = b.get("body") {
            i.body = body.as_str().map(str::to_string);
        }
        if let Some(l) = labels {
            i.labels = l;
        }
        set_state(&mut i.open, &mut i.closed_at, b)?;
        i.updated_at = now();
    }
    get_issue(ctx, st, &n.to_string())
}

pub(crate) fn add_labels(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let new = st.canonical_labels(&strings(b, "labels"));
    let labels = if let Some(p) = st.pulls.get_mut(&n) {
        &mut p.labels
    } else {
        &mut st.issues.get_mut(&n).ok_or_else(Reply::not_found)?.labels
    };
    for l in new {
        if !labels.iter().any(|have| have.eq_ignore_ascii_case(&l)) {
            labels.push(l);
        }
    }
    let names = labels.clone();
    let items: Vec<Value> = st
        .labels_of(&names)
        .iter()
        .map(|l| shapes::label(ctx, l))
        .collect();
    Ok(Reply::json(200, Value::Array(items)))
}

pub(crate) fn add_assignees(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let new = strings(b, "assignees");
    let assignees = if let Some(p) = st.pulls.get_mut(&n) {
        &mut p.assignees
    } else {
        &mut st
            .issues
            .get_mut(&n)
            .ok_or_else(Reply::not_found)?
            .assignees
    };
    for a in new {
        if !assignees.contains(&a) {
            assignees.push(a);
        }
    }
    let i = issue_view(st, n).ok_or_else(Reply::not_found)?;
    Ok(Reply::json(201, issue_json(ctx, st, &i)))
}

pub(crate) fn create_comment(ctx: &Ctx, st: &mut State, actor: &str, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let body = str_field(b, "body")?.to_string();
    if let Some(p) = st.pulls.get_mut(&n) {
        p.comments += 1;
    } else {
        st.issues.get_mut(&n).ok_or_else(Reply::not_found)?.comments += 1;
    }
    let id = 5_000 + st.comments.len() as u64 + 1;
    let c = Comment {
        id,
        issue: n,
        body,
        author: actor.to_string(),
        at: now(),
    };
    st.comments.push(c.clone());
    Ok(Reply::json(
        201,
        shapes::comment(ctx, c.id, n, &c.body, &c.author, c.at),
    ))
}

pub(crate) fn list_comments(ctx: &Ctx, st: &State, n: &str, q: &[(String, String)]) -> R {
    let n = number(n)?;
    issue_view(st, n).ok_or_else(Reply::not_found)?;
    let items: Vec<Value> = st
        .comments
        .iter()
        .filter(|c| c.issue == n)
        .map(|c| shapes::comment(ctx, c.id, n, &c.body, &c.author, c.at))
        .collect();
    let url = format!("{}/issues/{n}/comments", ctx.repo_api());
    Ok(paginate(&url, q, items))
}

/// GitHub's "Update an issue comment": a new body; 404 for a comment that does not exist.
pub(crate) fn update_comment(ctx: &Ctx, st: &mut State, id: &str, b: &Value) -> R {
    let id = number(id)?;
    let body = str_field(b, "body")?.to_string();
    let c = st
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(Reply::not_found)?;
    c.body = body;
    c.at = now();
    Ok(Reply::json(
        200,
        shapes::comment(ctx, c.id, c.issue, &c.body, &c.author, c.at),
    ))
}
