//! What a sync may read instead of the API server: a view of live objects that something else
//! keeps current (in the daemon, the watch-fed cache of `crate::live`). The trait is the core's
//! port (`sextant_core::ports::live`); `sextant apply` runs without one and reads the API.

pub use sextant_core::ports::live::{resource_version, Cached, LiveView};
