//! Sextant, a GitOps agent. Data flows one way: source → render → plan → apply → drift.
//! This crate's library holds the pure decisions and the thin edges; `main.rs` only wires the CLI.

// Errors carry their context (file, field, release, object) by value: they travel once, on a cold
// path, and boxing each one would only add noise.
#![allow(clippy::result_large_err)]

// The pure core, under the names the rest of the agent has always used.
pub use sextant_core::{
    compare, creators, duration, environment, kinds, names, object, plan, promotion, requires,
    secrets, snapshot, values, yaml,
};
// The ports the edge crates implement (`sextant-forge`, `sextant-registry`).
pub use sextant_core::ports::{forge, registry};

pub mod apply;
pub mod config;
pub mod daemon;
pub mod drift;
pub mod live;
pub mod metrics;
pub mod render;
pub mod repo;
pub mod report;
pub mod signature;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Environment(#[from] environment::Error),
    #[error(transparent)]
    Render(#[from] render::Error),
    #[error(transparent)]
    Plan(#[from] plan::Error),
    #[error(transparent)]
    Requires(#[from] requires::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where rendered releases and fetched charts are kept when no folder is configured:
/// `$XDG_CACHE_HOME/sextant`, else `~/.cache/sextant`.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("sextant")
}

/// Loads, renders and plans one environment of the repository at `repo`; a kind a release
/// requires or uses that nothing provides in time is an error (`requires::check`).
pub fn plan_environment(
    renderer: &render::Renderer,
    repo: &Path,
    env: &str,
) -> Result<(environment::Environment, plan::Plan)> {
    let environment = environment::load(repo, env)?;
    let plan = plan_loaded(renderer, repo, &environment)?;
    Ok((environment, plan))
}

/// Renders and plans an environment already loaded from the checkout `repo`.
pub fn plan_loaded(
    renderer: &render::Renderer,
    repo: &Path,
    environment: &environment::Environment,
) -> Result<plan::Plan> {
    let rendered = renderer.render(environment, None)?;
    let plan = plan::build(&environment.name, repo::revision(repo), rendered.objects)?;
    requires::check(environment, &plan)?;
    Ok(plan)
}
