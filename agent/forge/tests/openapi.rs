//! The fake must not drift from GitHub: every operation the client makes is run against the
//! fake, then each logged request body and each response body is validated against GitHub's
//! official OpenAPI description (`@octokit/openapi`, installed by `make tools`).

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use forge_testkit::openapi::{self, Spec};
use forge_testkit::{Fault, Match, RequestRecord};
use serde_json::Value;
use sextant_forge::{
    AppAuth, Auth, GitHub, NewIssue, NewPull, PullFilter, State, StateFilter, Update,
};

const BRANCH: &str = "sextant/drift/prod/hash-service";

/// Every operation the client has, with success and a few failure answers.
async fn exercise(fake: &forge_testkit::FakeGitHub) {
    let o = fake.options().app.clone().unwrap();
    let key =
        AppAuth::from_pem(o.app_id, o.installation_id, forge_testkit::TEST_APP_KEY_PEM).unwrap();
    let gh = GitHub::new(config(fake, Auth::App(key))).unwrap();
    let base = gh.branch_head("main").await.unwrap();
    let files = [(
        "environments/prod/values/hash-service.yaml",
        b"replicaCount: 5\n".as_slice(),
    )];
    let sha = gh
        .commit_files(BRANCH, &base.sha, &files, "drift")
        .await
        .unwrap();
    gh.commit_files(BRANCH, &base.sha, &files, "drift again")
        .await
        .unwrap();
    gh.file_at("environments/prod/values/hash-service.yaml", BRANCH)
        .await
        .unwrap();
    // A fast-forward on main, then the same head again: 422 "Update is not a fast forward".
    gh.commit_on_branch("main", &base.sha, &files, "promote")
        .await
        .unwrap();
    let stale = gh
        .commit_on_branch("main", &base.sha, &files, "promote again")
        .await;
    assert!(stale.is_err_and(|e| e.is_not_fast_forward()));
    let pr = gh
        .create_pull(&NewPull {
            title: "drift".into(),
            head: BRANCH.into(),
            base: "main".into(),
            body: "body".into(),
            draft: false,
        })
        .await
        .unwrap()
        .into_inner();
    gh.create_pull(&NewPull {
        title: "drift".into(),
        head: BRANCH.into(),
        base: "main".into(),
        ..NewPull::default()
    })
    .await
    .unwrap();
    gh.add_labels(pr.number, &["sextant-drift".into()])
        .await
        .unwrap();
    gh.request_reviewers(pr.number, &["alice".into()], &[])
        .await
        .unwrap();
    gh.add_assignees(pr.number, &["bob".into()]).await.unwrap();
    gh.update_pull(
        pr.number,
        &Update {
            title: Some("drift 2".into()),
            body: Some("body 2".into()),
            state: None,
        },
    )
    .await
    .unwrap();
    gh.get_pull(pr.number).await.unwrap();
    gh.get_pull(pr.number).await.unwrap(); // 304
    let fork = fake
        .seed_fork_pull(
            "someone",
            &[("docs/x.md", b"x\n".as_slice())],
            "from a fork",
        )
        .unwrap();
    let pulls = gh.list_pulls(&PullFilter::default()).await.unwrap();
    let heads: Vec<(u64, Option<&str>)> = pulls
        .iter()
        .map(|p| (p.number, p.head_repo.as_deref()))
        .collect();
    assert!(heads.contains(&(fork, Some("someone/deploy"))), "{heads:?}");
    assert!(
        heads.contains(&(pr.number, Some("acme/deploy"))),
        "{heads:?}"
    );
    let comment = gh.create_comment(pr.number, "closing").await.unwrap();
    gh.update_comment(comment.id, "closing, edited")
        .await
        .unwrap();
    let comments = gh.list_comments(pr.number).await.unwrap();
    assert_eq!(
        comments.last().map(|c| c.body.as_str()),
        Some("closing, edited")
    );
    let issue = gh
        .create_issue(&NewIssue {
            title: "unmapped".into(),
            body: "b".into(),
            labels: vec!["sextant-drift".into()],
            assignees: vec![],
        })
        .await
        .unwrap();
    gh.list_issues("sextant-drift", StateFilter::All)
        .await
        .unwrap();
    gh.get_issue(issue.number).await.unwrap();
    gh.update_issue(
        issue.number,
        &Update {
            state: Some(State::Closed),
            ..Update::default()
        },
    )
    .await
    .unwrap();
    gh.update_pull(
        pr.number,
        &Update {
            state: Some(State::Closed),
            ..Update::default()
        },
    )
    .await
    .unwrap();
    gh.get_commit(&sha).await.unwrap();
    gh.create_status(&sha, "pending", "sextant/prod", "applying this commit")
        .await
        .unwrap();
    // The commit's deployment to prod and a status on it; found again by listing.
    let deployment = gh
        .create_deployment(&sha, "prod", "applying this commit")
        .await
        .unwrap();
    gh.create_deployment_status(deployment.id, "in_progress", "applying this commit")
        .await
        .unwrap();
    let listed = gh.list_deployments(&sha, "prod").await.unwrap();
    assert_eq!(listed.first().map(|d| d.id), Some(deployment.id));
    // What the demo reads back (the client has no use for it): a commit's statuses.
    let listed: Value = reqwest::Client::new()
        .get(format!(
            "{}/repos/acme/deploy/commits/{sha}/statuses",
            fake.url()
        ))
        .bearer_auth(&fake.options().token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["context"], "sextant/prod", "{listed}");
    gh.delete_branch(BRANCH).await.unwrap();
    // Failures GitHub documents: a missing object (404) and a ref that exists (422).
    let _ = gh.get_pull(999).await;
    let _ = gh.create_branch("main", &base.sha).await;
    fake.inject(Fault::conflict(Match::path("/git/commits").method("POST")).times(1));
    let _ = gh.create_commit("m", &base.sha, &[]).await;
}

