//! GitSource against a real `git daemon` on 127.0.0.1: clone, fetch, no-change fetch,
//! snapshots, pruning and the failures a daemon must tell apart.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, git, Remote};
use sextant_source::{GitConfig, GitSource, Revision, SourceError};

fn source(remote: &Remote) -> GitSource {
    let mut cfg = GitConfig::new(&remote.url, "main", &remote.cache);
    cfg.timeout = Duration::from_secs(5);
    GitSource::new(cfg)
}

/// Every file under `root` (relative path → content), skipping nothing.
fn files(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn rev(hex: &str) -> Revision {
    Revision::parse(hex).unwrap()
}

#[test]
fn first_fetch_clones_and_returns_the_branch_head() {
    let remote = Remote::new();
    let head = remote.commit(&[("values.yaml", Some("replicas: 1\n"))], "first");
    let src = source(&remote);
    assert_eq!(src.fetch().unwrap(), rev(&head));
    assert!(remote.cache.join("repo.git").is_dir());
}

#[test]
fn a_new_commit_is_fetched() {
    let remote = Remote::new();
    let first = remote.commit(&[("values.yaml", Some("replicas: 1\n"))], "first");
    let src = source(&remote);
    assert_eq!(src.fetch().unwrap(), rev(&first));
    let second = remote.commit(&[("values.yaml", Some("replicas: 2\n"))], "second");
    assert_eq!(src.fetch().unwrap(), rev(&second));
}

#[test]
fn a_fetch_without_new_commits_returns_the_same_revision_and_does_nothing_else() {
    let remote = Remote::new();
    let head = remote.commit(&[("values.yaml", Some("replicas: 1\n"))], "first");
    let src = source(&remote);
    let first = src.fetch().unwrap();
    src.snapshot(&first).unwrap();
    let snapshots = dir_names(&remote.cache.join("snapshots"));
    let packs = dir_names(&remote.cache.join("repo.git/objects/pack"));

    assert_eq!(src.fetch().unwrap(), rev(&head));
    assert_eq!(
        dir_names(&remote.cache.join("snapshots")),
        snapshots,
        "no new snapshot"
    );
    assert_eq!(
        dir_names(&remote.cache.join("repo.git/objects/pack")),
        packs,
        "nothing downloaded"
    );
}

#[test]
fn a_snapshot_holds_exactly_the_files_of_its_commit() {
    let remote = Remote::new();
    let first = remote.commit(
        &[
            ("values.yaml", Some("replicas: 1\n")),
            ("envs/prod/values.yaml", Some("replicas: 3\n")),
            ("old.txt", Some("gone soon\n")),
        ],
        "first",
    );
    let second = remote.commit(
        &[
            ("envs/prod/values.yaml", Some("replicas: 5\n")),
            ("old.txt", None),
        ],
        "second",
    );
    let src = source(&remote);
    assert_eq!(src.fetch().unwrap(), rev(&second));

    let snap2 = src.snapshot(&rev(&second)).unwrap();
    assert_eq!(snap2.revision, rev(&second));
    assert_eq!(snap2.path, remote.cache.join("snapshots").join(&second));
    assert_eq!(
        files(&snap2.path),
        BTreeMap::from([
            (
                "envs/prod/values.yaml".to_owned(),
                "replicas: 5\n".to_owned()
            ),
            ("values.yaml".to_owned(), "replicas: 1\n".to_owned()),
        ])
    );

    // The older commit came with the fetch and can be checked out too.
    let snap1 = src.snapshot(&rev(&first)).unwrap();
    assert_eq!(files(&snap1.path).len(), 3);
    assert_eq!(files(&snap1.path)["old.txt"], "gone soon\n");
    assert!(
        !dir_names(&remote.cache.join("snapshots"))
            .iter()
            .any(|n| n.starts_with(".tmp")),
        "no temporary checkout left behind"
    );
}

#[test]
fn a_file_over_the_size_limit_is_left_out_of_the_snapshot_and_listed() {
    let remote = Remote::new();
    let big = "x".repeat(4096);
    let head = remote.commit(
        &[
            ("envs/prod/values.yaml", Some("replicas: 3\n")),
            ("docs/huge.bin", Some(big.as_str())),
            ("run.sh", Some("#!/bin/sh\n")),
        ],
        "a huge file",
    );
    let mut cfg = GitConfig::new(&remote.url, "main", &remote.cache);
    cfg.max_file_bytes = 1024;
    let src = GitSource::new(cfg);
    src.fetch().unwrap();
    let snap = src.snapshot(&rev(&head)).unwrap();
    let mut held = files(&snap.path);
    let listed = held.remove(sextant_source::OMITTED_FILE);
    assert_eq!(
        held.keys().collect::<Vec<_>>(),
        ["envs/prod/values.yaml", "run.sh"],
        "the huge file is not checked out"
    );
    assert_eq!(listed.as_deref(), Some("4096 docs/huge.bin\n"));
    assert_eq!(
        sextant_source::omitted(&snap.path),
        [("docs/huge.bin".to_string(), 4096)]
    );
    // Nothing over the limit: nothing listed.
    let small = remote.commit(&[("docs/huge.bin", None)], "gone");
    src.fetch().unwrap();
    let snap = src.snapshot(&rev(&small)).unwrap();
    assert!(sextant_source::omitted(&snap.path).is_empty());
    assert!(!snap.path.join(sextant_source::OMITTED_FILE).exists());
}

#[test]
fn snapshots_are_reused() {
    use std::os::unix::fs::MetadataExt;
    let remote = Remote::new();
    remote.commit(&[("values.yaml", Some("a: 1\n"))], "first");
    let src = source(&remote);
    let head = src.fetch().unwrap();
    let a = src.snapshot(&head).unwrap();
    let inode = std::fs::metadata(&a.path).unwrap().ino();
    let b = src.snapshot(&head).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        std::fs::metadata(&b.path).unwrap().ino(),
        inode,
        "same directory, not rewritten"
    );
}

