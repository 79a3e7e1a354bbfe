//! `forge-testkit`: a fake GitHub for tests — the REST and Git Data endpoints Sextant's forge
//! client uses, over a real bare git repository, with GitHub App token exchange, ETags, the
//! primary rate limit, fault injection, driver actions (merge, close, protect) and a request
//! log; plus `openapi`, which checks shapes against GitHub's official OpenAPI description, and
//! `fixtures`, real answers Octokit recorded, to hold the fake's to.
//! Test infrastructure only.
//!
//! ```no_run
//! use forge_testkit::{FakeGitHub, Options};
//! let gh = FakeGitHub::start(Options::default()).unwrap();
//! let api = gh.url();             // http://127.0.0.1:PORT (or gh.enterprise_url(): …/api/v3)
//! let token = gh.options().token.clone();
//! // … run the client; then drive and inspect:
//! // gh.merge(1), gh.close(1), gh.protect("main"), gh.pulls(), gh.requests(), gh.file("main", "a.yaml")
//! # let _ = (api, token);
//! ```

#![recursion_limit = "256"]

mod deployments;
pub mod faults;
pub mod fixtures;
pub mod git;
mod gitdata;
mod issues;
pub mod openapi;
mod options;
mod pulls;
mod reply;
mod routes;
pub mod server;
mod shapes;
mod shared;
pub mod state;
mod statuses;
mod time;

pub use faults::{Action, AuthKind, Fault, Match, RequestRecord};
pub use server::{AppOptions, Error, FakeGitHub, Options, TEST_APP_KEY_PEM};
pub use state::{Comment, Issue, Label, PullRequest, RateLimit, StatusRecord};
