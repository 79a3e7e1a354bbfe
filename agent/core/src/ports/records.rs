//! Where a loop keeps what must outlive it (the promotion's gates, a rollback under way): named
//! records, each labelled with its environment. The agent keeps them as ConfigMaps over the
//! cluster port (`agent/src/apply/record.rs`), in the daemon and in the loops' table tests.

use super::cluster::ClusterError;
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;

/// Where a loop keeps its records: the port the promotion loop reads and writes them through.
pub trait Records: Send + Sync {
    /// The record, if there is one (one that no longer parses is `None`).
    fn load<T: DeserializeOwned + Send>(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<T>, ClusterError>> + Send;
    /// Writes the record, labelled with its environment.
    fn save<T: Serialize + Sync>(
        &self,
        name: &str,
        environment: &str,
        record: &T,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
}