#[test]
fn prune_keeps_only_the_given_snapshots() {
    let remote = Remote::new();
    let src = source(&remote);
    let mut revs = Vec::new();
    for i in 0..3 {
        remote.commit(&[("values.yaml", Some(&format!("n: {i}\n")))], "c");
        let head = src.fetch().unwrap();
        src.snapshot(&head).unwrap();
        revs.push(head);
    }
    std::fs::create_dir_all(remote.cache.join("snapshots/.tmp-crashed")).unwrap();

    let removed = src.prune_snapshots(&[&revs[0], &revs[2]]).unwrap();
    assert_eq!(removed, 2);
    assert_eq!(dir_names(&remote.cache.join("snapshots")), {
        let mut kept = vec![revs[0].to_string(), revs[2].to_string()];
        kept.sort();
        kept
    });
    // A pruned revision can be checked out again from the cache.
    assert!(src.snapshot(&revs[1]).unwrap().path.is_dir());
}

#[test]
fn a_force_push_back_in_history_is_followed() {
    let remote = Remote::new();
    let first = remote.commit(&[("values.yaml", Some("a: 1\n"))], "first");
    let src = source(&remote);
    remote.commit(&[("values.yaml", Some("a: 2\n"))], "second");
    src.fetch().unwrap();
    git(&remote.work, &["reset", "-q", "--hard", &first]);
    git(&remote.work, &["push", "-q", "-f", "origin", "HEAD:main"]);
    assert_eq!(src.fetch().unwrap(), rev(&first));
}

#[test]
fn a_missing_branch_is_named_in_the_error() {
    let remote = Remote::new();
    remote.commit(&[("values.yaml", Some("a: 1\n"))], "first");
    let mut cfg = GitConfig::new(&remote.url, "release-9", &remote.cache);
    cfg.timeout = Duration::from_secs(5);
    let err = GitSource::new(cfg).fetch().unwrap_err();
    assert!(
        matches!(&err, SourceError::BranchNotFound { branch, .. } if branch == "release-9"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"release-9\""), "{err}");
    assert!(!err.is_transient());
}

#[test]
fn a_snapshot_of_an_unfetched_revision_is_a_clear_error() {
    let remote = Remote::new();
    remote.commit(&[("values.yaml", Some("a: 1\n"))], "first");
    let src = source(&remote);
    src.fetch().unwrap();
    let unknown = rev("0123456789abcdef0123456789abcdef01234567");
    let err = src.snapshot(&unknown).unwrap_err();
    assert!(
        matches!(err, SourceError::RevisionNotFound { .. }),
        "{err:?}"
    );
    assert!(!remote
        .cache
        .join("snapshots")
        .join(unknown.as_str())
        .exists());
}

#[test]
fn an_unreachable_remote_fails_fast_and_is_transient() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port(); // closed: nothing listens
    let mut cfg = GitConfig::new(
        format!("git://127.0.0.1:{port}/repo.git"),
        "main",
        tmp.path().join("cache"),
    );
    cfg.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let err = GitSource::new(cfg).fetch().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient());
}

