//! The ports: what the core needs of the world, as traits in its own types. Each edge crate
//! implements its port (`sextant-forge` the forge, `sextant-registry` the registry, the agent's
//! kube edge the cluster, the live view and the records), and
//! `sextant-fakes` holds in-memory fakes of them for the loops' table tests.

pub mod cluster;
pub mod forge;
pub mod live;
pub mod records;
pub mod registry;
