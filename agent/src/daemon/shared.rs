//! What the leader-only forge loops (previews, drift pull requests, promotion) share with the
//! daemon — leadership and shutdown, metrics, `/status`, the retry schedule — and the two steps
//! each takes between passes: settling a pass's outcome on its backoff, and waiting.

use super::forge_backoff::Backoff;
use super::status::{Failed, Status};
use crate::forge::ErrorKind;
use crate::metrics::Metrics;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Shared {
    pub leading: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    pub metrics: Metrics,
    pub status: Arc<Mutex<Status>>,
    /// The schedule a refusing forge is left alone on (`Settings::retry`).
    pub retry: sextant_core::backoff::Backoff,
}

/// A pass's error as its loop reports it: a bounded label for `/status`, and whether
/// repeating it soon could help.
pub trait PassFailure: std::fmt::Display {
    fn label(&self) -> &'static str;
    fn kind(&self) -> ErrorKind;
}

/// Records how a pass ended on the loop's backoff; the failure, labelled, for `/status`.
pub fn settle<E: PassFailure>(backoff: &mut Backoff, result: &Result<(), E>) -> Option<Failed> {
    let failed = result.as_ref().err().map(|e| {
        let f = Failed {
            label: e.label(),
            message: e.to_string(),
        };
        (e.kind(), f)
    });
    backoff.record(
        tokio::time::Instant::now(),
        failed.as_ref().map(|(k, f)| (*k, f.message.as_str())),
    );
    failed.map(|(_, f)| f)
}

/// The first change of either channel; an error once one's sender is gone.
pub async fn either<A, B>(
    a: &mut watch::Receiver<A>,
    b: &mut watch::Receiver<B>,
) -> Result<(), watch::error::RecvError> {
    tokio::select! {
        c = a.changed() => c,
        c = b.changed() => c,
    }
}

impl Shared {
    /// For a table test: leading, never stopping, a fresh registry of metrics and `/status`.
    #[cfg(test)]
    pub fn leading_alone() -> Self {
        Shared {
            leading: watch::channel(true).1,
            stop: watch::channel(false).1,
            metrics: Metrics::new().expect("metrics register"),
            status: Arc::default(),
            retry: crate::config::RETRY,
        }
    }

    pub fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits for the next pass: `tick` passes, `woken` resolves, or leadership changes.
    /// `false` once the daemon stops or a sender the loop needs is gone.
    pub async fn wait(
        &mut self,
        tick: Duration,
        woken: impl Future<Output = Result<(), watch::error::RecvError>>,
    ) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            c = woken => if c.is_err() { return false },
            c = self.leading.changed() => if c.is_err() { return false },
            _ = self.stop.changed() => return false,
        }
        !self.is_stopping()
    }
}
