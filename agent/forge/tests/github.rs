//! The client against the fake GitHub over HTTP on 127.0.0.1: commits, pull requests,
//! issues, "already exists", retries, rate limits, typed errors and App tokens.

mod common;

use std::time::Duration;

use common::*;
use forge_testkit::{AppOptions, AuthKind, FakeGitHub, Fault, Match, Options, TEST_APP_KEY_PEM};
use sextant_forge::{
    AppAuth, Auth, Error, GitHub, NewIssue, NewPull, Outcome, PullFilter, Secret, State,
    StateFilter, Update,
};

const BRANCH: &str = "sextant/drift/prod/hash-service";

fn new_pull(title: &str) -> NewPull {
    NewPull {
        title: title.into(),
        head: BRANCH.into(),
        base: "main".into(),
        body: "<!-- sextant:drift prod/hash-service fp=abc -->\nbody".into(),
        draft: false,
    }
}

/// A branch with one change on it, ready for a pull request.
async fn drift_branch(gh: &GitHub) -> String {
    let base = gh.branch_head("main").await.unwrap();
    let files = [(
        "environments/prod/values/hash-service.yaml",
        b"replicaCount: 5\n".as_slice(),
    )];
    gh.commit_files(BRANCH, &base.sha, &files, "drift: replicaCount 3 → 5")
        .await
        .unwrap()
}

#[tokio::test]
async fn commit_files_puts_every_file_in_one_commit_with_exact_bytes() {
    let fake = fake();
    let base = fake
        .seed(
            "main",
            &[(
                "environments/prod/values/hash-service.yaml",
                b"# keep me\nreplicaCount: 3\n",
            )],
            "values",
        )
        .unwrap();
    let gh = client(&fake);
    let binary: Vec<u8> = vec![0, 159, 146, 150, b'\n', 255];
    let yaml = b"# keep me\nreplicaCount: 5\n".to_vec();
    let files = vec![
        (
            "environments/prod/values/hash-service.yaml".to_string(),
            yaml.clone(),
        ),
        ("environments/prod/blob.bin".to_string(), binary.clone()),
    ];
    let sha = gh
        .commit_files(BRANCH, &base, &files, "two files")
        .await
        .unwrap();

    assert_eq!(fake.branch_sha(BRANCH).as_deref(), Some(sha.as_str()));
    assert_eq!(
        fake.parents(&sha),
        vec![base.clone()],
        "one commit on top of the base"
    );
    assert_eq!(
        fake.file(&sha, "environments/prod/values/hash-service.yaml"),
        Some(yaml.clone())
    );
    assert_eq!(
        fake.file(&sha, "environments/prod/blob.bin"),
        Some(binary.clone())
    );
    assert_eq!(
        fake.file(&sha, "README.md"),
        Some(b"# deploy\n".to_vec()),
        "the base tree is kept"
    );
    assert_eq!(
        fake.branch_sha("main").as_deref(),
        Some(base.as_str()),
        "main is untouched"
    );

    // A clone of the bare repository sees the same objects.
    let dir = tempfile::tempdir().unwrap();
    let clone = git2::build::RepoBuilder::new()
        .branch(BRANCH)
        .clone(&fake.clone_url(), dir.path())
        .unwrap();
    assert_eq!(clone.head().unwrap().target().unwrap().to_string(), sha);
    assert_eq!(
        std::fs::read(dir.path().join("environments/prod/blob.bin")).unwrap(),
        binary
    );

    // Committing again force-moves our own branch to a new commit on the same base.
    let again = gh
        .commit_files(
            BRANCH,
            &base,
            &[(
                "environments/prod/values/hash-service.yaml",
                b"replicaCount: 6\n",
            )],
            "again",
        )
        .await
        .unwrap();
    assert_eq!(fake.branch_sha(BRANCH).as_deref(), Some(again.as_str()));
    assert_eq!(fake.parents(&again), vec![base]);

    // And the client reads the file back at the branch.
    let read = gh
        .file_at("environments/prod/values/hash-service.yaml", BRANCH)
        .await
        .unwrap();
    assert_eq!(read.bytes, b"replicaCount: 6\n");
}

