//! auxiliary-service's own metrics: every AWS call by operation and outcome, and its duration,
//! measured by a guard that records when dropped (a cancelled call counts as `cancelled`).

use std::time::Instant;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use service_kit::metrics::DURATION_BUCKETS;

#[derive(Clone)]
pub struct AwsMetrics {
    calls_total: IntCounterVec,
    call_duration_seconds: HistogramVec,
}

impl AwsMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let calls_total = IntCounterVec::new(
            Opts::new(
                "auxiliary_service_aws_calls_total",
                "AWS operations called (SDK retries included in one call), by operation and outcome.",
            ),
            &["operation", "outcome"],
        )?;
        let call_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "auxiliary_service_aws_call_duration_seconds",
                "Time of one AWS operation, retries included, by operation.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["operation"],
        )?;
        registry.register(Box::new(calls_total.clone()))?;
        registry.register(Box::new(call_duration_seconds.clone()))?;
        Ok(Self {
            calls_total,
            call_duration_seconds,
        })
    }

    /// Starts timing `operation`; the call's outcome is set on the guard before it drops.
    pub fn call(&self, operation: &'static str) -> CallGuard<'_> {
        CallGuard {
            metrics: self,
            operation,
            outcome: "cancelled",
            started: Instant::now(),
        }
    }
}

pub struct CallGuard<'a> {
    metrics: &'a AwsMetrics,
    operation: &'static str,
    outcome: &'static str,
    started: Instant,
}

impl CallGuard<'_> {
    pub fn outcome(&mut self, outcome: &'static str) {
        self.outcome = outcome;
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.metrics
            .calls_total
            .with_label_values(&[self.operation, self.outcome])
            .inc();
        self.metrics
            .call_duration_seconds
            .with_label_values(&[self.operation])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_records_its_outcome_and_a_dropped_one_counts_as_cancelled() {
        let registry = Registry::new();
        let metrics = AwsMetrics::register(&registry).expect("registers");
        metrics.call("ListBuckets").outcome("ok");
        drop(metrics.call("GetParameter"));
        let text = service_kit::metrics::text(&registry).expect("encodes");
        for line in [
            r#"auxiliary_service_aws_calls_total{operation="ListBuckets",outcome="ok"} 1"#,
            r#"auxiliary_service_aws_calls_total{operation="GetParameter",outcome="cancelled"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
    }
}
