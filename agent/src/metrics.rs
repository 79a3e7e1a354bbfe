//! Every metric the agent exports, defined once as a struct of handles (units in the names,
//! low-cardinality labels: no object names, and a revision only in the one info metric).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus::{
    core::Collector, Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Buckets for operations from milliseconds (a cached render) to minutes (a slow wave).
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    revisions: Arc<Mutex<HashMap<String, String>>>,
    pub git_fetch_duration_seconds: Histogram,
    pub git_fetch_errors_total: IntCounter,
    pub source_revision_info: IntGaugeVec,
    pub sync_total: IntCounterVec,
    pub sync_duration_seconds: HistogramVec,
    pub wave_duration_seconds: HistogramVec,
    pub render_duration_seconds: HistogramVec,
    pub values_decrypted_files: IntGaugeVec,
    pub values_decrypt_failures_total: IntCounterVec,
    pub last_sync_timestamp_seconds: GaugeVec,
    pub objects: IntGaugeVec,
    pub reconcile_errors_total: IntCounterVec,
    pub leader: IntGauge,
    pub shard_environments: IntGaugeVec,
    pub shard_members: IntGauge,
    pub webhook_requests_total: IntCounterVec,
    pub drift_objects: IntGaugeVec,
    pub drift_detected_total: IntCounterVec,
    pub drift_heals_total: IntCounterVec,
    pub drift_detection_seconds: Histogram,
    pub drift_fighting: IntGaugeVec,
    pub live_objects: IntGaugeVec,
    pub drift_pull_requests: IntGaugeVec,
    pub drift_pull_request_opened_timestamp_seconds: GaugeVec,
    pub forge_requests_total: IntCounterVec,
    pub forge_rate_limit_remaining: IntGauge,
    pub promotions_total: IntCounterVec,
    pub promotion_gate: IntGaugeVec,
    pub promotion_checks: IntGaugeVec,
    pub promotion_lead_time_seconds: Histogram,
    pub rollbacks_total: IntCounterVec,
    pub promotion_verifications_total: IntCounterVec,
    pub registry_requests_total: IntCounterVec,
    pub previews_total: IntCounterVec,
    pub preview_duration_seconds: HistogramVec,
}

/// Builds each metric and registers it in one step, so none can be built and left unregistered.
struct Registrar(Registry);

impl Registrar {
    fn register<C: Collector + Clone + 'static>(&self, c: C) -> prometheus::Result<C> {
        self.0.register(Box::new(c.clone()))?;
        Ok(c)
    }

    fn counter(&self, name: &str, help: &str) -> prometheus::Result<IntCounter> {
        self.register(IntCounter::new(name, help)?)
    }

    fn counters(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntCounterVec> {
        self.register(IntCounterVec::new(Opts::new(name, help), labels)?)
    }

    fn gauge(&self, name: &str, help: &str) -> prometheus::Result<IntGauge> {
        self.register(IntGauge::new(name, help)?)
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels)?)
    }

    fn float_gauges(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<GaugeVec> {
        self.register(GaugeVec::new(Opts::new(name, help), labels)?)
    }

    fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> prometheus::Result<Histogram> {
        self.register(Histogram::with_opts(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        )?)
    }

    fn histograms(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<HistogramVec> {
        self.register(HistogramVec::new(
            HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec()),
            labels,
        )?)
    }
}

/// Fetching, rendering and applying an environment.
struct Reconcile {
    git_fetch_duration_seconds: Histogram,
    git_fetch_errors_total: IntCounter,
    source_revision_info: IntGaugeVec,
    sync_total: IntCounterVec,
    sync_duration_seconds: HistogramVec,
    wave_duration_seconds: HistogramVec,
    render_duration_seconds: HistogramVec,
    values_decrypted_files: IntGaugeVec,
    values_decrypt_failures_total: IntCounterVec,
    last_sync_timestamp_seconds: GaugeVec,
    objects: IntGaugeVec,
    reconcile_errors_total: IntCounterVec,
}

