//! Sextant's pure core: what an environment declares, the values and plan it yields, how Git's
//! objects compare with live ones, and the limits on what the agent reads. No I/O client lives
//! here — no Kubernetes, Git, HTTP or async runtime — so every decision is tested as a table; the
//! agent crate's edges and loops call it.

// Errors carry their context (file, field, release, object) by value: they travel once, on a cold
// path, and boxing each one would only add noise.
#![allow(clippy::result_large_err)]

pub mod backoff;
pub mod compare;
pub mod creators;
pub mod drift;
pub mod duration;
pub mod environment;
pub mod kinds;
pub mod names;
pub mod object;
pub mod plan;
pub mod ports;
pub mod preview;
pub mod promotion;
pub mod requires;
pub mod secrets;
pub mod shard;
pub mod snapshot;
pub mod values;
pub mod yaml;
