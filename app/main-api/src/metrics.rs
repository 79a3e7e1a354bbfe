//! main-api's own metrics: every call to auxiliary-service by outcome, and its duration
//! (retries included), measured by a guard that records when dropped.

use std::time::Instant;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use service_kit::metrics::DURATION_BUCKETS;

#[derive(Clone)]
pub struct AuxMetrics {
    calls_total: IntCounterVec,
    call_duration_seconds: Histogram,
}

/// How a call to auxiliary-service ended; the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// aux answered 2xx.
    Ok,
    /// aux answered 4xx (a bad or absent name): relayed as is.
    ClientError,
    /// aux answered that AWS failed.
    AwsFailed,
    /// aux answered 5xx or something that is not its JSON.
    AuxFailed,
    Unreachable,
    Timeout,
    /// The request was dropped (the client went away) before aux answered.
    Cancelled,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ClientError => "client_error",
            Self::AwsFailed => "aws_failed",
            Self::AuxFailed => "aux_failed",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
        }
    }
}

impl AuxMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let calls_total = IntCounterVec::new(
            Opts::new(
                "main_api_aux_calls_total",
                "Requests to auxiliary-service (retries included in one), by outcome.",
            ),
            &["outcome"],
        )?;
        let call_duration_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "main_api_aux_call_duration_seconds",
                "Time of one request to auxiliary-service, retries and backoff included.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(calls_total.clone()))?;
        registry.register(Box::new(call_duration_seconds.clone()))?;
        Ok(Self {
            calls_total,
            call_duration_seconds,
        })
    }

    pub fn call(&self) -> CallGuard<'_> {
        CallGuard {
            metrics: self,
            outcome: Outcome::Cancelled,
            started: Instant::now(),
        }
    }
}

pub struct CallGuard<'a> {
    metrics: &'a AuxMetrics,
    outcome: Outcome,
    started: Instant,
}

impl CallGuard<'_> {
    pub fn outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.metrics
            .calls_total
            .with_label_values(&[self.outcome.label()])
            .inc();
        self.metrics
            .call_duration_seconds
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_counts_its_outcome_once() {
        let registry = Registry::new();
        let metrics = AuxMetrics::register(&registry).expect("registers");
        metrics.call().outcome(Outcome::AwsFailed);
        drop(metrics.call());
        let text = service_kit::metrics::text(&registry).expect("encodes");
        assert!(
            text.contains(r#"main_api_aux_calls_total{outcome="aws_failed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"main_api_aux_calls_total{outcome="cancelled"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("main_api_aux_call_duration_seconds_count 2"),
            "{text}"
        );
    }
}
