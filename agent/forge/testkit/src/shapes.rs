//! GitHub's response shapes, built from the fake's state: every field GitHub's OpenAPI
//! description marks required is present with the right type (the `openapi` tests check it).

use serde_json::{json, Value};

use crate::git::CommitInfo;
use crate::state::{Issue, Label, PullRequest};

/// The URLs every shape is built from.
pub struct Ctx<'a> {
    /// `http://127.0.0.1:PORT` (the API root).
    pub api: &'a str,
    pub owner: &'a str,
    pub repo: &'a str,
}

impl Ctx<'_> {
    pub fn repo_api(&self) -> String {
        format!("{}/repos/{}/{}", self.api, self.owner, self.repo)
    }

    pub fn repo_html(&self) -> String {
        format!("{}/{}/{}", self.api, self.owner, self.repo)
    }
}

pub fn time(unix: i64) -> String {
    crate::time::rfc3339(unix)
}

pub fn user(ctx: &Ctx, login: &str) -> Value {
    let u = format!("{}/users/{login}", ctx.api);
    json!({
        "login": login, "id": id_of(login), "node_id": format!("U_{login}"),
        "avatar_url": format!("{}/avatars/{login}", ctx.api), "gravatar_id": "",
        "url": u, "html_url": format!("{}/{login}", ctx.api),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": "User", "site_admin": false
    })
}

fn id_of(s: &str) -> u64 {
    s.bytes().fold(1_469_598_103_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
    }) % 1_000_000_000
}

pub fn repository(ctx: &Ctx, default_branch: &str) -> Value {
    let r = ctx.repo_api();
    let mut v = json!({
        "id": id_of(ctx.repo), "node_id": format!("R_{}", ctx.repo), "name": ctx.repo,
        "full_name": format!("{}/{}", ctx.owner, ctx.repo), "owner": user(ctx, ctx.owner),
        "private": true, "html_url": ctx.repo_html(), "description": null, "fork": false, "url": r,
        "homepage": null, "language": null, "forks_count": 0, "stargazers_count": 0, "watchers_count": 0,
        "size": 0, "default_branch": default_branch, "open_issues_count": 0, "is_template": false, "topics": [],
        "has_issues": true, "has_projects": false, "has_wiki": false, "has_pages": false, "has_downloads": false,
        "archived": false, "disabled": false, "visibility": "private", "pushed_at": null, "created_at": null,
        "updated_at": null, "forks": 0, "open_issues": 0, "watchers": 0, "license": null, "mirror_url": null,
        "clone_url": format!("{}.git", ctx.repo_html()), "git_url": format!("{}.git", ctx.repo_html()),
        "ssh_url": format!("git@fake:{}/{}.git", ctx.owner, ctx.repo), "svn_url": ctx.repo_html(),
    });
    let templated = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    for (k, suffix) in templated {
        v[k] = json!(format!("{r}{suffix}"));
    }
    v
}

pub fn label(ctx: &Ctx, l: &Label) -> Value {
    json!({
        "id": l.id, "node_id": format!("LA_{}", l.id), "url": format!("{}/labels/{}", ctx.repo_api(), l.name),
        "name": l.name, "description": l.description, "color": l.color, "default": false
    })
}

/// A label inside a pull request: the OpenAPI description types its `description` as a
/// string there (not nullable, unlike the label's own schema), so none is `""`.
fn pull_label(ctx: &Ctx, l: &Label) -> Value {
    let mut v = label(ctx, l);
    if v["description"].is_null() {
        v["description"] = json!("");
    }
    v
}

pub fn git_ref(ctx: &Ctx, name: &str, sha: &str) -> Value {
    json!({
        "ref": name, "node_id": format!("REF_{sha}"), "url": format!("{}/git/{name}", ctx.repo_api()),
        "object": {"type": "commit", "sha": sha, "url": format!("{}/git/commits/{sha}", ctx.repo_api())}
    })
}

pub fn blob(ctx: &Ctx, sha: &str) -> Value {
    json!({"url": format!("{}/git/blobs/{sha}", ctx.repo_api()), "sha": sha})
}

