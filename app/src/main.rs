//! Wiring only: settings and logging, the listener, the router, and the stop sequence.

mod config;
mod digest;
mod error;
mod logging;
mod metrics;
mod routes;
mod shutdown;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{error, info};

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::routes::AppState;
use crate::shutdown::{Readiness, Signals, StopTimings};

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("could not listen on {addr} (LISTEN_ADDR): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = config::log_filter(|name| std::env::var(name).ok());
    if let Err(err) = logging::init(&filter) {
        eprintln!("hash-service: {err}");
        return ExitCode::from(2);
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = %err, "hash-service could not run");
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
    let config = Config::from_env()?;
    let signals = Signals::install().map_err(StartError::Signals)?;
    let bind_error = |source| StartError::Bind {
        addr: config.listen_addr,
        source,
    };
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;

    let version = config
        .service_version
        .to_str()
        .unwrap_or("unknown")
        .to_owned();
    let readiness = Readiness::default();
    let app = routes::router(AppState {
        readiness: readiness.clone(),
        metrics: Arc::new(Metrics::new(&version)?),
        version: config.service_version.clone(),
    });

    readiness.set(true);
    info!(addr = %addr, version, "listening");
    let timings = StopTimings {
        delay: config.shutdown_delay,
        drain_timeout: config.drain_timeout,
    };
    shutdown::serve(listener, app, signals, readiness, timings)
        .await
        .map_err(StartError::Serve)?;
    info!("stopped");
    Ok(())
}
