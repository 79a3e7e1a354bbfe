//! How a fake GitHub is set up: its repository, token, App and limits.

use std::net::SocketAddr;
use std::time::Duration;

/// The test GitHub App's private key (test-only, generated for this crate; never a real App's).
pub const TEST_APP_KEY_PEM: &str = include_str!("../fixtures/test-app-key.pem");

/// A GitHub App the fake accepts JWTs from.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub app_id: String,
    pub installation_id: u64,
    /// The App's private key (PEM); the fake verifies JWTs with its public half.
    pub key_pem: String,
    /// How long minted installation tokens live (GitHub: 1 hour).
    pub token_ttl: Duration,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            app_id: "4242".into(),
            installation_id: 77,
            key_pem: TEST_APP_KEY_PEM.into(),
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// How a fake GitHub behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep it on 127.0.0.1; port 0 picks a free port.
    pub addr: SocketAddr,
    pub owner: String,
    pub repo: String,
    pub default_branch: String,
    /// The personal token the fake accepts (`Authorization: Bearer …` or `token …`).
    pub token: String,
    pub app: Option<AppOptions>,
    /// The primary rate limit per window (`x-ratelimit-limit`).
    pub rate_limit: i64,
    /// The login that authors pull requests, issues and comments.
    pub actor: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            owner: "acme".into(),
            repo: "deploy".into(),
            default_branch: "main".into(),
            token: "ghp_testtoken0000000000000000000000000000".into(),
            app: Some(AppOptions::default()),
            rate_limit: 5000,
            actor: "sextant-bot".into(),
        }
    }
}