pub fn tree(ctx: &Ctx, sha: &str, entries: &[(String, String, String, String)]) -> Value {
    let items: Vec<Value> = entries
        .iter()
        .map(|(path, mode, kind, sha)| {
            json!({"path": path, "mode": mode, "type": kind, "sha": sha,
                   "url": format!("{}/git/{}s/{sha}", ctx.repo_api(), kind)})
        })
        .collect();
    json!({"sha": sha, "url": format!("{}/git/trees/{sha}", ctx.repo_api()), "tree": items, "truncated": false})
}

pub fn commit(ctx: &Ctx, c: &CommitInfo) -> Value {
    let who = |(name, email, at): &(String, String, i64)| json!({"name": name, "email": email, "date": time(*at)});
    let parents: Vec<Value> = c
        .parents
        .iter()
        .map(|p| {
            json!({"sha": p, "url": format!("{}/git/commits/{p}", ctx.repo_api()),
                   "html_url": format!("{}/commit/{p}", ctx.repo_html())})
        })
        .collect();
    json!({
        "sha": c.sha, "node_id": format!("C_{}", c.sha), "url": format!("{}/git/commits/{}", ctx.repo_api(), c.sha),
        "html_url": format!("{}/commit/{}", ctx.repo_html(), c.sha), "author": who(&c.author),
        "committer": who(&c.committer), "message": c.message,
        "tree": {"sha": c.tree, "url": format!("{}/git/trees/{}", ctx.repo_api(), c.tree)},
        "parents": parents,
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
    })
}

pub fn content_file(ctx: &Ctx, path: &str, rev: &str, sha: &str, bytes: &[u8]) -> Value {
    use base64::Engine;
    // GitHub wraps the base64 at 60 columns with "\n".
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let name = path.rsplit('/').next().unwrap_or(path);
    let url = format!("{}/contents/{path}?ref={rev}", ctx.repo_api());
    let git = format!("{}/git/blobs/{sha}", ctx.repo_api());
    let html = format!("{}/blob/{rev}/{path}", ctx.repo_html());
    json!({
        "type": "file", "encoding": "base64", "size": bytes.len(), "name": name, "path": path,
        "content": format!("{}\n", wrapped.join("\n")), "sha": sha, "url": url, "git_url": git,
        "html_url": html, "download_url": format!("{}/raw/{rev}/{path}", ctx.repo_html()),
        "_links": {"git": git, "self": url, "html": html}
    })
}

fn branch_side(ctx: &Ctx, branch: &str, sha: &str, default_branch: &str) -> Value {
    json!({
        "label": format!("{}:{branch}", ctx.owner), "ref": branch, "sha": sha,
        "user": user(ctx, ctx.owner), "repo": repository(ctx, default_branch)
    })
}

/// The head of a pull request: a branch of this repository, or of a fork (`p.fork`, its owner).
fn head_side(ctx: &Ctx, p: &PullRequest, default_branch: &str) -> Value {
    let mut side = branch_side(ctx, &p.head, &p.head_sha, default_branch);
    if let Some(owner) = &p.fork {
        side["label"] = format!("{owner}:{}", p.head).into();
        side["user"] = user(ctx, owner);
        let repo = &mut side["repo"];
        repo["full_name"] = format!("{owner}/{}", ctx.repo).into();
        repo["owner"] = user(ctx, owner);
        repo["fork"] = true.into();
    }
    side
}

