//! One list of expectations of the forge port, run against the in-memory fake and against the
//! real edge (`sextant-forge`'s GitHub client over the fake GitHub server, which is itself
//! checked against GitHub's OpenAPI description and recorded answers). A behaviour the loops'
//! table tests rely on and the fake gets wrong fails here.

use forge_testkit::{FakeGitHub, Options};
use sextant_core::ports::forge::{CommitStatus, ErrorKind, Forge, Kind, Query, StatusState};
use sextant_fakes::FakeForge;
use sextant_forge::{Auth, Config, GitHub, Secret};

/// What the expectations need beyond the port: a person's commit, a reviewer's merge, and the
/// deployment statuses a commit got, as (environment, state).
trait World {
    fn push(&self, branch: &str, files: &[(&str, &[u8])]) -> String;
    fn merge(&self, number: u64);
    fn deployments(&self, sha: &str) -> Vec<(String, String)>;
}

impl World for FakeForge {
    fn push(&self, branch: &str, files: &[(&str, &[u8])]) -> String {
        self.seed(branch, files)
    }
    fn merge(&self, number: u64) {
        FakeForge::merge(self, number).expect("an open pull request");
    }
    fn deployments(&self, sha: &str) -> Vec<(String, String)> {
        FakeForge::deployments(self, sha)
            .into_iter()
            .map(|(e, s)| (e, s.to_string()))
            .collect()
    }
}

impl World for FakeGitHub {
    fn push(&self, branch: &str, files: &[(&str, &[u8])]) -> String {
        self.seed(branch, files, "a person's commit").unwrap()
    }
    fn merge(&self, number: u64) {
        FakeGitHub::merge(self, number).unwrap();
    }
    fn deployments(&self, sha: &str) -> Vec<(String, String)> {
        FakeGitHub::deployments(self)
            .into_iter()
            .filter(|d| d.sha == sha)
            .flat_map(|d| {
                let environment = d.environment.clone();
                d.statuses
                    .into_iter()
                    .map(move |s| (environment.clone(), s.state))
            })
            .collect()
    }
}

const VALUES: &str = "environments/prod/values/web.yaml";

fn files(text: &str) -> Vec<(String, Vec<u8>)> {
    vec![(VALUES.to_string(), text.as_bytes().to_vec())]
}

