//! Starting a service: signals first, then the listener, then ready; serving until the stop
//! sequence ([`crate::shutdown`]) has run.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tracing::info;

use crate::config::ServeSettings;
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
