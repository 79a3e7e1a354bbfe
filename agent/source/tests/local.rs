//! Local mode's snapshot: HEAD and the dirty flag of a working tree.

mod common;

use common::git;
use sextant_source::{export_revision, local_snapshot, Revision, SourceError};

fn repo() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(tmp.path().join(".gitignore"), "rendered/\n").unwrap();
    std::fs::write(tmp.path().join("values.yaml"), "replicas: 1\n").unwrap();
    git(tmp.path(), &["add", "-A"]);
    git(tmp.path(), &["commit", "-q", "-m", "first"]);
    let head = git(tmp.path(), &["rev-parse", "HEAD"]);
    (tmp, head)
}

#[test]
fn a_clean_repo_is_its_head_and_not_dirty() {
    let (tmp, head) = repo();
    let (snap, dirty) = local_snapshot(tmp.path()).unwrap();
    assert_eq!(snap.revision, Revision::parse(&head).unwrap());
    assert_eq!(snap.path, tmp.path().canonicalize().unwrap());
    assert!(!dirty);
}

#[test]
fn an_edited_tracked_file_makes_it_dirty() {
    let (tmp, head) = repo();
    std::fs::write(tmp.path().join("values.yaml"), "replicas: 2\n").unwrap();
    let (snap, dirty) = local_snapshot(tmp.path()).unwrap();
    assert_eq!(snap.revision.as_str(), head);
    assert!(dirty);
}

#[test]
fn an_untracked_file_makes_it_dirty_an_ignored_one_does_not() {
    let (tmp, _) = repo();
    std::fs::create_dir(tmp.path().join("rendered")).unwrap();
    std::fs::write(tmp.path().join("rendered/out.yaml"), "x").unwrap();
    assert!(!local_snapshot(tmp.path()).unwrap().1, "ignored file");
    std::fs::write(tmp.path().join("new-values.yaml"), "x").unwrap();
    assert!(local_snapshot(tmp.path()).unwrap().1, "untracked file");
}

#[test]
fn a_subdirectory_of_a_repo_reports_the_repo_head() {
    let (tmp, head) = repo();
    std::fs::create_dir(tmp.path().join("envs")).unwrap();
    std::fs::write(tmp.path().join("envs/a.yaml"), "a").unwrap();
    git(tmp.path(), &["add", "-A"]);
    git(tmp.path(), &["commit", "-q", "-m", "envs"]);
    let new_head = git(tmp.path(), &["rev-parse", "HEAD"]);
    assert_ne!(new_head, head);
    let (snap, dirty) = local_snapshot(&tmp.path().join("envs")).unwrap();
    assert_eq!(snap.revision.as_str(), new_head);
    assert!(snap.path.ends_with("envs"));
    assert!(!dirty);
}

#[test]
fn a_plain_directory_is_the_zero_revision() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("values.yaml"), "a: 1\n").unwrap();
    let (snap, dirty) = local_snapshot(tmp.path()).unwrap();
    assert!(snap.revision.is_zero());
    assert!(dirty, "nothing pins a tree outside git");
}

#[test]
fn a_repo_without_commits_is_the_zero_revision() {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q", "-b", "main"]);
    let (snap, _) = local_snapshot(tmp.path()).unwrap();
    assert!(snap.revision.is_zero());
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let err = local_snapshot(&tmp.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// A commit of the repository, by any name `git rev-parse` takes, checked out into a folder of
/// its own as Git holds it (the working tree's edits left out); a name that resolves to no
/// commit is `RevisionNotFound`, naming it.
#[test]
fn a_revision_is_exported_as_git_holds_it_whatever_the_working_tree_says() {
    let (tmp, first) = repo();
    std::fs::write(tmp.path().join("values.yaml"), "replicas: 2\n").unwrap();
    git(tmp.path(), &["commit", "-q", "-am", "second"]);
    std::fs::write(tmp.path().join("values.yaml"), "replicas: 3\n").unwrap();
    // (revision as given, the commit, values.yaml there)
    let table = [
        ("HEAD~1", first.clone(), "replicas: 1\n"),
        (first.as_str(), first.clone(), "replicas: 1\n"),
        (
            "main",
            git(tmp.path(), &["rev-parse", "main"]),
            "replicas: 2\n",
        ),
    ];
    for (rev, commit, values) in table {
        let dest = tempfile::tempdir().unwrap();
        let out = dest.path().join("checkout");
        let snap = export_revision(tmp.path(), rev, &out).unwrap();
        assert_eq!(snap.revision.as_str(), commit, "{rev}");
        assert_eq!(
            std::fs::read_to_string(out.join("values.yaml")).unwrap(),
            values,
            "{rev}"
        );
    }
    let dest = tempfile::tempdir().unwrap();
    match export_revision(tmp.path(), "no-such-branch", &dest.path().join("x")) {
        Err(SourceError::RevisionNotFound { revision, .. }) => {
            assert_eq!(revision, "no-such-branch")
        }
        other => panic!("{other:?}"),
    }
}