/// A pull request; `full` adds what `GET /pulls/{n}` has beyond the list's shape.
pub fn pull(
    ctx: &Ctx,
    p: &PullRequest,
    labels: &[Label],
    default_branch: &str,
    full: bool,
) -> Value {
    let n = p.number;
    let api = format!("{}/pulls/{n}", ctx.repo_api());
    let issue = format!("{}/issues/{n}", ctx.repo_api());
    let html = format!("{}/pull/{n}", ctx.repo_html());
    let link = |href: &str| json!({"href": href});
    let state = if p.open { "open" } else { "closed" };
    let mut v = json!({
        "url": api, "id": 1_000 + n, "node_id": format!("PR_{n}"), "html_url": html,
        "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"), "issue_url": issue,
        "commits_url": format!("{api}/commits"), "review_comments_url": format!("{api}/comments"),
        "review_comment_url": format!("{}/pulls/comments{{/number}}", ctx.repo_api()),
        "comments_url": format!("{issue}/comments"),
        "statuses_url": format!("{}/statuses/{}", ctx.repo_api(), p.head_sha),
        "number": n, "state": state, "locked": false, "title": p.title, "user": user(ctx, &p.author),
        "body": p.body, "labels": labels.iter().map(|l| pull_label(ctx, l)).collect::<Vec<_>>(),
        "milestone": null, "active_lock_reason": null, "created_at": time(p.created_at),
        "updated_at": time(p.updated_at), "closed_at": p.closed_at.map(time), "merged_at": p.merged_at.map(time),
        "merge_commit_sha": p.merge_commit_sha, "assignee": p.assignees.first().map(|a| user(ctx, a)),
        "assignees": p.assignees.iter().map(|a| user(ctx, a)).collect::<Vec<_>>(),
        "requested_reviewers": p.reviewers.iter().map(|a| user(ctx, a)).collect::<Vec<_>>(),
        "requested_teams": [], "head": head_side(ctx, p, default_branch),
        "base": branch_side(ctx, &p.base, &p.base_sha, default_branch),
        "_links": {
            "self": link(&api), "html": link(&html), "issue": link(&issue), "comments": link(&format!("{issue}/comments")),
            "review_comments": link(&format!("{api}/comments")),
            "review_comment": link(&format!("{}/pulls/comments{{/number}}", ctx.repo_api())),
            "commits": link(&format!("{api}/commits")),
            "statuses": link(&format!("{}/statuses/{}", ctx.repo_api(), p.head_sha)),
        },
        "author_association": "OWNER", "auto_merge": null, "draft": p.draft,
    });
    if full {
        let extra = json!({
            "merged": p.merged_at.is_some(), "mergeable": p.open.then_some(true), "rebaseable": null,
            "mergeable_state": if p.open { "clean" } else { "unknown" },
            "merged_by": p.merged_at.map(|_| user(ctx, ctx.owner)), "comments": p.comments,
            "review_comments": 0, "maintainer_can_modify": false, "commits": 1,
            "additions": 0, "deletions": 0, "changed_files": p.changed_files,
        });
        if let (Some(v), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(e.clone());
        }
    }
    v
}

pub fn issue(ctx: &Ctx, i: &Issue, labels: &[Label]) -> Value {
    let n = i.number;
    let api = format!("{}/issues/{n}", ctx.repo_api());
    let mut v = json!({
        "id": 2_000 + n, "node_id": format!("I_{n}"), "url": api, "repository_url": ctx.repo_api(),
        "labels_url": format!("{api}/labels{{/name}}"), "comments_url": format!("{api}/comments"),
        "events_url": format!("{api}/events"), "html_url": format!("{}/issues/{n}", ctx.repo_html()),
        "number": n, "state": if i.open { "open" } else { "closed" },
        "state_reason": if i.open { Value::Null } else { json!("completed") }, "title": i.title, "body": i.body,
        "user": user(ctx, &i.author), "labels": labels.iter().map(|l| label(ctx, l)).collect::<Vec<_>>(),
        "assignee": i.assignees.first().map(|a| user(ctx, a)),
        "assignees": i.assignees.iter().map(|a| user(ctx, a)).collect::<Vec<_>>(), "milestone": null,
        "locked": false, "active_lock_reason": null, "comments": i.comments, "closed_at": i.closed_at.map(time),
        "created_at": time(i.created_at), "updated_at": time(i.updated_at), "author_association": "OWNER",
    });
    if let Some(merged_at) = i.pull_merged_at {
        let html = format!("{}/pull/{n}", ctx.repo_html());
        v["pull_request"] = json!({
            "url": format!("{}/pulls/{n}", ctx.repo_api()), "html_url": html,
            "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"),
            "merged_at": merged_at.map(time),
        });
    }
    v
}

