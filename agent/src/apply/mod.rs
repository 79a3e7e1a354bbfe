//! Applying a plan to a cluster: the kube edge (`cluster`), pure health rules, the inventory
//! that makes pruning possible, and the sync itself.

pub mod cluster;
pub mod diff;
pub mod health;
mod hooks;
pub mod inventory;
pub mod prune;
pub mod result;
pub mod state;
pub mod sync;
