//! Applying a plan to a cluster: the kube edge (`cluster`), pure health rules, the inventory
//! that makes pruning possible, the sync itself and its health gates, and the view of live
//! objects a sync may read instead of the API.

pub mod cluster;
pub mod diff;
pub mod error;
mod gate;
pub mod health;
mod hooks;
pub(crate) mod inventories;
pub mod inventory;
mod kinds;
pub mod prune;
pub mod record;
mod requires;
pub mod result;
pub mod state;
pub mod sync;
pub mod view;