pub fn comment(ctx: &Ctx, id: u64, issue: u64, body: &str, author: &str, at: i64) -> Value {
    json!({
        "id": id, "node_id": format!("IC_{id}"), "url": format!("{}/issues/comments/{id}", ctx.repo_api()),
        "html_url": format!("{}/issues/{issue}#issuecomment-{id}", ctx.repo_html()), "body": body,
        "user": user(ctx, author), "created_at": time(at), "updated_at": time(at),
        "issue_url": format!("{}/issues/{issue}", ctx.repo_api()), "author_association": "OWNER",
    })
}

/// GitHub's `status` schema.
pub fn status(ctx: &Ctx, s: &crate::state::StatusRecord) -> Value {
    json!({
        "url": format!("{}/statuses/{}", ctx.repo_api(), s.sha),
        "avatar_url": null, "id": s.id, "node_id": format!("SC_{}", s.id), "state": s.state,
        "description": s.description, "target_url": s.target_url, "context": s.context,
        "created_at": time(s.at), "updated_at": time(s.at), "creator": user(ctx, &s.creator),
    })
}

pub fn deployment(ctx: &Ctx, d: &crate::state::Deployment) -> Value {
    let url = format!("{}/deployments/{}", ctx.repo_api(), d.id);
    json!({
        "url": url, "id": d.id, "node_id": format!("DE_{}", d.id), "sha": d.sha, "ref": d.reference,
        "task": "deploy", "payload": {}, "original_environment": d.environment,
        "environment": d.environment, "description": d.description, "creator": user(ctx, &d.creator),
        "created_at": time(d.at), "updated_at": time(d.at), "statuses_url": format!("{url}/statuses"),
        "repository_url": ctx.repo_api(), "transient_environment": false,
        "production_environment": d.environment == "prod" || d.environment == "production",
    })
}

pub fn deployment_status(
    ctx: &Ctx,
    d: &crate::state::Deployment,
    s: &crate::state::DeploymentStatus,
) -> Value {
    let deployment_url = format!("{}/deployments/{}", ctx.repo_api(), d.id);
    json!({
        "url": format!("{deployment_url}/statuses/{}", s.id), "id": s.id,
        "node_id": format!("DES_{}", s.id), "state": s.state, "creator": user(ctx, &s.creator),
        "description": s.description, "environment": d.environment,
        "target_url": deployment_url, "deployment_url": deployment_url,
        "repository_url": ctx.repo_api(), "created_at": time(s.at), "updated_at": time(s.at),
    })
}

pub fn error(message: &str, code: u16) -> Value {
    json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": code.to_string()})
}

/// GitHub's answer to `PATCH …/git/refs/{ref}` without `force` when the update is not a
/// fast-forward: a 422 with no `errors` list, pointing at the endpoint's documentation.
pub fn not_fast_forward() -> Value {
    json!({
        "message": "Update is not a fast forward",
        "documentation_url": "https://docs.github.com/rest/git/refs#update-a-reference",
        "status": "422"
    })
}

/// A refused label (create a label): `errors` names the field and GitHub's code, with no
/// message, as the recorded `errors` scenario of `@octokit/fixtures` shows (the fake adds the
/// `status` GitHub's error bodies carry now).
pub fn label_invalid(field: &str, code: &str) -> Value {
    json!({
        "message": "Validation Failed",
        "errors": [{"resource": "Label", "code": code, "field": field}],
        "documentation_url": "https://docs.github.com/rest/reference/issues#create-a-label",
        "status": "422"
    })
}

pub fn validation(message: &str, resource: &str, code: &str) -> Value {
    json!({
        "message": "Validation Failed",
        "errors": [{"resource": resource, "code": code, "message": message}],
        "documentation_url": "https://docs.github.com/rest", "status": "422"
    })
}