impl Reconcile {
    fn register(r: &Registrar) -> prometheus::Result<Self> {
        Ok(Reconcile {
            git_fetch_duration_seconds: r.histogram(
                "sextant_git_fetch_duration_seconds",
                "Time to fetch the tracked branch.",
                SECONDS_BUCKETS,
            )?,
            git_fetch_errors_total: r.counter(
                "sextant_git_fetch_errors_total",
                "Fetches of the tracked branch that failed.",
            )?,
            source_revision_info: r.gauges(
                "sextant_source_revision_info",
                "The revision each environment was last synced from (value 1).",
                &["environment", "revision"],
            )?,
            sync_total: r.counters(
                "sextant_sync_total",
                "Syncs by environment and result.",
                &["environment", "result"],
            )?,
            sync_duration_seconds: r.histograms(
                "sextant_sync_duration_seconds",
                "Time to render, plan and apply an environment.",
                &["environment"],
            )?,
            wave_duration_seconds: r.histograms(
                "sextant_wave_duration_seconds",
                "Time to apply a wave and wait for its health.",
                &["environment", "wave"],
            )?,
            render_duration_seconds: r.histograms(
                "sextant_render_duration_seconds",
                "Time to render a release (cache hits included).",
                &["environment", "release"],
            )?,
            values_decrypted_files: r.gauges(
                "sextant_values_decrypted_files",
                "SOPS-encrypted values files decrypted for the environment's last render.",
                &["environment"],
            )?,
            values_decrypt_failures_total: r.counters(
                "sextant_values_decrypt_failures_total",
                "Renders stopped by a SOPS values file that did not decrypt, by reason.",
                &["environment", "reason"],
            )?,
            last_sync_timestamp_seconds: r.float_gauges(
                "sextant_last_sync_timestamp_seconds",
                "Unix time of the last sync, by result.",
                &["environment", "result"],
            )?,
            objects: r.gauges(
                "sextant_objects",
                "Objects of the last sync by release and health.",
                &["environment", "release", "health"],
            )?,
            reconcile_errors_total: r.counters(
                "sextant_reconcile_errors_total",
                "Reconcile errors by stage (fetch, render, plan, apply) and what failed (error).",
                &["environment", "stage", "error"],
            )?,
        })
    }
}

/// The replica itself: its lease, its webhook and its live-state cache.
struct Agent {
    leader: IntGauge,
    shard_environments: IntGaugeVec,
    shard_members: IntGauge,
    webhook_requests_total: IntCounterVec,
    live_objects: IntGaugeVec,
}

impl Agent {
    fn register(r: &Registrar) -> prometheus::Result<Self> {
        Ok(Agent {
            leader: r.gauge(
                "sextant_leader",
                "1 while this replica holds the leader lease (with sharding: any environment's).",
            )?,
            shard_environments: r.gauges(
                "sextant_shard_environments",
                "With sharding: 1 while this replica holds the environment's Lease.",
                &["environment"],
            )?,
            shard_members: r.gauge(
                "sextant_shard_members",
                "With sharding: the replicas whose member Lease this replica last saw live.",
            )?,
            webhook_requests_total: r.counters(
                "sextant_webhook_requests_total",
                "Webhook deliveries by result.",
                &["result"],
            )?,
            live_objects: r.gauges(
                "sextant_live_objects",
                "Objects held by the watch-fed live-state cache.",
                &["environment"],
            )?,
        })
    }
}

/// Live objects departing from Git: detected, healed, fought over, or proposed back to Git.
struct Drift {
    drift_objects: IntGaugeVec,
    drift_detected_total: IntCounterVec,
    drift_heals_total: IntCounterVec,
    drift_detection_seconds: Histogram,
    drift_fighting: IntGaugeVec,
    drift_pull_requests: IntGaugeVec,
    drift_pull_request_opened_timestamp_seconds: GaugeVec,
}

impl Drift {
    fn register(r: &Registrar) -> prometheus::Result<Self> {
        Ok(Drift {
            drift_objects: r.gauges(
                "sextant_drift_objects",
                "Objects whose live state departs from Git now.",
                &["environment", "release"],
            )?,
            drift_detected_total: r.counters(
                "sextant_drift_detected_total",
                "Objects seen departing from Git (each time one starts to).",
                &["environment", "release"],
            )?,
            drift_heals_total: r.counters(
                "sextant_drift_heals_total",
                "Re-applies of drifted objects by result (succeeded, failed).",
                &["environment", "result"],
            )?,
            drift_detection_seconds: r.histogram(
                "sextant_drift_detection_seconds",
                "From a live change (its managedFields time, to the second) to its detection.",
                SECONDS_BUCKETS,
            )?,
            drift_fighting: r.gauges(
                "sextant_drift_fighting_objects",
                "Drifted objects left alone because another manager keeps changing them back.",
                &["environment"],
            )?,
            drift_pull_requests: r.gauges(
                "sextant_drift_pull_requests",
                "Drift requests open in the forge, by state: open (a pull request), issue (nothing mapped to values).",
                &["environment", "state"],
            )?,
            drift_pull_request_opened_timestamp_seconds: r.float_gauges(
                "sextant_drift_pull_request_opened_timestamp_seconds",
                "When each release's open drift request was opened, as the forge says (Unix time); gone once it closes.",
                &["environment", "release"],
            )?,
        })
    }
}

