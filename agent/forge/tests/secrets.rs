//! No credential — a token, a token file's content, an installation token or an App JWT —
//! appears in an error (Display or Debug), a Debug print of the client or its settings, a log
//! line at any level (reqwest's and hyper's included), or a request's path, query or body.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use forge_testkit::{Fault, Match, TEST_APP_KEY_PEM};
use sextant_forge::{AppAuth, Auth, GitHub, NewPull, Secret};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_credential_reaches_an_error_a_debug_print_a_log_line_or_a_request_body() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let fake = fake();
    let mut seen = Vec::<String>::new();
    let good = fake.options().token.clone();
    let bad = "ghp_wrongtoken1234567890abcdefXYZ".to_string();

    // A fixed token: successes, a 401, a 404, retried 5xx and a rate limit.
    let gh = client(&fake);
    seen.push(format!("{gh:?}"));
    let base = gh.branch_head("main").await.unwrap();
    gh.commit_files(
        "sextant/x",
        &base.sha,
        &[("a.yaml", b"a: 1\n".as_slice())],
        "m",
    )
    .await
    .unwrap();
    gh.create_pull(&NewPull {
        title: "t".into(),
        head: "sextant/x".into(),
        base: "main".into(),
        ..NewPull::default()
    })
    .await
    .unwrap();
    fake.inject(Fault::server_error(Match::path("/pulls/1"), 500));
    let errors = [
        gh.get_pull(1).await.unwrap_err(),
        gh.file_at("missing.yaml", "main").await.unwrap_err(),
        GitHub::new(config(&fake, Auth::Token(Secret::new(bad.clone()))))
            .unwrap()
            .branch_head("main")
            .await
            .unwrap_err(),
    ];
    fake.clear_faults();

    // A token file, and a GitHub App (JWT, then installation tokens, one revoked).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, &good).unwrap();
    let from_file = config(&fake, Auth::TokenFile(file));
    seen.push(format!("{from_file:?}"));
    GitHub::new(from_file)
        .unwrap()
        .branch_head("main")
        .await
        .unwrap();
    let o = fake.options().app.clone().unwrap();
    let app = Auth::App(AppAuth::from_pem(o.app_id, o.installation_id, TEST_APP_KEY_PEM).unwrap());
    seen.push(format!("{app:?}"));
    let gh_app = GitHub::new(config(&fake, app)).unwrap();
    gh_app.branch_head("main").await.unwrap();
    fake.revoke_tokens();
    gh_app.branch_head("main").await.unwrap();
    fake.inject(Fault::unauthorized(Match::path("/git/ref/")));
    let app_err = gh_app.branch_head("main").await.unwrap_err();

    for e in errors.iter().chain([&app_err]) {
        seen.push(e.to_string());
        seen.push(format!("{e:?}"));
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("forge request"),
        "the logs were captured: {logs}"
    );
    seen.push(logs);

    let minted: Vec<String> = (1..=fake.tokens_minted())
        .map(|n| format!("ghs_fake{n:032}"))
        .collect();
    let mut secrets = vec![good.clone(), bad.clone(), "ghs_fake".into(), "eyJ".into()];
    secrets.extend(minted);
    secrets.push(TEST_APP_KEY_PEM.lines().nth(1).unwrap().to_string());
    for text in &seen {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a credential ({}…) leaked into:\n{text}",
                &s[..4.min(s.len())]
            );
        }
    }
    for r in fake.requests() {
        for s in &secrets {
            assert!(
                !r.leaks(s),
                "a credential was sent in {} {}'s path, query or body",
                r.method,
                r.path
            );
        }
    }
}
