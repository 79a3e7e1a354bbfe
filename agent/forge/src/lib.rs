//! `sextant-forge`: Sextant's edge to GitHub (github.com or Enterprise Server), over REST and
//! the Git Data API. It knows nothing of the agent: the core defines a small `Forge` trait and a
//! thin adapter implements it over [`GitHub`], mapping the plain types of [`types`].
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
//! The forge's job is mostly failure handling, and it needs the raw HTTP for it: the status
//! code of every answer (for `sextant_forge_requests_total{operation,code}` and typed
//! errors), `Retry-After` and `x-ratelimit-*` headers, `If-None-Match`/304 on every GET, one
//! lock over all writes, and full control of what reaches a log or an error (a token, a JWT).
//! octocrab (0.4x) wraps hyper in a tower stack and returns `octocrab::Error::GitHub` with the
//! body's message but hides the response headers of typed calls; conditional requests exist
//! only on a few list calls (`Etagged`); its retry layer is a generic tower retry without
//! GitHub's rate-limit semantics; and it pulls its own HTTP stack (hyper-rustls, tower,
//! tower-http, jsonwebtoken, snafu, secrecy, chrono, …) beside the reqwest the workspace
//! already chose. The Git Data calls Sextant makes are fourteen small JSON requests; a
//! client of our own over reqwest is shorter than the adapter octocrab would need.
//!
//! ## Behaviour
//! - Auth: [`Auth::Token`], [`Auth::TokenFile`] (re-read when the file changes, and once on a
//!   401), or [`Auth::App`] (RS256 JWT signed with ring, traded for an installation token that
//!   is cached and re-minted [`AppAuth::refresh_before`] its `expires_at`, default 5 minutes).
//! - Writes are serialized; GETs are conditional (ETag cache by path and query).
//! - Rate limits: `Retry-After`, secondary limits (403/429 "secondary rate limit"), and the
//!   primary limit (`x-ratelimit-remaining: 0` until `x-ratelimit-reset`) are waited out when
//!   the wait fits [`RetryPolicy::budget`], else [`Error::RateLimited`]. 5xx and transport
//!   errors are retried with doubling backoff up to [`RetryPolicy::max_attempts`].
//! - A 422 "already exists" on a create is [`Outcome::AlreadyExists`], carrying the object.
//! - Errors name the operation and URL path (never a query, never a credential), and have a
//!   [`Error::metric_label`]. Credentials are [`Secret`]s: `Debug` prints nothing of them.
//! - Metrics: implement [`Observer`] and pass it to [`GitHub::with_observer`].

mod api;
mod auth;
mod client;
pub mod error;
pub mod types;

pub use api::GitHub;
pub use auth::{AppAuth, Auth, Secret};
pub use client::{Config, NoObserver, Observer, RetryPolicy};
pub use error::{Error, FieldError, Result};
pub use types::{
    Comment, Commit, FileContent, GitRef, Issue, NewIssue, NewPull, Outcome, PullFilter,
    PullRequest, State, StateFilter, Update,
};
