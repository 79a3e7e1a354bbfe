//! The cache's history, read from real repositories built with the `git` CLI: the log of some
//! paths between two revisions (merges, folders, limits), files at a revision (symlinks
//! included) and the first-parent line, and how a caller finds where a digest last was.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::git;
use sextant_source::{GitConfig, GitSource, Log, Revision, SourceError};

const AAA: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BBB: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const CCC: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

/// A work repository (fetched through its path) whose commits get distinct, rising times, so
/// that "newest first" is well defined; the source's cache beside it.
struct Repo {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    source: GitSource,
    minutes: std::cell::Cell<i64>,
}

impl Repo {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir work");
        git(&work, &["init", "-q", "-b", "main"]);
        let cfg = GitConfig::new(work.to_string_lossy(), "main", tmp.path().join("cache"));
        Self {
            source: GitSource::new(cfg),
            work,
            _tmp: tmp,
            minutes: std::cell::Cell::new(0),
        }
    }

    fn write(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            let full = self.work.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, content).expect("write");
        }
    }

    fn symlink(&self, link: &str, target: &str) {
        let full = self.work.join(link);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, full).expect("symlink");
    }

    /// `git commit` of everything (or `args` for a merge), one minute after the last commit,
    /// at +02:00; returns the new head.
    fn commit_with(&self, args: &[&str]) -> Revision {
        self.minutes.set(self.minutes.get() + 1);
        // 2024-05-01T08:00:00Z plus a minute per commit.
        let date = format!("{} +0200", 1_714_550_400 + 60 * self.minutes.get());
        git(&self.work, &["add", "-A"]);
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.work)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Sextant Test")
            .env("GIT_AUTHOR_EMAIL", "test@sextant.invalid")
            .env("GIT_COMMITTER_NAME", "Sextant Test")
            .env("GIT_COMMITTER_EMAIL", "test@sextant.invalid")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.head()
    }

    fn commit(&self, files: &[(&str, &str)], message: &str) -> Revision {
        self.write(files);
        self.commit_with(&["commit", "-q", "-m", message])
    }

    fn head(&self) -> Revision {
        Revision::parse(&git(&self.work, &["rev-parse", "HEAD"])).expect("a commit id")
    }

    fn fetch(&self) -> Revision {
        self.source.fetch().expect("fetch from the work repository")
    }
}

fn values(digest: &str) -> String {
    format!("image:\n  repository: registry.example/web\n  digest: {digest}\n")
}

/// The history most tests read:
///
/// ```text
/// A  every file; dev and prod at AAA        (1)
/// B  dev → BBB                              (2)
/// C  charts/web-two changes                 (3)
/// |\
/// | S  charts/web gets a probe (side)       (4)
/// D  |  dev → CCC                           (5)
/// M  merge of the side, adds nothing        (6)
/// E  prod → CCC                             (7)
/// ```
struct Story {
    repo: Repo,
    a: Revision,
    b: Revision,
    c: Revision,
    s: Revision,
    d: Revision,
    m: Revision,
    e: Revision,
}

fn story() -> Story {
    let repo = Repo::new();
    let a = repo.commit(
        &[
            ("charts/web/Chart.yaml", "name: web\nversion: 1.0.0\n"),
            (
                "charts/web-two/Chart.yaml",
                "name: web-two\nversion: 1.0.0\n",
            ),
            ("envs/dev/values/web.yaml", &values(AAA)),
            ("envs/prod/values/web.yaml", &values(AAA)),
        ],
        "initial layout",
    );
    let b = repo.commit(
        &[("envs/dev/values/web.yaml", &values(BBB))],
        "dev: web sha256:bbb",
    );
    let c = repo.commit(
        &[(
            "charts/web-two/Chart.yaml",
            "name: web-two\nversion: 1.1.0\n",
        )],
        "web-two: 1.1.0",
    );
    git(&repo.work, &["checkout", "-q", "-b", "probe"]);
    let s = repo.commit(
        &[("charts/web/templates/deploy.yaml", "readinessProbe: {}\n")],
        "web: add a readiness probe\n\nThe probe waits for /readyz.",
    );
    git(&repo.work, &["checkout", "-q", "main"]);
    let d = repo.commit(
        &[("envs/dev/values/web.yaml", &values(CCC))],
        "dev: web sha256:ccc",
    );
    let m = repo.commit_with(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge branch 'probe'",
        "probe",
    ]);
    let e = repo.commit(
        &[("envs/prod/values/web.yaml", &values(CCC))],
        "promote(prod): web sha256:ccc",
    );
    assert_eq!(repo.fetch(), e);
    Story {
        repo,
        a,
        b,
        c,
        s,
        d,
        m,
        e,
    }
}

const WEB_IN_DEV: &[&str] = &["charts/web", "envs/dev/values/web.yaml"];

