//! main-api → auxiliary-service → moto, all on 127.0.0.1: the built binaries as processes, moto
//! through registry-testkit. What the API answers, with both versions, and which dependency a
//! 502 names when aux or AWS is down.
//!
//! auxiliary-service's binary is the one cargo built beside main-api's (`cargo nextest run -p
//! main-api -p auxiliary-service`, or the workspace, builds both).

#[path = "../../auxiliary-service/tests/support/moto.rs"]
mod moto;

use std::net::TcpListener;
use std::path::PathBuf;

use aws_sdk_ssm::types::ParameterType;
use moto::{Moto, PATH};
use service_kit::testing::{closed_port, Service};

const MAIN_VERSION: &str = "main-9.8.7";

fn aux_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_main-api")).with_file_name("auxiliary-service");
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build -p auxiliary-service` (or test both packages together)",
        path.display()
    );
    path
}

fn aux(endpoint: &str) -> Service {
    Service::start(&aux_binary(), &moto::as_pairs(&moto::aux_env(endpoint)))
}

fn main_api(aux_url: &str, extra: &[(&str, &str)]) -> Service {
    let mut env = vec![
        ("AUXILIARY_SERVICE_URL", aux_url),
        ("SERVICE_VERSION", MAIN_VERSION),
    ];
    env.extend_from_slice(extra);
    Service::start(env!("CARGO_BIN_EXE_main-api").as_ref(), &env)
}

fn filled_moto() -> Moto {
    let moto = Moto::start();
    moto::runtime().block_on(async {
        moto::create_bucket(&moto, "app-data-test").await;
        moto::put_parameter(
            &moto,
            &format!("{PATH}feature/flag"),
            "on",
            ParameterType::String,
        )
        .await;
        moto::put_parameter(
            &moto,
            &format!("{PATH}api-key"),
            "k-123",
            ParameterType::SecureString,
        )
        .await;
    });
    moto
}

fn assert_versions(body: &serde_json::Value, aux_version: serde_json::Value) {
    assert_eq!(body["main_api_version"], MAIN_VERSION, "{body}");
    assert_eq!(body["auxiliary_service_version"], aux_version, "{body}");
}

#[test]
fn every_route_answers_through_aux_from_aws_with_both_versions() {
    let moto = filled_moto();
    let aux = aux(&moto.url());
    let api = main_api(&aux.url(), &[]);

    let buckets = api.get("/api/s3-buckets");
    assert_eq!(buckets.status, 200, "{}", buckets.body);
    assert_eq!(buckets.json()["buckets"][0]["name"], "app-data-test");
    assert_versions(&buckets.json(), "aux-1.2.3".into());

    let list = api.get("/api/parameters");
    assert_eq!(list.status, 200, "{}", list.body);
    let mut names: Vec<_> = list.json()["parameters"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["api-key", "feature/flag"]);
    assert_versions(&list.json(), "aux-1.2.3".into());

    let one = api.get("/api/parameters/api-key");
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json()["parameter"]["value"], "k-123");
    assert_versions(&one.json(), "aux-1.2.3".into());
    // The SecureString's value travels in the answers, never in a log line of either service.
    let logs = [api.logs(), aux.logs()].concat().join("\n");
    assert!(!logs.contains("k-123"), "{logs}");
}

#[test]
fn an_absent_parameter_is_404_and_an_invalid_name_400_with_both_versions() {
    let moto = filled_moto();
    let aux = aux(&moto.url());
    let api = main_api(&aux.url(), &[]);
    let absent = api.get("/api/parameters/feature/none");
    assert_eq!(absent.status, 404, "{}", absent.body);
    assert_eq!(absent.json()["error"], "parameter_not_found");
    assert_versions(&absent.json(), "aux-1.2.3".into());

    for invalid in [
        "/api/parameters/bad%20name",
        "/api/parameters/a//b",
        "/api/parameters/x%3Fy",
    ] {
        let reply = api.get(invalid);
        assert_eq!(reply.status, 400, "{invalid}: {}", reply.body);
        // Refused by main itself: aux is not asked, so its version is unknown.
        assert_versions(&reply.json(), serde_json::Value::Null);
    }
    let metrics = aux.get("/metrics").body;
    assert!(
        metrics.contains(r#"http_requests_total{route="/parameters/{*name}",status="404"} 1"#)
            && !metrics.contains(r#"status="400""#),
        "aux saw the absent name only: {metrics}"
    );
}

#[test]
fn aux_down_is_a_502_naming_auxiliary_service() {
    let api = main_api(&format!("http://{}", closed_port()), &[]);
    for path in ["/api/s3-buckets", "/api/parameters", "/api/parameters/x"] {
        let reply = api.get(path);
        assert_eq!(reply.status, 502, "{path}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["dependency"], "auxiliary-service", "{path}");
        assert_eq!(body["error"], "auxiliary_service_unavailable", "{path}");
        assert_versions(&body, serde_json::Value::Null);
    }
    let metrics = api.get("/metrics").body;
    assert!(
        metrics.contains(r#"main_api_aux_calls_total{outcome="unreachable"} 3"#),
        "{metrics}"
    );
}

#[test]
fn aws_down_is_a_502_naming_aws_with_aux_version() {
    let moto = filled_moto();
    let aux = aux(&moto.url());
    let api = main_api(&aux.url(), &[]);
    assert_eq!(api.get("/api/s3-buckets").status, 200);
    drop(moto); // moto's process group is killed: AWS is gone
    for path in [
        "/api/s3-buckets",
        "/api/parameters",
        "/api/parameters/api-key",
    ] {
        let reply = api.get(path);
        assert_eq!(reply.status, 502, "{path}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["dependency"], "aws", "{path}");
        assert_eq!(body["error"], "aws_unavailable", "{path}");
        assert_versions(&body, "aux-1.2.3".into());
    }
}

#[test]
fn an_aux_that_accepts_but_never_answers_is_a_502_within_the_deadline() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let url = format!("http://{}", silent.local_addr().expect("its address"));
    let bounds = [
        ("AUX_ATTEMPT_TIMEOUT_MS", "200"),
        ("AUX_MAX_ATTEMPTS", "2"),
        ("AUX_DEADLINE_MS", "1000"),
    ];
    let api = main_api(&url, &bounds);
    let reply = api.get("/api/s3-buckets");
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert_eq!(reply.json()["dependency"], "auxiliary-service");
    assert_eq!(reply.json()["error"], "auxiliary_service_timeout");
}

#[test]
fn unknown_routes_and_methods_answer_json_with_both_versions() {
    let api = main_api(&format!("http://{}", closed_port()), &[]);
    let reply = api.get("/nope");
    assert_eq!(reply.status, 404);
    assert_versions(&reply.json(), serde_json::Value::Null);
    let reply = service_kit::testing::request(api.addr, "POST", "/api/s3-buckets");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.json()["error"], "method_not_allowed");
    assert_eq!(api.get("/readyz").status, 200);
    assert_eq!(api.get("/healthz").status, 200);
}

#[test]
fn sigterm_turns_readiness_off_while_still_serving_and_a_second_one_stops_it() {
    let aux_down = format!("http://{}", closed_port());
    // A delay no test waits out: the second signal ends it, so nothing here races a clock.
    let mut api = main_api(&aux_down, &[("SHUTDOWN_DELAY_SECONDS", "300")]);
    assert_eq!(api.get("/readyz").status, 200);
    api.sigterm();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while api.get("/readyz").status != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "still ready 10 s after SIGTERM"
        );
    }
    // Not ready, yet still answering, and still naming aux when it is down.
    assert_eq!(
        api.get("/api/s3-buckets").json()["dependency"],
        "auxiliary-service"
    );
    api.sigterm();
    let status = api.wait_for_exit(std::time::Duration::from_secs(10));
    assert!(status.success(), "{status}");
}
