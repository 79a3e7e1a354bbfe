//! Starting a service: signals first, then the listener, then ready; serving until the stop
//! sequence ([`crate::shutdown`]) has run.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use tokio::net::TcpListener;
use tracing::{error, info};

use crate::config::{log_filter, ConfigError, ServeSettings};
use crate::shutdown::{self, Readiness, Signals, StopTimings};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("could not install signal handlers: {0}")]
    Signals(io::Error),
    #[error("could not listen on {addr} (LISTEN_ADDR): {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("server failed: {0}")]
    Serve(io::Error),
}

/// Why a service could not start, or stopped on a failure: the causes every service shares, and
/// `E`, the service's own (its clients, its dependencies).
#[derive(Debug, thiserror::Error)]
pub enum StartError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Service(E),
}

/// Serves `app` on `settings.listen_addr`; logs `listening` with the bound address once ready.
pub async fn serve(
    settings: &ServeSettings,
    app: Router,
    readiness: Readiness,
) -> Result<(), ServeError> {
    let signals = Signals::install().map_err(ServeError::Signals)?;
    let bind_error = |source| ServeError::Bind {
        addr: settings.listen_addr,
        source,
    };
    let listener = TcpListener::bind(settings.listen_addr)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    readiness.set(true);
    info!(addr = %addr, version = settings.service_version, "listening");
    let timings = StopTimings {
        delay: settings.shutdown_delay,
        drain_timeout: settings.drain_timeout,
    };
    shutdown::serve(listener, app, signals, readiness, timings)
        .await
        .map_err(ServeError::Serve)?;
    info!("stopped");
    Ok(())
}

/// A service's whole life as a process: JSON logs filtered by `RUST_LOG` or `LOG_LEVEL`, then
/// `run`. Exits 2 for what the operator must fix (logging cannot start, a bad setting, or a
/// service failure `is_setting` names), 1 for any other failure, 0 after a clean stop.
pub async fn main<E: std::error::Error + 'static>(
    service: &str,
    run: impl Future<Output = Result<(), StartError<E>>>,
    is_setting: impl Fn(&E) -> bool,
) -> ExitCode {
    let filter = log_filter(|name| std::env::var(name).ok());
    if let Err(err) = crate::logging::init(&filter) {
        eprintln!("{service}: {err}");
        return ExitCode::from(2);
    }
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = %err, "{service} could not run");
            let setting = match &err {
                StartError::Config(_) => true,
                StartError::Service(own) => is_setting(own),
                StartError::Metrics(_) | StartError::Serve(_) => false,
            };
            ExitCode::from(if setting { 2 } else { 1 })
        }
    }
}