/// Requests to the services outside the cluster: the forge and the image registries.
struct Outbound {
    forge_requests_total: IntCounterVec,
    forge_rate_limit_remaining: IntGauge,
    registry_requests_total: IntCounterVec,
}

impl Outbound {
    fn register(r: &Registrar) -> prometheus::Result<Self> {
        Ok(Outbound {
            forge_requests_total: r.counters(
                "sextant_forge_requests_total",
                "Requests to the forge's API, by operation and HTTP status (0: no answer).",
                &["operation", "code"],
            )?,
            forge_rate_limit_remaining: r.gauge(
                "sextant_forge_rate_limit_remaining",
                "The forge's remaining primary rate limit, as its last answer said.",
            )?,
            registry_requests_total: r.counters(
                "sextant_registry_requests_total",
                "Requests to image registries while verifying digests, by registry (oci, ecr) and code (HTTP status, error, or the ECR exception).",
                &["registry", "code"],
            )?,
        })
    }
}

/// Digests moving between environments, and the rollbacks when one fails its health gate.
struct Promotion {
    promotions_total: IntCounterVec,
    promotion_gate: IntGaugeVec,
    promotion_checks: IntGaugeVec,
    promotion_lead_time_seconds: Histogram,
    rollbacks_total: IntCounterVec,
    promotion_verifications_total: IntCounterVec,
}

impl Promotion {
    fn register(r: &Registrar) -> prometheus::Result<Self> {
        Ok(Promotion {
            promotions_total: r.counters(
                "sextant_promotions_total",
                "Promotion outcomes: proposed (pull request opened or updated), committed, refused (the registry), superseded, failed (the forge).",
                &["from", "to", "result"],
            )?,
            promotion_gate: r.gauges(
                "sextant_promotion_gate",
                "1 for the state each (target environment, release) promotion gate is in, 0 for the others.",
                &["environment", "release", "state"],
            )?,
            promotion_checks: r.gauges(
                "sextant_promotion_checks",
                "1 for what each check of a (target environment, release) promotion says now (passing, failing, unknown), 0 for the others; check is its place in spec.promotion.checks.",
                &["environment", "release", "check", "state"],
            )?,
            promotion_lead_time_seconds: r.histogram(
                "sextant_promotion_lead_time_seconds",
                "From the source environment applying a digest to the target applying it.",
                &[60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 259200.0],
            )?,
            rollbacks_total: r.counters(
                "sextant_rollbacks_total",
                "Automatic rollbacks: a promoted digest failed its health gate (reason health) or a check of promotion.verify (reason metric), and the last good rendering was applied again.",
                &["environment", "release", "reason"],
            )?,
            promotion_verifications_total: r.counters(
                "sextant_promotion_verifications_total",
                "Signature verifications of a digest (registry oci or ecr): result verified, or why it was refused (unsigned, other_identity, bad_signature, other_digest, untrusted, outside_validity, bad_timestamp, missing_attestation, malformed, config). Counted when a digest is verified, not when a remembered result is read.",
                &["registry", "result"],
            )?,
        })
    }
}

/// Pull request previews.
struct Previews {
    previews_total: IntCounterVec,
    preview_duration_seconds: HistogramVec,
}