fn ids(log: &Log) -> Vec<&Revision> {
    log.entries.iter().map(|e| &e.id).collect()
}

#[test]
fn the_log_lists_the_commits_that_touched_the_paths_newest_first_with_their_details() {
    let st = story();
    let log = st.repo.source.log(None, &st.e, WEB_IN_DEV, 10).unwrap();
    assert_eq!(ids(&log), [&st.d, &st.s, &st.b, &st.a]);
    assert_eq!(log.left_out, 0);
    let probe = &log.entries[1];
    assert_eq!(probe.summary, "web: add a readiness probe");
    assert_eq!(probe.author, "Sextant Test");
    assert_eq!(probe.time, "2024-05-01T10:04:00+02:00");
    assert!(
        !ids(&log).contains(&&st.c),
        "charts/web does not match charts/web-two"
    );
}

#[test]
fn a_merge_that_brings_a_branch_in_is_not_listed_and_the_branch_commit_is_listed_once() {
    let st = story();
    let log = st
        .repo
        .source
        .log(Some(&st.c), &st.m, &["charts/web"], 10)
        .unwrap();
    assert_eq!(ids(&log), [&st.s]);
    let everything = st.repo.source.log(Some(&st.c), &st.m, &["."], 10).unwrap();
    assert_eq!(
        ids(&everything),
        [&st.d, &st.s],
        "the merge itself adds nothing"
    );
}

#[test]
fn a_merge_that_changes_something_itself_is_listed() {
    let st = story();
    let repo = &st.repo;
    git(&repo.work, &["checkout", "-q", "-b", "two"]);
    let f = repo.commit(
        &[("charts/web/Chart.yaml", "name: web\nversion: 2.0.0\n")],
        "web: 2.0.0",
    );
    git(&repo.work, &["checkout", "-q", "main"]);
    git(
        &repo.work,
        &["merge", "-q", "--no-ff", "--no-commit", "two"],
    );
    repo.write(&[("charts/web/values.yaml", "replicas: 2\n")]);
    let merge = repo.commit_with(&["commit", "-q", "-m", "Merge branch 'two', with its values"]);
    assert_eq!(repo.fetch(), merge);
    let log = repo
        .source
        .log(Some(&st.e), &merge, &["charts/web"], 10)
        .unwrap();
    assert_eq!(ids(&log), [&merge, &f]);
    let chart = repo
        .source
        .log(Some(&st.e), &merge, &["charts/web/Chart.yaml"], 10)
        .unwrap();
    assert_eq!(
        ids(&chart),
        [&f],
        "the merge took the file as the branch had it"
    );
}

#[test]
fn the_range_starts_after_from_and_a_path_may_be_a_file_in_a_folder() {
    let st = story();
    let src = &st.repo.source;
    assert_eq!(
        ids(&src.log(Some(&st.b), &st.e, WEB_IN_DEV, 10).unwrap()),
        [&st.d, &st.s]
    );
    let file = src
        .log(None, &st.e, &["charts/web/templates/deploy.yaml"], 10)
        .unwrap();
    assert_eq!(ids(&file), [&st.s]);
    let spelled = src.log(
        None,
        &st.e,
        &["./charts/web/", "envs//dev/values/web.yaml"],
        10,
    );
    assert_eq!(ids(&spelled.unwrap()), [&st.d, &st.s, &st.b, &st.a]);
    assert_eq!(
        src.log(Some(&st.e), &st.e, &["."], 10).unwrap(),
        Log::default()
    );
    let prod = src.log(None, &st.e, &["envs/prod"], 10).unwrap();
    assert_eq!(ids(&prod), [&st.e, &st.a]);
}

#[test]
fn the_limit_keeps_the_newest_and_counts_the_rest() {
    let st = story();
    let src = &st.repo.source;
    let one = src.log(None, &st.e, WEB_IN_DEV, 1).unwrap();
    assert_eq!((ids(&one), one.left_out), (vec![&st.d], 3));
    let none = src.log(None, &st.e, WEB_IN_DEV, 0).unwrap();
    assert_eq!((none.entries.len(), none.left_out), (0, 4));
    let nothing = src.log(None, &st.e, &["no/such/path"], 5).unwrap();
    assert_eq!(nothing, Log::default());
}

#[test]
fn first_parent_history_follows_the_branch_not_the_merged_side() {
    let st = story();
    let line = st.repo.source.first_parent_history(&st.e, 100).unwrap();
    assert_eq!(line, [st.e, st.m.clone(), st.d, st.c, st.b, st.a]);
    assert_eq!(
        st.repo.source.first_parent_history(&line[0], 2).unwrap(),
        [line[0].clone(), st.m]
    );
}

