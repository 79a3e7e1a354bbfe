//! The promotion's Prometheus checks against a real Prometheus scraping real hash-service
//! processes: one healthy, one serving 5 % errors (`FAULT_ERROR_PERCENT`), one slow
//! (`FAULT_LATENCY_MS`). The check the agent runs (`daemon::promote::check::run`) must pass the
//! healthy one, fail the others naming the value and the threshold, and say `unknown` (never
//! passing) for no series, a bad query, or a Prometheus that is gone.

mod support;

use service_kit::testing::Service;
use sextant::environment::{Check, PrometheusCheck};
use sextant::promotion::gate::{CheckOutcome, CheckState};
use sextant::promotion::metric::Condition;
use support::agent::WAIT;
use support::prometheus::{error_ratio, hash_service, Prometheus, HASH};

fn p99(instance: &str) -> String {
    format!(
        r#"histogram_quantile(0.99, sum by (le, instance) (http_request_duration_seconds_bucket{{{HASH},instance="{instance}"}}))"#
    )
}

fn check(prometheus: &str, query: &str, condition: &str, within: Option<&str>) -> Check {
    Check::Prometheus(PrometheusCheck {
        url: prometheus.to_string(),
        query: query.to_string(),
        condition: Condition::try_from(condition.to_string()).unwrap(),
        for_: within.and_then(sextant::duration::Span::parse),
        timeout: sextant::duration::Span::parse("3s"),
    })
}

fn look(c: &Check) -> CheckOutcome {
    support::block_on(sextant::daemon::promote::check::run(c))
}

#[test]
fn prometheus_checks_pass_the_healthy_service_fail_the_faulty_ones_and_never_pass_on_no_answer() {
    let bin = hash_service();
    let healthy = Service::start(&bin, &[]);
    let erring = Service::start(&bin, &[("FAULT_ERROR_PERCENT", "5")]);
    let slow = Service::start(&bin, &[("FAULT_LATENCY_MS", "300")]);
    for _ in 0..100 {
        assert_eq!(healthy.get("/hash/abc").status, 200);
    }
    let answers: Vec<u16> = (0..100).map(|_| erring.get("/hash/abc").status).collect();
    assert_eq!(
        answers.iter().filter(|s| **s == 500).count(),
        5,
        "5 % injected"
    );
    for _ in 0..3 {
        assert_eq!(slow.get("/hash/abc").status, 200);
    }
    let (h, e, s) = (
        healthy.addr.to_string(),
        erring.addr.to_string(),
        slow.addr.to_string(),
    );
    let mut prometheus = Prometheus::start(&[healthy.addr, erring.addr, slow.addr], WAIT);
    // Scraped after the traffic: every instance's /hash requests are in.
    prometheus.wait_for_hash_requests(203.0, WAIT);
    let url = prometheus.url();

    let table: Vec<(&str, Check, CheckState, Vec<String>)> = vec![
        (
            "the healthy one serves no errors",
            check(&url, &error_ratio(Some(&h)), "< 0.01", None),
            CheckState::Passing,
            vec![format!(r#"0 {{instance="{h}"}}, < 0.01"#)],
        ),
        (
            "5 % errors breach the ratio, the value and threshold said",
            check(&url, &error_ratio(Some(&e)), "< 0.01", None),
            CheckState::Failing,
            vec![format!(r#"0.05 {{instance="{e}"}}, not < 0.01"#)],
        ),
        (
            "one query over every instance fails on the faulty one",
            check(&url, &error_ratio(None), "< 0.01", None),
            CheckState::Failing,
            vec![e.clone(), "not < 0.01".into()],
        ),
        (
            "over a range, every step must hold",
            check(&url, &error_ratio(Some(&e)), "< 0.01", Some("5s")),
            CheckState::Failing,
            vec!["0.05".into(), "not < 0.01".into()],
        ),
        (
            "p99 latency below 250 ms holds on the healthy one",
            check(&url, &p99(&h), "< 0.25", None),
            CheckState::Passing,
            vec!["< 0.25".into()],
        ),
        (
            "300 ms answers breach p99 below 250 ms",
            check(&url, &p99(&s), "< 0.25", None),
            CheckState::Failing,
            vec!["not < 0.25".into()],
        ),
        (
            "a metric no one exports is unknown",
            check(&url, "http_requests_total{route=\"/nowhere\"}", "< 1", None),
            CheckState::Unknown,
            vec!["no series".into()],
        ),
        (
            "a bad query is unknown, with Prometheus's reason",
            check(&url, "sum(", "< 1", None),
            CheckState::Unknown,
            vec!["bad_data".into()],
        ),
    ];
    for (what, c, state, says) in &table {
        let o = look(c);
        assert_eq!(o.state, *state, "{what}: {}", o.message);
        for part in says {
            assert!(
                o.message.contains(part.as_str()),
                "{what}: {part:?} in {}",
                o.message
            );
        }
    }

    prometheus.stop();
    let gone = look(&check(&url, &error_ratio(Some(&h)), "< 0.01", None));
    assert_eq!(gone.state, CheckState::Unknown, "{}", gone.message);
    assert!(
        gone.message.starts_with("Prometheus did not answer"),
        "{}",
        gone.message
    );
    assert!(
        !gone.message.contains(&url),
        "the URL is not said: {}",
        gone.message
    );
}
