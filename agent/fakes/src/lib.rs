//! In-memory fakes of the core's ports, for table tests of the daemon's loops under a paused
//! clock: [`FakeForge`] (a repository with branches, commits, pull requests and issues),
//! [`FakeRegistry`] (digests that exist, or not, and their signatures, which
//! [`signing::KeyPair`] makes) and [`FakeCluster`] (an API server's kinds,
//! objects and field owners, with server-side apply's conflicts). Each one keeps the calls it answered and
//! fails on request, as the edge would fail (typed, with the edge's labels).
//!
//! A fake agrees with the code that uses it by construction; what keeps it honest is
//! `tests/contract.rs`, which runs one list of expectations against the fake and against the
//! real edge (`sextant-forge` over the fake GitHub server, itself checked against GitHub's
//! OpenAPI description and recorded answers); the cluster's is the agent's
//! `tests/cluster_contract.rs` (the kube edge over kube-testkit).

mod cluster;
mod forge;
mod registry;
pub mod signing;

pub use cluster::FakeCluster;
pub use forge::{Call, FakeForge, Stored};
pub use registry::FakeRegistry;
