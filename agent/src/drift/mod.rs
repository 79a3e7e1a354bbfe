//! Drift: where the live cluster departs from what the agent applied. The comparison and its
//! attribution are the pure core's (`sextant_core::drift`, `compare::Comparison`); here live what
//! the agent does about it: the policy's decision, the drift pull request, its proposal, and the
//! provenance that maps a live change back to the values key that would make Git say it.

pub mod policy;
pub mod pr;
pub mod proposal;
pub mod provenance;

pub use sextant_core::compare::owner;
pub use sextant_core::drift::*;