async fn expectations(forge: &impl Forge, world: &impl World, name: &str) {
    let main = world.push("main", &[(VALUES, b"replicas: 2\n")]);
    assert_eq!(forge.head("main").await.unwrap(), main, "{name}: head");
    assert_eq!(
        forge.file(VALUES, &main).await.unwrap().as_deref(),
        Some(&b"replicas: 2\n"[..]),
        "{name}: a file at a commit"
    );
    assert_eq!(
        forge.file("nope.yaml", &main).await.unwrap(),
        None,
        "{name}: no file"
    );
    let missing = forge.head("no-such-branch").await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Permanent, "{name}: {missing:?}");

    // A drift pull request: a commit on its own branch, the request, found again by branch.
    let branch = "sextant/drift/prod/web";
    let commit = forge
        .commit(branch, &main, &files("replicas: 5\n"), "drift")
        .await
        .unwrap();
    assert_eq!(
        forge.head(branch).await.unwrap(),
        commit,
        "{name}: the branch"
    );
    let pr = forge
        .open_pull("drift: replicas", "body <!-- m -->", branch, "main")
        .await
        .unwrap();
    assert!(
        pr.open && !pr.merged && pr.kind == Kind::PullRequest,
        "{name}: {pr:?}"
    );
    let again = forge.open_pull("twice", "b", branch, "main").await.unwrap();
    assert_eq!(
        again.number, pr.number,
        "{name}: a second open is the first one"
    );
    let empty = forge
        .open_pull("nothing", "b", "main", "main")
        .await
        .unwrap_err();
    assert_eq!(
        empty.kind,
        ErrorKind::Permanent,
        "{name}: no commits: {empty:?}"
    );
    forge
        .edit(pr.number, Kind::PullRequest, "drift: replicas 5", "body 2")
        .await
        .unwrap();
    forge
        .decorate(
            pr.number,
            Kind::PullRequest,
            &["sextant-drift".into()],
            &[],
            &[],
        )
        .await
        .unwrap();
    forge.comment(pr.number, "still drifted").await.unwrap();

    // A preview's reading and writing: the open pull requests into main with their head, and
    // one comment found again and edited in place.
    let open = forge.open_pulls("main").await.unwrap();
    let listed: Vec<(u64, &str, bool)> = open
        .iter()
        .map(|p| (p.number, p.head_sha.as_str(), p.from_fork))
        .collect();
    assert_eq!(listed, [(pr.number, commit.as_str(), false)], "{name}");
    assert!(
        forge.open_pulls("other").await.unwrap().is_empty(),
        "{name}: by base"
    );
    let posted = forge
        .add_comment(pr.number, "<!-- preview --> first")
        .await
        .unwrap();
    forge
        .edit_comment(posted.id, "<!-- preview --> second")
        .await
        .unwrap();
    let bodies: Vec<String> = forge
        .comments(pr.number)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(
        bodies,
        ["still drifted", "<!-- preview --> second"],
        "{name}: oldest first, edited in place"
    );

    let query = Query {
        branches: vec![branch.into(), "sextant/drift/prod/other".into()],
        issue_label: Some("Sextant-Drift".into()),
    };
    let found = forge.requests(&query).await.unwrap();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    assert_eq!(
        (found[0].number, found[0].body.as_str()),
        (pr.number, "body 2"),
        "{name}"
    );

    // An issue, found by its label in any case; a pull request is never listed as an issue.
    let issue = forge
        .open_issue("drift: unmapped", "issue body", &["sextant-drift".into()])
        .await
        .unwrap();
    assert_eq!(issue.kind, Kind::Issue, "{name}");
    assert_ne!(issue.number, pr.number, "{name}: one number space");
    let found = forge.requests(&query).await.unwrap();
    let kinds: Vec<(u64, Kind)> = found.iter().map(|r| (r.number, r.kind)).collect();
    assert_eq!(
        kinds,
        [(pr.number, Kind::PullRequest), (issue.number, Kind::Issue)],
        "{name}"
    );
    forge.close(issue.number, Kind::Issue).await.unwrap();

    // A reviewer's merge: closed and merged, its change on main.
    world.merge(pr.number);
    let found = forge.requests(&query).await.unwrap();
    let merged = found.iter().find(|r| r.number == pr.number).unwrap();
    assert!(!merged.open && merged.merged, "{name}: {merged:?}");
    let closed = found.iter().find(|r| r.number == issue.number).unwrap();
    assert!(!closed.open && !closed.merged, "{name}: {closed:?}");
    let head = forge.head("main").await.unwrap();
    assert_eq!(
        forge.file(VALUES, &head).await.unwrap().as_deref(),
        Some(&b"replicas: 5\n"[..]),
        "{name}: merged"
    );
    forge.delete_branch(branch).await.unwrap();
    forge.delete_branch(branch).await.unwrap();
    assert!(forge.head(branch).await.is_err(), "{name}: deleted");

    // A promotion's commit on main: from the head read, else a conflict and nothing written.
    let promoted = forge
        .advance("main", &head, &files("replicas: 7\n"), "promote")
        .await
        .unwrap();
    let theirs = world.push("main", &[("README.md", b"# edited\n")]);
    let lost = forge
        .advance("main", &promoted, &files("replicas: 9\n"), "promote")
        .await
        .unwrap_err();
    assert!(lost.is_conflict(), "{name}: {lost:?}");
    assert_eq!(
        forge.head("main").await.unwrap(),
        theirs,
        "{name}: theirs kept"
    );
    assert_eq!(
        forge.file(VALUES, "main").await.unwrap().as_deref(),
        Some(&b"replicas: 7\n"[..]),
        "{name}: a file at a branch name"
    );

    // Commit statuses: on a commit the repository holds; a commit it does not hold is a
    // permanent validation error (GitHub: 422 "No commit found for SHA").
    let status = CommitStatus::new("sextant/prod", StatusState::Pending, "applying this commit");
    forge.set_status(&theirs, &status).await.unwrap();
    let done = CommitStatus::new("sextant/prod", StatusState::Success, &"é".repeat(300));
    forge
        .set_status(&theirs, &done)
        .await
        .unwrap_or_else(|e| panic!("{name}: a cut description is taken: {e:?}"));
    // The commit's deployment to prod: one, with a status per step (GitHub's names).
    forge
        .deployment_status(&theirs, "prod", &status)
        .await
        .unwrap();
    forge
        .deployment_status(&theirs, "prod", &done)
        .await
        .unwrap();
    assert_eq!(
        world.deployments(&theirs),
        [
            ("prod".to_string(), "in_progress".to_string()),
            ("prod".to_string(), "success".to_string())
        ],
        "{name}"
    );
    let undeployable = forge
        .deployment_status(&"0".repeat(40), "prod", &status)
        .await
        .unwrap_err();
    assert_eq!(
        undeployable.kind,
        ErrorKind::Permanent,
        "{name}: {undeployable:?}"
    );
    let unknown = forge
        .set_status(&"0".repeat(40), &status)
        .await
        .unwrap_err();
    assert_eq!(
        (unknown.kind, unknown.label),
        (ErrorKind::Permanent, "validation"),
        "{name}: {unknown:?}"
    );
}

#[tokio::test]
async fn the_fake_forge_answers_as_the_github_edge_does() {
    let fake = FakeForge::new();
    expectations(&fake, &fake, "fake").await;

    let server = FakeGitHub::start(Options::default()).expect("the fake GitHub");
    let o = server.options();
    let auth = Auth::Token(Secret::new(o.token.clone()));
    let github = GitHub::new(Config::new(server.url(), &o.owner, &o.repo, auth)).unwrap();
    expectations(&github, &server, "github").await;
    let head = server.branch_sha("main").unwrap();
    let states: Vec<String> = server
        .statuses(&head)
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(
        states,
        ["pending", "success"],
        "the fake GitHub kept both, in order"
    );
}

#[tokio::test]
async fn an_injected_failure_is_typed_as_the_edge_types_it_and_then_clears() {
    let fake = FakeForge::new();
    fake.fail("requests", FakeForge::unauthorized(), 2);
    let query = Query::default();
    for _ in 0..2 {
        let e = fake.requests(&query).await.unwrap_err();
        assert_eq!((e.kind, e.label), (ErrorKind::Permanent, "unauthorized"));
    }
    assert!(fake.requests(&query).await.is_ok());
    assert_eq!(fake.count("requests"), 3);
    fake.fail("*", FakeForge::unavailable(), 1);
    assert_eq!(
        fake.head("main").await.unwrap_err().kind,
        ErrorKind::Transient
    );
}
