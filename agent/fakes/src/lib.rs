//! In-memory fakes of the core's ports, for table tests of the daemon's loops under a paused
//! clock: [`FakeForge`] (a repository with branches, commits, pull requests and issues) and
//! [`FakeRegistry`] (digests that exist, or not). Each one keeps the calls it answered and
//! fails on request, as the edge would fail (typed, with the edge's labels).
//!
//! A fake agrees with the code that uses it by construction; what keeps it honest is
//! `tests/contract.rs`, which runs one list of expectations against the fake and against the
//! real edge (`sextant-forge` over the fake GitHub server, itself checked against GitHub's
//! OpenAPI description and recorded answers).

mod forge;
mod registry;

pub use forge::{Call, FakeForge, Stored};
pub use registry::FakeRegistry;