/// What the promotion needs: the commit where dev's values last held prod's digest, then the
/// log from there to dev's head.
#[test]
fn the_commit_where_a_values_file_last_held_a_digest_is_found_along_the_first_parents() {
    let st = story();
    let src = &st.repo.source;
    let held = |rev: &Revision, digest: &str| {
        src.file_at(rev, "envs/dev/values/web.yaml")
            .unwrap()
            .is_some_and(|bytes| String::from_utf8_lossy(&bytes).contains(digest))
    };
    let line = src.first_parent_history(&st.e, 100).unwrap();
    let last_bbb = line.iter().find(|rev| held(rev, BBB)).unwrap();
    assert_eq!(
        last_bbb, &st.c,
        "C is the newest commit at which dev still ran BBB"
    );
    let since = src.log(Some(last_bbb), &st.e, WEB_IN_DEV, 10).unwrap();
    assert_eq!(ids(&since), [&st.d, &st.s]);
    assert!(!line.iter().any(|rev| held(rev, "sha256:dddd")));
}

#[test]
fn file_at_reads_a_revisions_bytes_and_none_where_there_is_no_file() {
    let st = story();
    let src = &st.repo.source;
    let at = |rev: &Revision, path: &str| src.file_at(rev, path).unwrap();
    assert_eq!(
        at(&st.a, "envs/dev/values/web.yaml"),
        Some(values(AAA).into_bytes())
    );
    assert_eq!(
        at(&st.e, "./envs/dev/values/web.yaml"),
        Some(values(CCC).into_bytes())
    );
    assert_eq!(at(&st.a, "charts/web/templates/deploy.yaml"), None);
    assert_eq!(at(&st.e, "charts/web/Chart.yaml/deeper"), None);
    let err = src.file_at(&st.e, "charts/web").unwrap_err();
    assert!(
        matches!(&err, SourceError::NotAFile { what, .. } if what == "a folder"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "\"charts/web\" at revision {} is a folder, not a file",
            st.e
        )
    );
    let err = src.file_at(&st.e, "envs/../../etc/passwd").unwrap_err();
    assert!(matches!(err, SourceError::InvalidPath { .. }), "{err}");
    assert!(err.to_string().contains("without `..`"), "{err}");
}

#[test]
fn file_at_follows_symlinks_that_stay_inside_and_names_those_that_do_not() {
    let repo = Repo::new();
    repo.write(&[("shared/web.yaml", &values(AAA))]);
    repo.symlink("envs/prod/values/web.yaml", "../../../shared/web.yaml");
    repo.symlink("envs/staging", "prod");
    repo.symlink("envs/escape", "../../outside");
    repo.symlink("envs/loop-a", "loop-b");
    repo.symlink("envs/loop-b", "loop-a");
    repo.symlink("envs/gone", "nowhere.yaml");
    let rev = repo.commit(&[], "symlinks");
    repo.fetch();
    let src = &repo.source;
    let want = Some(values(AAA).into_bytes());
    assert_eq!(
        src.file_at(&rev, "envs/prod/values/web.yaml").unwrap(),
        want
    );
    assert_eq!(
        src.file_at(&rev, "envs/staging/values/web.yaml").unwrap(),
        want
    );
    assert_eq!(src.file_at(&rev, "envs/gone").unwrap(), None);
    for (path, what) in [
        ("envs/escape/x.yaml", "a symlink that leaves the repository"),
        ("envs/loop-a", "a loop of symlinks"),
    ] {
        let err = src.file_at(&rev, path).unwrap_err();
        assert!(
            matches!(&err, SourceError::NotAFile { what: w, .. } if w == what),
            "{path}: {err}"
        );
    }
}

#[test]
fn revisions_outside_the_cache_are_named_and_credentials_never_show() {
    let st = story();
    let src = &st.repo.source;
    let unknown = Revision::parse("0123456789abcdef0123456789abcdef01234567").unwrap();
    for err in [
        src.log(Some(&unknown), &st.e, &["."], 1).unwrap_err(),
        src.log(None, &unknown, &["."], 1).unwrap_err(),
        src.file_at(&unknown, "x").unwrap_err(),
        src.first_parent_history(&unknown, 1).unwrap_err(),
    ] {
        assert!(
            matches!(&err, SourceError::RevisionNotFound { revision, .. } if *revision == unknown.to_string()),
            "{err}"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let never_fetched = GitSource::new(GitConfig::new(
        "https://bot:ghp_secret@127.0.0.1:1/repo.git",
        "main",
        tmp.path().join("cache"),
    ));
    let err = never_fetched.log(None, &st.e, &["."], 1).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("ghp_secret") && !shown.contains("bot:"),
        "{shown}"
    );
    assert!(
        shown.contains("https://***@127.0.0.1:1/repo.git"),
        "{shown}"
    );
    assert!(
        !Path::new(&tmp.path().join("cache")).exists(),
        "reading never creates a cache"
    );
}
