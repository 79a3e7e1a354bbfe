//! `service-kit`: what main-api and auxiliary-service share — settings, JSON logs, HTTP metrics
//! and probes, readiness and the stop sequence (as hash-service's), JSON errors, and the SSM
//! parameter name rules both check `{name}` against.

pub mod config;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod parameter_name;
pub mod serve;
pub mod shutdown;
#[cfg(feature = "testing")]
pub mod testing;
