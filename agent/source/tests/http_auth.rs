//! Token authentication over smart HTTP (Basic auth in front of `git http-backend` on
//! 127.0.0.1): the token from its file is accepted; a wrong or missing one is an `Auth` error
//! after a bounded number of attempts, and never shows up in the message.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::http_git::HttpGit;
use common::Remote;
use sextant_source::{Auth, GitConfig, GitSource, Revision, SourceError};

struct Setup {
    remote: Remote,
    server: HttpGit,
    head: String,
}

fn setup() -> Setup {
    let remote = Remote::new();
    let head = remote.commit(&[("values.yaml", Some("replicas: 1\n"))], "first");
    let server = HttpGit::start(&remote.tmp.path().join("srv"), "bot:s3cr3t-t0ken");
    Setup {
        remote,
        server,
        head,
    }
}

fn source(s: &Setup, auth: Auth) -> GitSource {
    let mut cfg = GitConfig::new(
        s.server.url("repo.git"),
        "main",
        s.remote.tmp.path().join("http-cache"),
    );
    cfg.auth = auth;
    cfg.timeout = Duration::from_secs(5);
    GitSource::new(cfg)
}

fn token_auth(s: &Setup, token: &str) -> Auth {
    let token_file = s.remote.tmp.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    Auth::Token {
        username: "bot".into(),
        token_file,
    }
}

#[test]
fn the_token_from_its_file_is_accepted() {
    let s = setup();
    let auth = token_auth(&s, "s3cr3t-t0ken");
    let src = source(&s, auth);
    assert_eq!(src.fetch().unwrap(), Revision::parse(&s.head).unwrap());
    let snap = src.snapshot(&Revision::parse(&s.head).unwrap()).unwrap();
    assert_eq!(
        std::fs::read_to_string(snap.path.join("values.yaml")).unwrap(),
        "replicas: 1\n"
    );
}

#[test]
fn a_wrong_token_is_an_auth_error_after_one_attempt() {
    let s = setup();
    let auth = token_auth(&s, "wrong-t0ken");
    let err = source(&s, auth).fetch().unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(!err.is_transient());
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("wrong-t0ken") && !shown.contains("s3cr3t"),
        "{shown}"
    );
    // One anonymous request, one with the token; no retry loop.
    assert!(s.server.requests.load(Ordering::SeqCst) <= 3);
}

#[test]
fn no_credentials_for_a_protected_remote_is_an_auth_error() {
    let s = setup();
    let err = source(&s, Auth::None).fetch().unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("none are configured"), "{err}");
}

#[test]
fn a_missing_token_file_names_the_file() {
    let s = setup();
    let token_file = s.remote.tmp.path().join("absent-token");
    let err = source(
        &s,
        Auth::Token {
            username: "bot".into(),
            token_file: token_file.clone(),
        },
    )
    .fetch()
    .unwrap_err();
    assert!(
        matches!(&err, SourceError::CredentialFile { path, .. } if *path == token_file),
        "{err:?}"
    );
    assert_eq!(
        s.server.requests.load(Ordering::SeqCst),
        0,
        "failed before any request"
    );
}
