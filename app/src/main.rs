//! Wiring only: settings and logging, the router, and the stop sequence (service-kit's).

mod digest;
mod error;
mod faults;
mod routes;

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;

use axum::http::HeaderValue;
use service_kit::config::{ConfigError, ServeSettings};
use service_kit::metrics::HttpMetrics;
use service_kit::serve::{self, StartError};
use service_kit::shutdown::Readiness;

use crate::routes::AppState;

/// Seconds; the service answers in microseconds, so the buckets start well below a millisecond.
const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[tokio::main]
async fn main() -> ExitCode {
    serve::main("hash-service", run(), |never| match *never {}).await
}

async fn run() -> Result<(), StartError<Infallible>> {
    let settings =
        ServeSettings::from_lookup(&|name| std::env::var(name).ok(), env!("CARGO_PKG_VERSION"))?;
    let version = &settings.service_version;
    // ServeSettings admits visible ASCII only, which is always a header value.
    let header = HeaderValue::from_str(version).map_err(|_| ConfigError::Invalid {
        name: "SERVICE_VERSION",
        value: version.clone(),
        reason: "not an HTTP header value".into(),
    })?;
    let metrics = Arc::new(HttpMetrics::with_buckets(
        "hash_service",
        version,
        DURATION_BUCKETS,
    )?);
    let faults = Arc::new(faults::Faults::from_lookup(&|name| {
        std::env::var(name).ok()
    })?);
    let readiness = Readiness::default();
    let state = AppState {
        version: header,
        faults,
    };
    let app = routes::router(state, readiness.clone(), metrics);
    serve::serve(&settings, app, readiness).await?;
    Ok(())
}
