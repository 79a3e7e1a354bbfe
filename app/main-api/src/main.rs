//! main-api: wiring only — settings and logging, the auxiliary-service client, the router.

mod aux;
mod config;
mod metrics;
mod routes;

use std::process::ExitCode;
use std::sync::Arc;

use service_kit::metrics::HttpMetrics;
use service_kit::serve::{self, StartError};
use service_kit::shutdown::Readiness;

use crate::aux::{AuxClient, ClientBuildError};
use crate::config::Settings;
use crate::metrics::AuxMetrics;
use crate::routes::AppState;

#[tokio::main]
async fn main() -> ExitCode {
    serve::main("main-api", run(), |_| false).await
}

async fn run() -> Result<(), StartError<ClientBuildError>> {
    let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
    let version = settings.serve.service_version.clone();
    let metrics = Arc::new(HttpMetrics::new("main_api", &version)?);
    let readiness = Readiness::default();
    let state = AppState {
        aux: Arc::new(AuxClient::new(settings.aux.clone()).map_err(StartError::Service)?),
        metrics: AuxMetrics::register(metrics.registry())?,
        version: version.into(),
    };
    let app = routes::router(state, readiness.clone(), metrics);
    serve::serve(&settings.serve, app, readiness).await?;
    Ok(())
}
