//! auxiliary-service: wiring only — settings and logging, the AWS clients, the router, serving.

mod aws;
mod config;
mod metrics;
mod routes;

use std::process::ExitCode;
use std::sync::Arc;

use service_kit::metrics::HttpMetrics;
use service_kit::serve::{self, StartError};
use service_kit::shutdown::Readiness;

use crate::aws::{Aws, AwsError};
use crate::config::Settings;
use crate::metrics::AwsMetrics;
use crate::routes::AppState;

#[tokio::main]
async fn main() -> ExitCode {
    serve::main("auxiliary-service", run(), |err| {
        matches!(err, AwsError::NoRegion)
    })
    .await
}

async fn run() -> Result<(), StartError<AwsError>> {
    let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
    let version = settings.serve.service_version.clone();
    let metrics = Arc::new(HttpMetrics::new("auxiliary_service", &version)?);
    let aws = Aws::from_env(settings.aws, AwsMetrics::register(metrics.registry())?)
        .await
        .map_err(StartError::Service)?;
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
