//! The contract platform users test against, checked on the built binary over real HTTP.

use service_kit::testing::{self as support, Service};

const ABC123_SHA1: &str = "6367c48dd193d56ea7b0baad25b19455e529f5ee";

#[test]
fn hash_returns_the_sha1_hex_of_the_input_as_plain_text() {
    let service = start(&[]);
    let reply = service.get("/hash/abc123");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, ABC123_SHA1);
    assert!(
        reply.headers["content-type"].starts_with("text/plain"),
        "{:?}",
        reply.headers
    );
}

#[test]
fn hash_input_is_percent_decoded_before_hashing() {
    let service = start(&[]);
    let reply = service.get("/hash/hello%20world");
    assert_eq!(reply.body, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"); // sha1("hello world")
}

#[test]
fn input_of_exactly_4_kib_is_hashed_and_one_byte_more_gets_414() {
    let service = start(&[]);
    let at_limit = service.get(&format!("/hash/{}", "a".repeat(4096)));
    assert_eq!(at_limit.status, 200);
    let over = service.get(&format!("/hash/{}", "a".repeat(4097)));
    assert_eq!(over.status, 414);
    assert_eq!(over.json()["error"], "input_too_long");
}

#[test]
fn unknown_paths_get_404_with_a_json_body() {
    let service = start(&[]);
    for path in ["/", "/nope", "/hash", "/hash/", "/hash/a/b"] {
        let reply = service.get(path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(
            reply.headers["content-type"].starts_with("application/json"),
            "{path}"
        );
        assert_eq!(reply.json()["error"], "not_found", "{path}");
    }
}

#[test]
fn other_methods_get_405_with_a_json_body() {
    let service = start(&[]);
    let reply = support::request(service.addr, "POST", "/hash/abc123");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.json()["error"], "method_not_allowed");
}

#[test]
fn every_response_carries_the_service_version() {
    let service = start(&[("SERVICE_VERSION", "1.4.2+g1a2b3c")]);
    for path in ["/hash/abc123", "/healthz", "/nope"] {
        assert_eq!(
            service.get(path).headers["x-service-version"],
            "1.4.2+g1a2b3c",
            "{path}"
        );
    }
}

#[test]
fn liveness_and_readiness_probes_answer_200_while_serving() {
    let service = start(&[]);
    assert_eq!(service.get("/healthz").status, 200);
    assert_eq!(service.get("/readyz").status, 200);
}

#[test]
fn metrics_count_requests_by_route_template_never_by_raw_input() {
    let service = start(&[("SERVICE_VERSION", "1.0.0")]);
    service.get("/hash/abc123");
    service.get("/hash/secret-input");
    service.get("/nope");
    let reply = service.get("/metrics");
    assert_eq!(reply.status, 200);
    assert!(reply.headers["content-type"].starts_with("text/plain; version=0.0.4"));
    let text = reply.body;
    assert!(
        text.contains(r#"http_requests_total{route="/hash/{input}",status="200"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_request_duration_seconds_bucket{route="/hash/{input}",status="200",le="0.0001"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"hash_service_build_info{version="1.0.0"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains("secret-input") && !text.contains("abc123"),
        "{text}"
    );
}

#[test]
fn invalid_settings_exit_with_code_2_and_say_which_variable() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hash-service"))
        .env_clear()
        .env("LISTEN_ADDR", "not-an-address")
        .output()
        .expect("run hash-service");
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("LISTEN_ADDR"), "{stdout}");
}

#[test]
fn input_that_is_not_utf8_gets_400_with_a_json_body() {
    let service = start(&[]);
    let reply = service.get("/hash/%FF");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "bad_request");
}

/// hash-service, built by cargo for this test, with only `env` set.
fn start(env: &[(&str, &str)]) -> Service {
    Service::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_hash-service")),
        env,
    )
}
