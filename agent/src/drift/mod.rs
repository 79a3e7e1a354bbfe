//! Drift: where the live cluster departs from what the agent applied. The comparison, its
//! attribution, the policy's decision and the drift pull request's lifecycle are the pure
//! core's (`sextant_core::drift`, `compare::Comparison`); here live the pull request's proposal
//! and the provenance that maps a live change back to the values key that would make Git say it
//! (it renders, through `render::Renderer`).

pub mod proposal;
pub mod provenance;

pub use sextant_core::compare::owner;
pub use sextant_core::drift::*;