impl Previews {
    fn register(r: &Registrar) -> prometheus::Result<Self> {
        Ok(Previews {
            previews_total: r.counters(
                "sextant_previews_total",
                "Pull request previews posted, by the verdict (success, failure, error), and those that could not be posted (not-posted).",
                &["environment", "result"],
            )?,
            preview_duration_seconds: r.histograms(
                "sextant_preview_duration_seconds",
                "From a pull request's head being fetched to its preview posted: render, cluster reads, comment and status.",
                &["environment"],
            )?,
        })
    }
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let r = Registrar(Registry::new());
        let reconcile = Reconcile::register(&r)?;
        let agent = Agent::register(&r)?;
        let drift = Drift::register(&r)?;
        let outbound = Outbound::register(&r)?;
        let promotion = Promotion::register(&r)?;
        let previews = Previews::register(&r)?;
        Ok(Metrics {
            registry: r.0,
            revisions: Arc::default(),
            git_fetch_duration_seconds: reconcile.git_fetch_duration_seconds,
            git_fetch_errors_total: reconcile.git_fetch_errors_total,
            source_revision_info: reconcile.source_revision_info,
            sync_total: reconcile.sync_total,
            sync_duration_seconds: reconcile.sync_duration_seconds,
            wave_duration_seconds: reconcile.wave_duration_seconds,
            render_duration_seconds: reconcile.render_duration_seconds,
            values_decrypted_files: reconcile.values_decrypted_files,
            values_decrypt_failures_total: reconcile.values_decrypt_failures_total,
            last_sync_timestamp_seconds: reconcile.last_sync_timestamp_seconds,
            objects: reconcile.objects,
            reconcile_errors_total: reconcile.reconcile_errors_total,
            leader: agent.leader,
            shard_environments: agent.shard_environments,
            shard_members: agent.shard_members,
            webhook_requests_total: agent.webhook_requests_total,
            drift_objects: drift.drift_objects,
            drift_detected_total: drift.drift_detected_total,
            drift_heals_total: drift.drift_heals_total,
            drift_detection_seconds: drift.drift_detection_seconds,
            drift_fighting: drift.drift_fighting,
            live_objects: agent.live_objects,
            drift_pull_requests: drift.drift_pull_requests,
            drift_pull_request_opened_timestamp_seconds: drift
                .drift_pull_request_opened_timestamp_seconds,
            forge_requests_total: outbound.forge_requests_total,
            forge_rate_limit_remaining: outbound.forge_rate_limit_remaining,
            promotions_total: promotion.promotions_total,
            promotion_gate: promotion.promotion_gate,
            promotion_checks: promotion.promotion_checks,
            promotion_lead_time_seconds: promotion.promotion_lead_time_seconds,
            rollbacks_total: promotion.rollbacks_total,
            promotion_verifications_total: promotion.promotion_verifications_total,
            registry_requests_total: outbound.registry_requests_total,
            previews_total: previews.previews_total,
            preview_duration_seconds: previews.preview_duration_seconds,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for metrics this module built.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Records that an environment is now at `revision`: one series per environment.
    pub fn set_revision(&self, environment: &str, revision: &str) {
        let Ok(mut last) = self.revisions.lock() else {
            return;
        };
        if let Some(old) = last.insert(environment.to_string(), revision.to_string()) {
            if old != revision {
                let _ = self
                    .source_revision_info
                    .remove_label_values(&[environment, &old]);
            }
        }
        self.source_revision_info
            .with_label_values(&[environment, revision])
            .set(1);
    }
}

/// Feeds the forge client's requests and rate limit into the metrics.
pub struct ForgeObserver(pub Metrics);

impl sextant_forge::Observer for ForgeObserver {
    fn on_request(&self, operation: &str, code: u16) {
        self.0
            .forge_requests_total
            .with_label_values(&[operation, &code.to_string()])
            .inc();
    }

    fn on_rate_limit(&self, remaining: i64) {
        self.0.forge_rate_limit_remaining.set(remaining);
    }
}

/// Counts the registry's requests in `sextant_registry_requests_total`.
pub struct RegistryObserver(pub Metrics);

impl sextant_registry::Observer for RegistryObserver {
    fn request(&self, registry: &str, code: &str) {
        self.0
            .registry_requests_total
            .with_label_values(&[registry, code])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_every_metric_with_its_labels() {
        let m = Metrics::new().unwrap();
        m.sync_total.with_label_values(&["prod", "succeeded"]).inc();
        m.set_revision("prod", "aaa");
        m.set_revision("prod", "bbb");
        let text = m.render();
        assert!(
            text.contains(r#"sextant_sync_total{environment="prod",result="succeeded"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sextant_source_revision_info{environment="prod",revision="bbb"} 1"#)
        );
        assert!(
            !text.contains(r#"revision="aaa""#),
            "one revision series per environment"
        );
        assert!(text.contains("# TYPE sextant_leader gauge"));
    }

    #[test]
    fn registry_requests_are_counted_by_registry_and_code() {
        use sextant_registry::Observer as _;
        let m = Metrics::new().unwrap();
        let o = RegistryObserver(m.clone());
        o.request("oci", "200");
        o.request("oci", "200");
        o.request("ecr", "ImageNotFoundException");
        let text = m.render();
        assert!(
            text.contains(r#"sextant_registry_requests_total{code="200",registry="oci"} 2"#),
            "{text}"
        );
        assert!(text.contains(
            r#"sextant_registry_requests_total{code="ImageNotFoundException",registry="ecr"} 1"#
        ));
    }
}