#[test]
fn a_silent_remote_times_out_within_the_configured_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    // Accepts connections (kernel backlog) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut cfg = GitConfig::new(
        format!("git://127.0.0.1:{port}/repo.git"),
        "main",
        tmp.path().join("cache"),
    );
    cfg.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = GitSource::new(cfg).fetch().unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(err.is_transient(), "{err:?}");
    drop(silent);
}

#[test]
fn credentials_in_the_url_never_reach_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = GitConfig::new(
        format!("https://bot:ghp_s3cr3t@127.0.0.1:{port}/repo.git"),
        "main",
        tmp.path().join("cache"),
    );
    cfg.timeout = Duration::from_secs(2);
    let src = GitSource::new(cfg);
    assert_eq!(
        src.redacted_url(),
        format!("https://***@127.0.0.1:{port}/repo.git")
    );
    let err = src.fetch().unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("ghp_s3cr3t") && !shown.contains("bot:"),
        "{shown}"
    );
    assert!(err.is_transient(), "{err:?}");
}

#[test]
fn a_missing_repository_is_not_mistaken_for_a_network_failure() {
    let remote = Remote::new();
    let mut cfg = GitConfig::new(remote.daemon.url("nope.git"), "main", &remote.cache);
    cfg.timeout = Duration::from_secs(5);
    let err = GitSource::new(cfg).fetch().unwrap_err();
    assert!(
        matches!(err, SourceError::RepositoryNotFound { .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[test]
fn an_invalid_branch_name_is_refused_before_any_network_call() {
    let tmp = tempfile::tempdir().unwrap();
    for branch in ["refs/heads/main", "bad..name", "with space", ""] {
        let cfg = GitConfig::new("git://127.0.0.1:1/repo.git", branch, tmp.path());
        let err = GitSource::new(cfg).fetch().unwrap_err();
        assert!(
            matches!(err, SourceError::InvalidBranch { .. }),
            "{branch:?}: {err:?}"
        );
    }
    assert!(!tmp.path().join("repo.git").exists(), "nothing created");
}

#[test]
fn a_pull_requests_head_is_fetched_diffed_and_exported_beside_the_tracked_branch() {
    let remote = Remote::new();
    let base = remote.commit(
        &[
            (
                "environments/prod/values/web.yaml",
                Some("replicaCount: 2\n"),
            ),
            ("docs/readme.md", Some("hello\n")),
        ],
        "base",
    );
    // GitHub keeps every pull request's head at refs/pull/<n>/head, forks' included.
    let head = remote.commit_to(
        "refs/pull/7/head",
        &[
            (
                "environments/prod/values/web.yaml",
                Some("replicaCount: 3\n"),
            ),
            ("docs/readme.md", None),
        ],
        "scale web",
    );
    let src = source(&remote);
    assert_eq!(src.fetch().unwrap(), rev(&base));
    let fetched = src.fetch_pull(7).unwrap();
    assert_eq!(fetched, rev(&head));
    assert_eq!(
        src.changed_paths(&rev(&base), &fetched).unwrap(),
        ["docs/readme.md", "environments/prod/values/web.yaml"]
    );
    let dest = remote.tmp.path().join("preview-head");
    let snapshot = src.export(&fetched, &dest).unwrap();
    assert_eq!(snapshot.revision, fetched);
    assert_eq!(
        files(&dest),
        BTreeMap::from([(
            "environments/prod/values/web.yaml".to_string(),
            "replicaCount: 3\n".to_string()
        )])
    );
    // The tracked branch moves on: what the pull request changes is still only its own.
    git(&remote.work, &["reset", "-q", "--hard", &base]);
    let moved = remote.commit(&[("README.md", Some("later\n"))], "a later commit on main");
    assert_eq!(src.fetch().unwrap(), rev(&moved));
    assert_eq!(
        src.changed_paths(&rev(&moved), &fetched).unwrap(),
        ["docs/readme.md", "environments/prod/values/web.yaml"]
    );
    // No snapshot was written for the pull request.
    assert!(dir_names(&remote.cache.join("snapshots")).is_empty());
    match src.fetch_pull(8) {
        Err(SourceError::Git { .. } | SourceError::RevisionNotFound { .. }) => {}
        other => panic!("a pull request that does not exist: {other:?}"),
    }
}