const VALUES: &str = "environments/prod/values/hash-service.yaml";

#[tokio::test]
async fn a_commit_on_a_branch_that_moved_is_refused_as_not_a_fast_forward_and_the_other_commit_stays(
) {
    let fake = fake();
    let gh = client(&fake);
    let read = gh.branch_head("main").await.unwrap().sha;
    let theirs = fake
        .seed(
            "main",
            &[("README.md", b"# deploy, edited\n")],
            "a human's commit",
        )
        .unwrap();
    let err = gh
        .commit_on_branch(
            "main",
            &read,
            &[(VALUES, b"digest: sha256:new\n".as_slice())],
            "promote",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFastForward { branch, .. } if branch == "main"),
        "{err:?}"
    );
    assert!(err.is_not_fast_forward() && !err.is_transient());
    assert_eq!(err.metric_label(), "conflict");
    assert!(err.to_string().contains("read the head again"), "{err}");
    assert_eq!(
        fake.branch_sha("main").as_deref(),
        Some(theirs.as_str()),
        "the other commit is kept"
    );
    assert_eq!(
        fake.file("main", "README.md"),
        Some(b"# deploy, edited\n".to_vec())
    );
    assert_eq!(fake.file("main", VALUES), None);

    let patch = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .expect("the ref update was sent");
    assert_eq!(patch.path, "/repos/acme/deploy/git/refs/heads/main");
    let body = patch.body.expect("a JSON body");
    assert_eq!(body["force"], false);
    assert_eq!(fake.parents(body["sha"].as_str().unwrap()), vec![read]);
    assert_eq!(patch.status, 422);
    assert_eq!(
        patch.response,
        Some(serde_json::json!({
            "message": "Update is not a fast forward",
            "documentation_url": "https://docs.github.com/rest/git/refs#update-a-reference",
            "status": "422"
        })),
        "GitHub's answer, word for word"
    );
}

#[tokio::test]
async fn a_commit_on_the_current_head_moves_the_branch_by_exactly_one_commit() {
    let fake = fake();
    let gh = client(&fake);
    let old = b"# prod\nimage:\n  digest: sha256:old\n";
    let new = b"# prod\nimage:\n  digest: sha256:new\n";
    fake.seed("main", &[(VALUES, old.as_slice())], "values")
        .unwrap();
    let head = gh.branch_head("main").await.unwrap().sha;
    let sha = gh
        .commit_on_branch("main", &head, &[(VALUES, new.as_slice())], "promote(prod)")
        .await
        .unwrap();
    assert_eq!(fake.branch_sha("main").as_deref(), Some(sha.as_str()));
    assert_eq!(
        fake.parents(&sha),
        vec![head.clone()],
        "one commit, on the expected head"
    );
    assert_eq!(fake.file(&sha, VALUES), Some(new.to_vec()));
    assert_eq!(
        fake.file(&sha, "README.md"),
        Some(b"# deploy\n".to_vec()),
        "the rest of the tree is kept"
    );

    // The head the caller holds is stale now: refused, then re-read and applied.
    let err = gh
        .commit_on_branch("main", &head, &[(VALUES, old.as_slice())], "revert")
        .await
        .unwrap_err();
    assert!(err.is_not_fast_forward(), "{err:?}");
    let reread = gh.branch_head("main").await.unwrap().sha;
    assert_eq!(reread, sha);
    let revert = gh
        .commit_on_branch("main", &reread, &[(VALUES, old.as_slice())], "revert")
        .await
        .unwrap();
    assert_eq!(fake.parents(&revert), vec![sha]);
    assert_eq!(fake.file("main", VALUES), Some(old.to_vec()));
}

