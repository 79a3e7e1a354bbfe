//! main-api: wiring only — settings and logging, the auxiliary-service client, the router.

mod aux;
mod config;
mod metrics;
mod routes;

use std::process::ExitCode;
use std::sync::Arc;

use service_kit::config::{log_filter, ConfigError};
use service_kit::metrics::HttpMetrics;
use service_kit::serve::{self, ServeError};
use service_kit::shutdown::Readiness;
use tracing::error;

use crate::aux::AuxClient;
use crate::config::Settings;
use crate::metrics::AuxMetrics;
use crate::routes::AppState;

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not build the HTTP client of auxiliary-service: {0}")]
    Client(#[from] reqwest::Error),
    #[error("could not register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = log_filter(|name| std::env::var(name).ok());
    if let Err(err) = service_kit::logging::init(&filter) {
        eprintln!("main-api: {err}");
        return ExitCode::from(2);
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = %err, "main-api could not run");
            // 2 for a setting the operator must fix, 1 for anything else.
            ExitCode::from(if matches!(err, StartError::Config(_)) {
                2
            } else {
                1
            })
        }
    }
}

async fn run() -> Result<(), StartError> {
    let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
    let version = settings.serve.service_version.clone();
    let metrics = Arc::new(HttpMetrics::new("main_api", &version)?);
    let readiness = Readiness::default();
    let state = AppState {
        aux: Arc::new(AuxClient::new(settings.aux.clone())?),
        metrics: AuxMetrics::register(metrics.registry())?,
        version: version.into(),
    };
    let app = routes::router(state, readiness.clone(), metrics);
    serve::serve(&settings.serve, app, readiness).await?;
    Ok(())
}
