//! auxiliary-service: wiring only — settings and logging, the AWS clients, the router, serving.

mod aws;
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

use crate::aws::{Aws, AwsError};
use crate::config::Settings;
use crate::metrics::AwsMetrics;
use crate::routes::AppState;

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("could not register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = log_filter(|name| std::env::var(name).ok());
    if let Err(err) = service_kit::logging::init(&filter) {
        eprintln!("auxiliary-service: {err}");
        return ExitCode::from(2);
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = %err, "auxiliary-service could not run");
            // 2 for a setting the operator must fix, 1 for anything else.
            let setting = matches!(
                err,
                StartError::Config(_) | StartError::Aws(AwsError::NoRegion)
            );
            ExitCode::from(if setting { 2 } else { 1 })
        }
    }
}

async fn run() -> Result<(), StartError> {
    let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
    let version = settings.serve.service_version.clone();
    let metrics = Arc::new(HttpMetrics::new("auxiliary_service", &version)?);
    let aws = Aws::from_env(settings.aws, AwsMetrics::register(metrics.registry())?).await?;
    let readiness = Readiness::default();
    let state = AppState {
        aws: Arc::new(aws),
        path: settings.parameter_path.clone(),
        version: version.into(),
    };
    let app = routes::router(state, readiness.clone(), metrics);
    serve::serve(&settings.serve, app, readiness).await?;
    Ok(())
}