#[tokio::test]
async fn a_pull_request_is_created_updated_labelled_commented_closed_and_its_branch_deleted() {
    let fake = fake();
    let gh = client(&fake);
    let head = drift_branch(&gh).await;

    let pr = gh
        .create_pull(&new_pull("drift(prod/hash-service): replicaCount 3 → 5"))
        .await
        .unwrap();
    assert!(pr.created());
    let pr = pr.into_inner();
    assert_eq!(
        (
            pr.state,
            pr.merged,
            pr.head_ref.as_str(),
            pr.head_sha.as_str()
        ),
        (State::Open, false, BRANCH, head.as_str())
    );

    let labels = gh
        .add_labels(pr.number, &["sextant-drift".into(), "prod".into()])
        .await
        .unwrap();
    assert_eq!(labels, vec!["sextant-drift", "prod"]);
    gh.request_reviewers(pr.number, &["alice".into()], &[])
        .await
        .unwrap();
    gh.add_assignees(pr.number, &["bob".into()]).await.unwrap();
    let updated = gh
        .update_pull(
            pr.number,
            &Update {
                title: Some("drift(prod/hash-service): replicaCount 3 → 6".into()),
                body: Some("new body".into()),
                state: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.title.as_str(), updated.body.as_str()),
        ("drift(prod/hash-service): replicaCount 3 → 6", "new body")
    );

    let by_label = gh
        .list_pulls(&PullFilter {
            label: Some("sextant-drift".into()),
            ..PullFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_label.iter().map(|p| p.number).collect::<Vec<_>>(),
        vec![pr.number]
    );
    let by_head = gh
        .list_pulls(&PullFilter {
            head: Some(BRANCH.into()),
            ..PullFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_head.len(), 1);
    assert_eq!(by_head[0].labels, vec!["sextant-drift", "prod"]);

    let comment = gh
        .create_comment(pr.number, "The drift is gone; closing.")
        .await
        .unwrap();
    assert!(comment.html_url.contains(&format!("/issues/{}", pr.number)));
    let closed = gh
        .update_pull(
            pr.number,
            &Update {
                state: Some(State::Closed),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((closed.state, closed.merged), (State::Closed, false));
    assert!(gh.delete_branch(BRANCH).await.unwrap());

    let seen = fake.pull(pr.number).unwrap();
    assert!(!seen.open && !seen.merged());
    assert_eq!(seen.reviewers, vec!["alice"]);
    assert_eq!(seen.assignees, vec!["bob"]);
    assert_eq!(
        fake.comments(pr.number)[0].body,
        "The drift is gone; closing."
    );
    assert_eq!(fake.branch_sha(BRANCH), None);
    assert!(gh
        .list_pulls(&PullFilter::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn creating_what_already_exists_is_success_and_says_so() {
    let fake = fake();
    let gh = client(&fake);
    let head = drift_branch(&gh).await;

    let first = gh.create_pull(&new_pull("t")).await.unwrap();
    let second = gh.create_pull(&new_pull("t")).await.unwrap();
    assert!(first.created());
    assert!(matches!(&second, Outcome::AlreadyExists(p) if p.number == first.get().number));
    assert_eq!(fake.pulls().len(), 1, "no duplicate pull request");

    match gh.create_branch(BRANCH, &head).await.unwrap() {
        Outcome::AlreadyExists(r) => assert_eq!(r.sha, head),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert!(gh.delete_branch(BRANCH).await.unwrap());
    assert!(
        !gh.delete_branch(BRANCH).await.unwrap(),
        "a branch already gone is not an error"
    );
}

#[tokio::test]
async fn a_pull_request_merged_in_the_fake_reads_as_merged_and_main_has_the_merge_commit() {
    let fake = fake();
    let gh = client(&fake);
    let head = drift_branch(&gh).await;
    let pr = gh.create_pull(&new_pull("t")).await.unwrap().into_inner();
    let main_before = fake.branch_sha("main").unwrap();

    let merge = fake.merge(pr.number).unwrap();

    let read = gh.get_pull(pr.number).await.unwrap();
    assert_eq!((read.state, read.merged), (State::Closed, true));
    assert_eq!(read.merge_commit_sha.as_deref(), Some(merge.as_str()));
    assert_eq!(fake.branch_sha("main").as_deref(), Some(merge.as_str()));
    assert_eq!(fake.parents(&merge), vec![main_before, head]);
    assert_eq!(
        fake.file("main", "environments/prod/values/hash-service.yaml")
            .as_deref(),
        Some(b"replicaCount: 5\n".as_slice())
    );
}

#[tokio::test]
async fn a_pull_request_closed_in_the_fake_reads_as_closed_not_merged() {
    let fake = fake();
    let gh = client(&fake);
    drift_branch(&gh).await;
    let pr = gh.create_pull(&new_pull("t")).await.unwrap().into_inner();
    fake.close(pr.number).unwrap();
    let read = gh.get_pull(pr.number).await.unwrap();
    assert_eq!((read.state, read.merged), (State::Closed, false));
}

#[tokio::test]
async fn issues_are_created_listed_by_label_and_closed() {
    let fake = fake();
    let gh = client(&fake);
    drift_branch(&gh).await;
    let pr = gh.create_pull(&new_pull("t")).await.unwrap().into_inner();
    gh.add_labels(pr.number, &["sextant-drift".into()])
        .await
        .unwrap();
    let issue = gh
        .create_issue(&NewIssue {
            title: "drift(prod/hash-service): fields not mapped to values".into(),
            body: "table".into(),
            labels: vec!["sextant-drift".into()],
            assignees: vec!["carol".into()],
        })
        .await
        .unwrap();
    let listed = gh
        .list_issues("sextant-drift", StateFilter::Open)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|i| i.number).collect::<Vec<_>>(),
        vec![issue.number],
        "pull requests are left out"
    );
    let closed = gh
        .update_issue(
            issue.number,
            &Update {
                state: Some(State::Closed),
                body: Some("resolved".into()),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (closed.state, closed.body.as_str()),
        (State::Closed, "resolved")
    );
    assert!(gh
        .list_issues("sextant-drift", StateFilter::Open)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        gh.get_issue(issue.number).await.unwrap().state,
        State::Closed
    );
}

#[tokio::test]
async fn a_label_that_exists_in_another_case_is_the_one_attached_and_found() {
    let fake = fake();
    fake.create_label("Sextant-Drift", "5319e7");
    let gh = client(&fake);
    drift_branch(&gh).await;
    let pr = gh.create_pull(&new_pull("t")).await.unwrap().into_inner();
    let attached = gh
        .add_labels(pr.number, &["sextant-drift".into()])
        .await
        .unwrap();
    assert_eq!(
        attached,
        ["Sextant-Drift"],
        "GitHub attaches the label that exists"
    );
    let issue = gh
        .create_issue(&NewIssue {
            title: "unmapped".into(),
            labels: vec!["SEXTANT-drift".into()],
            ..NewIssue::default()
        })
        .await
        .unwrap();
    assert_eq!(issue.labels, ["Sextant-Drift"]);
    assert_eq!(fake.labels().len(), 1);
    let pulls = gh
        .list_pulls(&PullFilter {
            state: StateFilter::All,
            label: Some("sextant-drift".into()),
            ..PullFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        pulls.iter().map(|p| p.number).collect::<Vec<_>>(),
        [pr.number]
    );
    let issues = gh
        .list_issues("sextant-drift", StateFilter::All)
        .await
        .unwrap();
    assert_eq!(
        issues.iter().map(|i| i.number).collect::<Vec<_>>(),
        [issue.number]
    );
}

#[tokio::test]
async fn a_pull_request_on_a_known_branch_is_found_in_one_request_among_many() {
    let fake = fake();
    let gh = client(&fake);
    drift_branch(&gh).await;
    let ours = gh
        .create_pull(&new_pull("ours"))
        .await
        .unwrap()
        .into_inner();
    for i in 0..250 {
        fake.seed_pull(&format!("feature/{i}"), &format!("feature {i}"), &[])
            .unwrap();
    }
    fake.clear_requests();
    let found = gh
        .list_pulls(&PullFilter {
            state: StateFilter::All,
            head: Some("sextant/drift/prod/hash-service".into()),
            ..PullFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|p| p.number).collect::<Vec<_>>(),
        [ours.number]
    );
    assert_eq!(fake.requests().len(), 1, "one page, whatever else is open");
    // Without the filter the same list takes three pages of 100.
    fake.clear_requests();
    let all = gh
        .list_pulls(&PullFilter {
            state: StateFilter::All,
            ..PullFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 251);
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn an_unreachable_forge_is_named_with_its_cause_and_never_the_token() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "ghp_unreachable0000000000000000000000000";
    let mut c = sextant_forge::Config::new(
        format!("http://127.0.0.1:{port}"),
        "acme",
        "deploy",
        Auth::Token(Secret::new(secret)),
    );
    c.retry = fast_retry();
    let gh = GitHub::new(c).unwrap();
    let err = gh.branch_head("main").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(
        text.contains(&format!("cannot reach GitHub at 127.0.0.1:{port}")),
        "{text}"
    );
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!text.contains(secret), "{text}");
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let fake = fake();
    let (gh, rec) = observed(&fake);
    fake.inject(Fault::server_error(Match::path("/git/blobs").method("POST"), 502).times(2));
    gh.create_blob(b"x").await.unwrap();
    assert_eq!(codes(&rec, "create_blob"), vec![502, 502, 201]);
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/git/blobs"))
        .count();
    assert_eq!(posts, 3);
}

#[tokio::test]
async fn server_errors_that_persist_end_as_a_typed_server_error_after_bounded_attempts() {
    let fake = fake();
    let gh = client(&fake);
    fake.inject(Fault::server_error(Match::path("/pulls/1"), 503));
    let err = gh.get_pull(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Server {
                status: 503,
                attempts: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.metric_label(), "server");
    assert!(
        err.to_string()
            .contains("get_pull /repos/acme/deploy/pulls/1"),
        "{err}"
    );
    assert_eq!(fake.requests().len(), 5, "five attempts, no more");
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out_as_retry_after_asks() {
    let fake = fake();
    let (gh, rec) = observed(&fake);
    drift_branch(&gh).await;
    fake.inject(
        Fault::secondary_rate_limit(Match::path("/pulls").method("POST"), Duration::from_secs(1))
            .times(1),
    );
    fake.inject(Fault::too_many_requests(Match::path("/labels"), Duration::from_secs(1)).times(1));
    let pr = gh.create_pull(&new_pull("t")).await.unwrap();
    assert!(pr.created());
    gh.add_labels(pr.get().number, &["a".into()]).await.unwrap();
    assert_eq!(codes(&rec, "create_pull"), vec![403, 201]);
    assert_eq!(codes(&rec, "add_labels"), vec![429, 200]);
}

#[tokio::test]
async fn a_secondary_rate_limit_beyond_the_budget_fails_typed_without_waiting() {
    let fake = fake();
    let gh = client(&fake);
    fake.inject(Fault::secondary_rate_limit(
        Match::path("/git/blobs"),
        Duration::from_secs(120),
    ));
    let err = gh.create_blob(b"x").await.unwrap_err();
    match &err {
        Error::RateLimited {
            secondary,
            retry_after,
            ..
        } => {
            assert!(*secondary);
            assert_eq!(*retry_after, Some(Duration::from_secs(120)));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(err.metric_label(), "rate_limited");
    assert!(err.to_string().contains("retry after 120 s"), "{err}");
}

#[tokio::test]
async fn a_spent_primary_limit_fails_typed_and_later_calls_wait_for_the_reset_without_sending() {
    let fake = fake();
    let (gh, rec) = observed(&fake);
    gh.branch_head("main").await.unwrap();
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3600;
    fake.set_rate_limit(0, reset);
    let err = gh.get_pull(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RateLimited {
                secondary: false,
                reset: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(rec.remaining.lock().unwrap().last(), Some(&0));
    let sent = fake.requests().len();
    let err = gh.get_pull(1).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }));
    assert_eq!(
        fake.requests().len(),
        sent,
        "a call made while the limit is spent is not sent"
    );
}

#[tokio::test]
async fn a_spent_primary_limit_that_resets_within_the_budget_is_waited_out() {
    let fake = fake();
    let (gh, rec) = observed(&fake);
    gh.branch_head("main").await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Two seconds ahead, so the window cannot have turned before the request arrives.
    fake.set_rate_limit(0, now + 2);
    gh.branch_head("main").await.unwrap();
    assert_eq!(
        codes(&rec, "get_ref"),
        vec![200, 403, 304],
        "the retry after the reset is a cache hit"
    );
    assert!(
        fake.rate_limit().remaining > 0,
        "the window was refilled at its reset"
    );
}

#[tokio::test]
async fn the_remaining_limit_is_reported_as_it_falls() {
    let fake = fake();
    let (gh, rec) = observed(&fake);
    for _ in 0..3 {
        gh.create_blob(b"x").await.unwrap();
    }
    let seen = rec.remaining.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(seen.windows(2).all(|w| w[1] == w[0] - 1), "{seen:?}");
}

#[tokio::test]
async fn a_slow_answer_times_out_as_a_typed_transport_error_and_a_post_is_not_resent() {
    let fake = fake();
    let mut c = config(&fake, token(&fake));
    c.timeout = Duration::from_millis(200);
    let gh = GitHub::new(c).unwrap();
    fake.inject(Fault::delay(Match::path("/git/ref/"), Duration::from_secs(2)).times(5));
    let err = gh.branch_head("main").await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { attempts: 5, .. }),
        "{err:?}"
    );
    fake.inject(Fault::delay(Match::path("/issues"), Duration::from_secs(2)).times(1));
    let issue = NewIssue {
        title: "t".into(),
        ..NewIssue::default()
    };
    let err = gh.create_issue(&issue).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { attempts: 1, .. }),
        "{err:?}"
    );
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(
        posts, 1,
        "a POST that may have reached GitHub is not resent"
    );
    assert_eq!(err.metric_label(), "transport");
}

#[tokio::test]
async fn a_bad_token_is_a_typed_unauthorized_error_that_says_what_to_check() {
    let fake = fake();
    let gh = GitHub::new(config(&fake, Auth::Token(Secret::new("ghp_wrong")))).unwrap();
    let err = gh.branch_head("main").await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("401") && text.contains("token"), "{text}");
    assert!(
        text.contains("get_ref /repos/acme/deploy/git/ref/heads/main"),
        "{text}"
    );
    assert_eq!(fake.requests().len(), 1, "a fixed token is not retried");
}

#[tokio::test]
async fn a_missing_repository_is_a_typed_not_found_naming_it() {
    let fake = fake();
    let mut c = config(&fake, token(&fake));
    c.repo = "missing".into();
    let gh = GitHub::new(c).unwrap();
    let err = gh.branch_head("main").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("acme/missing") && text.contains("/repos/acme/missing/git/ref/heads/main"),
        "{text}"
    );
}

#[tokio::test]
async fn a_protected_branch_refusing_the_update_is_a_typed_error() {
    let fake = fake();
    let gh = client(&fake);
    let base = drift_branch(&gh).await;
    fake.protect(BRANCH);
    let err = gh
        .commit_files(BRANCH, &base, &[("a.txt", b"a".as_slice())], "m")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ProtectedBranch { .. }), "{err:?}");
    assert_eq!(err.metric_label(), "protected_branch");
    assert_eq!(
        fake.branch_sha(BRANCH).as_deref(),
        Some(base.as_str()),
        "the branch did not move"
    );
    let err = gh.delete_branch(BRANCH).await.unwrap_err();
    assert!(matches!(err, Error::ProtectedBranch { .. }), "{err:?}");
}

#[tokio::test]
async fn conflicts_and_validation_failures_are_typed() {
    let fake = fake();
    let gh = client(&fake);
    fake.inject(Fault::conflict(Match::path("/git/commits")).times(1));
    let err = gh
        .create_commit("m", "0000000000000000000000000000000000000000", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    // A real validation failure: a tree that does not exist.
    let err = gh
        .create_commit("m", "0000000000000000000000000000000000000000", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation { .. }) && !err.is_already_exists(),
        "{err:?}"
    );
    fake.inject(Fault::validation(Match::path("/issues"), "Label does not exist").times(1));
    match gh.create_issue(&NewIssue::default()).await.unwrap_err() {
        Error::Validation { errors, .. } => {
            assert_eq!(errors[0].message.as_deref(), Some("Label does not exist"))
        }
        other => panic!("expected Validation, got {other:?}"),
    }
}

#[tokio::test]
async fn conditional_gets_answer_from_the_cache_on_304_without_spending_the_limit() {
    let fake = fake();
    let (gh, rec) = observed(&fake);
    drift_branch(&gh).await;
    let pr = gh.create_pull(&new_pull("t")).await.unwrap().into_inner();
    let first = gh.get_pull(pr.number).await.unwrap();
    let remaining = fake.rate_limit().remaining;
    let second = gh.get_pull(pr.number).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(codes(&rec, "get_pull"), vec![200, 304]);
    assert_eq!(
        fake.rate_limit().remaining,
        remaining,
        "a 304 costs nothing"
    );
    let last = fake.requests().last().cloned().unwrap();
    assert!(last.if_none_match && last.status == 304);
    // A change shows through: the ETag no longer matches.
    fake.close(pr.number).unwrap();
    assert_eq!(gh.get_pull(pr.number).await.unwrap().state, State::Closed);
}

fn app(fake: &FakeGitHub) -> AppAuth {
    let o = fake.options().app.clone().unwrap();
    AppAuth::from_pem(o.app_id, o.installation_id, TEST_APP_KEY_PEM).unwrap()
}

#[tokio::test]
async fn an_app_installation_token_is_minted_once_and_reused() {
    let fake = fake();
    let gh = GitHub::new(config(&fake, Auth::App(app(&fake)))).unwrap();
    for _ in 0..3 {
        gh.branch_head("main").await.unwrap();
    }
    assert_eq!(fake.tokens_minted(), 1);
    let kinds: Vec<AuthKind> = fake.requests().iter().map(|r| r.auth).collect();
    assert_eq!(
        kinds,
        vec![
            AuthKind::Jwt,
            AuthKind::Installation,
            AuthKind::Installation,
            AuthKind::Installation
        ]
    );
}

#[tokio::test]
async fn an_app_token_is_refreshed_before_it_expires() {
    // Tokens that live 4 minutes are inside the 5-minute margin as soon as they are minted:
    // each call re-mints, and each token used is still valid at the fake.
    let fake = FakeGitHub::start(Options {
        app: Some(AppOptions {
            token_ttl: Duration::from_secs(240),
            ..AppOptions::default()
        }),
        ..Options::default()
    })
    .unwrap();
    let gh = GitHub::new(config(&fake, Auth::App(app(&fake)))).unwrap();
    gh.branch_head("main").await.unwrap();
    gh.branch_head("main").await.unwrap();
    assert_eq!(fake.tokens_minted(), 2);
    // With a 1-minute margin the same tokens are fresh and reused.
    let gh = GitHub::new(config(
        &fake,
        Auth::App(app(&fake).refresh_before(Duration::from_secs(60))),
    ))
    .unwrap();
    gh.branch_head("main").await.unwrap();
    gh.branch_head("main").await.unwrap();
    assert_eq!(fake.tokens_minted(), 3);
}

#[tokio::test]
async fn a_revoked_app_token_is_reminted_once() {
    let fake = fake();
    let gh = GitHub::new(config(&fake, Auth::App(app(&fake)))).unwrap();
    gh.branch_head("main").await.unwrap();
    fake.revoke_tokens();
    gh.branch_head("main").await.unwrap();
    assert_eq!(fake.tokens_minted(), 2);
}

#[tokio::test]
async fn a_token_file_is_reread_when_it_changes() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{}\n", fake.options().token)).unwrap();
    let gh = GitHub::new(config(&fake, Auth::TokenFile(path.clone()))).unwrap();
    gh.branch_head("main").await.unwrap();
    std::fs::write(&path, "ghp_rotated_but_wrong_token\n").unwrap();
    let err = gh.branch_head("main").await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn an_enterprise_base_url_works() {
    let fake = fake();
    let mut c = config(&fake, token(&fake));
    c.api_url = fake.enterprise_url();
    let gh = GitHub::new(c).unwrap();
    assert_eq!(
        gh.branch_head("main").await.unwrap().name,
        "refs/heads/main"
    );
}

#[tokio::test]
async fn writes_are_serialized() {
    let fake = fake();
    let gh = client(&fake);
    fake.inject(Fault::delay(Match::path("/git/blobs"), Duration::from_millis(20)).times(8));
    let writes = (0..8u8).map(|i| {
        let gh = gh.clone();
        async move { gh.create_blob(&[i]).await }
    });
    for r in futures_join(writes).await {
        r.unwrap();
    }
    assert_eq!(fake.max_concurrent_writes(), 1);
}

async fn futures_join<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Commit statuses: set on a commit, newest last; refused as GitHub refuses them (its answers
/// as other clients logged them: the OpenAPI description documents only the 201), typed as a
/// validation error naming what is wrong.
#[tokio::test]
async fn a_commit_status_is_set_and_a_long_description_or_an_unknown_commit_is_refused() {
    let fake = fake();
    let gh = client(&fake);
    let head = gh.branch_head("main").await.unwrap().sha;
    let set = gh
        .create_status(&head, "pending", "sextant/prod", "applying this commit")
        .await
        .unwrap();
    assert_eq!(
        (set.state.as_str(), set.context.as_str()),
        ("pending", "sextant/prod")
    );
    gh.create_status(&head, "success", "sextant/prod", "applied")
        .await
        .unwrap();
    let kept: Vec<String> = fake.statuses(&head).into_iter().map(|s| s.state).collect();
    assert_eq!(kept, ["pending", "success"]);

    // (sha, state, description, what the error says)
    let long = "x".repeat(141);
    let unknown = "0".repeat(40);
    let table = [
        (
            head.as_str(),
            "success",
            long.as_str(),
            "description is too long (maximum is 140 characters)",
        ),
        (
            head.as_str(),
            "done",
            "",
            "state is not included in the list",
        ),
        (unknown.as_str(), "success", "", "No commit found for SHA"),
    ];
    for (sha, state, description, says) in table {
        let e = gh
            .create_status(sha, state, "sextant/prod", description)
            .await
            .unwrap_err();
        assert_eq!(e.metric_label(), "validation", "{e}");
        assert!(e.to_string().contains(says), "{says:?} in {e}");
    }
    assert_eq!(fake.statuses(&head).len(), 2, "nothing refused was kept");
}
