//! `sextant-forge`: Sextant's edge to GitHub (github.com or Enterprise Server), over REST and
//! the Git Data API. It knows nothing of the agent's loops: the core defines a small `Forge` trait
//! (`sextant_core::ports::forge`) and `port.rs` implements it over [`GitHub`], mapping the plain
//! types of [`types`].
//!
//! ```no_run
//! # async fn demo() -> sextant_forge::Result<()> {
//! use sextant_forge::{Auth, Config, GitHub, NewPull};
//! let gh = GitHub::new(Config::new(
//!     "https://api.github.com", "acme", "deploy",
//!     Auth::TokenFile("/var/run/secrets/github/token".into()),
//! ))?;
//! let base = gh.branch_head("main").await?;
//! let files = [("environments/prod/values/hash-service.yaml", b"replicaCount: 5\n".as_slice())];
//! gh.commit_files("sextant/drift/prod/hash-service", &base.sha, &files, "drift: replicaCount 3 → 5").await?;
//! let pr = gh.create_pull(&NewPull {
//!     title: "drift(prod/hash-service): replicaCount 3 → 5".into(),
//!     head: "sextant/drift/prod/hash-service".into(),
//!     base: "main".into(),
//!     ..NewPull::default()
//! }).await?.into_inner();
//! # let _ = pr; Ok(()) }
//! ```
//!
//! ## Why reqwest and not octocrab
//! The forge's job is mostly failure handling, and that needs the raw HTTP exchange: the status
//! of every answer (for `sextant_forge_requests_total{operation,code}` and typed errors),
//! `Retry-After` and `x-ratelimit-*`, `If-None-Match`/304 on the GETs we repeat, one lock over
//! all writes, and full control of what reaches a log or an error. Checked against octocrab
//! 0.54.9 (the latest on crates.io when this was written):
//! - ETags: only a few list calls (events, workflow artifacts) return `Etagged`; pulls, refs,
//!   contents and issues have no conditional GET.
//! - Retries: the default is `RetryConfig::Simple(3)`; `HandleRateLimits` waits until
//!   `x-ratelimit-reset` however far away it is (no budget), and retries 5xx immediately (no
//!   backoff). Its `RateLimitMetrics` hears retries, not every answer, so a per-request metric
//!   needs a tower layer of our own.
//! - Nothing serializes writes, which GitHub asks of integrations to avoid secondary limits.
//! - Dependencies: its own HTTP stack (hyper, hyper-util, hyper-rustls, hyper-timeout, tower,
//!   tower-http; reqwest is only an optional connector), jsonwebtoken with aws-lc-rs by default
//!   (a C build), snafu, secrecy, chrono, arc-swap — beside the reqwest the workspace already uses.
//!
//! Errors there do carry the status and headers (`GitHubError`), so octocrab would work; but
//! the fourteen small JSON calls Sextant makes are shorter to write over reqwest than the
//! layers octocrab would need around them. The JWT is signed with ring (already in the tree
//! through rustls), not jsonwebtoken, for the same reason.
//!
//! ## Behaviour
//! - Auth: [`Auth::Token`], [`Auth::TokenFile`] (re-read when the file changes, and once on a
//!   401), or [`Auth::App`] (RS256 JWT signed with ring, traded for an installation token that
//!   is cached and re-minted [`AppAuth::refresh_before`] its `expires_at`, default 5 minutes).
//! - Writes are serialized; GETs are conditional (ETag cache by path and query).
//! - Rate limits: `Retry-After`, secondary limits (403/429 "secondary rate limit"), and the
//!   primary limit (`x-ratelimit-remaining: 0` until `x-ratelimit-reset`) are waited out when
//!   the wait fits [`RetryPolicy::budget`], else [`Error::RateLimited`]. 5xx and transport
//!   errors are retried with doubling backoff up to [`RetryPolicy::max_attempts`]; a POST
//!   that timed out after connecting is not resent (it could open a second issue).
//! - A 422 "already exists" on a create is [`Outcome::AlreadyExists`], carrying the object.
//! - Errors name the operation and URL path (never a query, never a credential), and have a
//!   [`Error::metric_label`]. Credentials are [`Secret`]s: `Debug` prints nothing of them.
//! - Metrics: implement [`Observer`] and pass it to [`GitHub::with_observer`].

mod api;
mod auth;
mod client;
mod deployments;
pub mod error;
mod limits;
mod port;
pub mod types;

pub use api::GitHub;
pub use auth::{AppAuth, Auth, Secret};
pub use client::{Config, NoObserver, Observer, RetryPolicy};
pub use deployments::Deployment;
pub use error::{Error, FieldError, Result};
pub use types::{
    Comment, Commit, FileContent, GitRef, Issue, NewIssue, NewPull, Outcome, PullFilter,
    PullRequest, State, StateFilter, Status, Update,
};