fn spec() -> Option<&'static Spec> {
    openapi::spec()
}

fn has_json_response(spec_doc: &Value, method: &str, template: &str, status: u16) -> bool {
    let resp =
        &spec_doc["paths"][template][method.to_ascii_lowercase()]["responses"][status.to_string()];
    resp.get("$ref").is_some() || resp["content"]["application/json"].is_object()
}

fn spec_doc() -> Value {
    serde_json::from_slice(&std::fs::read(openapi::spec_path()).unwrap()).unwrap()
}

#[tokio::test]
async fn the_fakes_answers_and_the_clients_requests_match_githubs_openapi_description() {
    let Some(spec) = spec() else { return };
    let doc = spec_doc();
    let fake = fake();
    exercise(&fake).await;
    let records: Vec<RequestRecord> = fake.requests();
    let mut problems = Vec::new();
    let mut covered = BTreeSet::new();
    let mut checked: HashMap<(String, &'static str, u16), usize> = HashMap::new();
    for r in &records {
        let Some(template) = openapi::template(&r.method, &r.path) else {
            problems.push(format!("{} {}: no operation in the spec", r.method, r.path));
            continue;
        };
        covered.insert(format!("{} {template}", r.method));
        if let Some(body) = &r.body {
            for e in spec.check_request(&r.method, template, body) {
                problems.push(format!("request {} {}: {e}", r.method, r.path));
            }
        }
        if let Some(resp) = &r.response {
            if !has_json_response(&doc, &r.method, template, r.status) {
                problems.push(format!(
                    "{} {} answered {}, which the spec does not document",
                    r.method, r.path, r.status
                ));
                continue;
            }
            *checked
                .entry((r.method.clone(), template, r.status))
                .or_default() += 1;
            for e in spec.check_response(&r.method, template, r.status, resp) {
                problems.push(format!(
                    "response {} {} {}: {e}",
                    r.status, r.method, r.path
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "drift from GitHub's OpenAPI description:\n{}",
        problems.join("\n")
    );
    let expected = [
        "POST /app/installations/{installation_id}/access_tokens",
        "GET /repos/{owner}/{repo}/git/ref/{ref}",
        "POST /repos/{owner}/{repo}/git/refs",
        "PATCH /repos/{owner}/{repo}/git/refs/{ref}",
        "DELETE /repos/{owner}/{repo}/git/refs/{ref}",
        "POST /repos/{owner}/{repo}/git/blobs",
        "POST /repos/{owner}/{repo}/git/trees",
        "POST /repos/{owner}/{repo}/git/commits",
        "GET /repos/{owner}/{repo}/git/commits/{commit_sha}",
        "GET /repos/{owner}/{repo}/contents/{path}",
        "GET /repos/{owner}/{repo}/pulls",
        "POST /repos/{owner}/{repo}/pulls",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        "PATCH /repos/{owner}/{repo}/pulls/{pull_number}",
        "POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers",
        "GET /repos/{owner}/{repo}/issues",
        "POST /repos/{owner}/{repo}/issues",
        "GET /repos/{owner}/{repo}/issues/{issue_number}",
        "PATCH /repos/{owner}/{repo}/issues/{issue_number}",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/labels",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/assignees",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}",
        "POST /repos/{owner}/{repo}/statuses/{sha}",
        "GET /repos/{owner}/{repo}/commits/{ref}/statuses",
        "GET /repos/{owner}/{repo}/deployments",
        "POST /repos/{owner}/{repo}/deployments",
        "POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    ];
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| !covered.contains(*e))
        .collect();
    assert!(missing.is_empty(), "operations not exercised: {missing:?}");
    for status in [404, 409, 422] {
        assert!(
            checked.keys().any(|(_, _, s)| *s == status),
            "no {status} answer was checked: {checked:?}"
        );
    }
}

#[test]
fn the_spec_is_the_pinned_version() {
    let Some(_) = spec() else { return };
    let doc = spec_doc();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(
        doc["info"]["version"], "23.0.2",
        "the version pinned in scripts/install-tools.sh"
    );
}

#[test]
fn a_body_that_breaks_the_schema_is_caught() {
    let Some(spec) = spec() else { return };
    let bad = serde_json::json!({"sha": 42});
    assert!(!spec
        .check_request("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", &bad)
        .is_empty());
    let pr_without_head = serde_json::json!({"number": 1});
    assert!(!spec
        .check_response(
            "GET",
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            200,
            &pr_without_head
        )
        .is_empty());
}
