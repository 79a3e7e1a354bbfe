//! The HTTP metrics every service exports (requests and their duration by route template and
//! status, and a build-info gauge), in a registry the service adds its own metrics to.

use std::time::Duration;

use axum::http::StatusCode;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Route label for requests that matched no route, so raw paths never become label values.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Seconds; these services wait on a network call, so the buckets reach past their timeouts.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct HttpMetrics {
    registry: Registry,
    requests_total: IntCounterVec,
    request_duration_seconds: HistogramVec,
}

impl HttpMetrics {
    /// `service` prefixes the build-info gauge: `<service>_build_info{version}`.
    pub fn new(service: &str, version: &str) -> Result<Self, prometheus::Error> {
        Self::with_buckets(service, version, DURATION_BUCKETS)
    }

    /// As [`HttpMetrics::new`], with the duration histogram's buckets in seconds: a service that
    /// answers in microseconds wants them to start well below a millisecond.
    pub fn with_buckets(
        service: &str,
        version: &str,
        buckets: &[f64],
    ) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests_total = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route template and status code.",
            ),
            &["route", "status"],
        )?;
        let request_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request received to response headers ready, by route template and status code.",
            )
            .buckets(buckets.to_vec()),
            &["route", "status"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                format!("{service}_build_info"),
                "Always 1; carries the running version as a label.",
            ),
            &["version"],
        )?;
        registry.register(Box::new(requests_total.clone()))?;
        registry.register(Box::new(request_duration_seconds.clone()))?;
        registry.register(Box::new(build_info.clone()))?;
        build_info.with_label_values(&[version]).set(1);
        Ok(Self {
            registry,
            requests_total,
            request_duration_seconds,
        })
    }

    /// The registry, for the service's own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records one answered request; `route` must be a route template, never a raw path.
    pub fn observe(&self, route: &str, status: StatusCode, elapsed: Duration) {
        self.requests_total
            .with_label_values(&[route, status.as_str()])
            .inc();
        self.request_duration_seconds
            .with_label_values(&[route, status.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        text(&self.registry)
    }
}

/// `registry` in the Prometheus text exposition format.
pub fn text(registry: &Registry) -> Result<String, prometheus::Error> {
    let mut buffer = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buffer)?;
    String::from_utf8(buffer).map_err(|err| prometheus::Error::Msg(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_by_route_and_status_and_carries_the_version() {
        let metrics = HttpMetrics::new("main_api", "1.0.0").expect("metrics register");
        metrics.observe("/api/s3-buckets", StatusCode::OK, Duration::from_millis(5));
        metrics.observe(UNMATCHED_ROUTE, StatusCode::NOT_FOUND, Duration::ZERO);
        let text = metrics.render().expect("metrics render");
        for line in [
            r#"http_requests_total{route="/api/s3-buckets",status="200"} 1"#,
            r#"http_requests_total{route="unmatched",status="404"} 1"#,
            r#"main_api_build_info{version="1.0.0"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
    }
}
