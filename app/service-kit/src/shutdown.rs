//! Readiness and the stop sequence: on SIGTERM, report not-ready first, keep serving while the
//! pod leaves the Service endpoints, then stop accepting and drain in-flight requests (bounded).
//! The same sequence as hash-service's (app/src/shutdown.rs).

use std::future::IntoFuture;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Notify;
use tracing::{info, warn};

/// Shared readiness flag: false until the server is about to serve, false again once stopping.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// SIGTERM (the kubelet) and SIGINT (a terminal). Installed before the listener binds, so a
/// signal that arrives early still takes the graceful path instead of the default abrupt exit.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    pub fn install() -> io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Timings of the stop sequence.
#[derive(Clone, Copy, Debug)]
pub struct StopTimings {
    /// Serve, not ready, for this long after the first signal.
    pub delay: Duration,
    /// Then give in-flight requests this long to finish.
    pub drain_timeout: Duration,
}

/// Serves `app` until a signal has run the stop sequence to its end.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    signals: Signals,
    readiness: Readiness,
    timings: StopTimings,
) -> io::Result<()> {
    let draining = Arc::new(Notify::new());
    let stop = {
        let draining = Arc::clone(&draining);
        async move {
            leave_endpoints(signals, &readiness, timings.delay).await;
            draining.notify_one();
        }
    };
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .into_future();
    tokio::select! {
        result = server => result,
        () = async {
            draining.notified().await;
            tokio::time::sleep(timings.drain_timeout).await;
        } => {
            warn!(drain_timeout_seconds = timings.drain_timeout.as_secs(), "drain timed out; exiting with requests in flight");
            Ok(())
        }
    }
}

/// Waits for a signal, flips readiness, then waits `delay` (cut short by a second signal).
async fn leave_endpoints(mut signals: Signals, readiness: &Readiness, delay: Duration) {
    let first = signals.recv().await;
    readiness.set(false);
    info!(
        signal = first,
        delay_seconds = delay.as_secs(),
        "stopping: not ready, serving until the delay ends"
    );
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        second = signals.recv() => info!(signal = second, "second signal: skipping the rest of the delay"),
    }
    info!("draining in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_starts_false_and_is_shared_between_clones() {
        let readiness = Readiness::default();
        let seen_by_handler = readiness.clone();
        assert!(!seen_by_handler.is_ready());
        readiness.set(true);
        assert!(seen_by_handler.is_ready());
        readiness.set(false);
        assert!(!seen_by_handler.is_ready());
    }
}
