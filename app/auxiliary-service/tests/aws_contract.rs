//! auxiliary-service against moto's S3 and SSM through the real AWS SDK: the built binary on
//! 127.0.0.1, its default credential chain pointed at moto by the environment.

mod support;

use aws_sdk_ssm::types::ParameterType;
use service_kit::testing::{closed_port, Service};
use support::moto::{self, Moto, PATH};

const SECRET: &str = "s3cr3t-value-never-logged";

fn aux(endpoint: &str) -> Service {
    aux_logging(endpoint, "info")
}

fn aux_logging(endpoint: &str, level: &'static str) -> Service {
    let mut env = moto::aux_env(endpoint);
    env.push(("LOG_LEVEL", level.to_owned()));
    Service::start(
        env!("CARGO_BIN_EXE_auxiliary-service").as_ref(),
        &moto::as_pairs(&env),
    )
}

/// moto with two buckets and parameters inside and outside the served path.
fn filled_moto() -> Moto {
    let moto = Moto::start();
    moto::runtime().block_on(async {
        moto::create_bucket(&moto, "app-data-test").await;
        moto::create_bucket(&moto, "other-bucket").await;
        moto::put_parameter(
            &moto,
            &format!("{PATH}log-level"),
            "debug",
            ParameterType::String,
        )
        .await;
        moto::put_parameter(
            &moto,
            &format!("{PATH}db/password"),
            SECRET,
            ParameterType::SecureString,
        )
        .await;
        moto::put_parameter(&moto, "/elsewhere/token", "x", ParameterType::String).await;
    });
    moto
}

#[test]
fn lists_the_buckets_s3_holds() {
    let moto = filled_moto();
    let service = aux(&moto.url());
    let reply = service.get("/s3-buckets");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let mut names: Vec<_> = body["buckets"]
        .as_array()
        .expect("buckets is a list")
        .iter()
        .map(|b| b["name"].as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["app-data-test", "other-bucket"]);
    assert_eq!(body["auxiliary_service_version"], "aux-1.2.3");
}

#[test]
fn lists_the_parameters_under_its_path_only() {
    let moto = filled_moto();
    let service = aux(&moto.url());
    let reply = service.get("/parameters");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let mut names: Vec<_> = body["parameters"]
        .as_array()
        .expect("parameters is a list")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().expect("a name").to_owned(),
                p["type"].clone(),
            )
        })
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        [
            ("db/password".to_owned(), "SecureString".into()),
            ("log-level".to_owned(), "String".into())
        ]
    );
    assert_eq!(
        (&body["path"], &body["truncated"]),
        (&PATH.into(), &false.into())
    );
}

#[test]
fn a_secure_string_is_answered_decrypted_and_never_logged() {
    let moto = filled_moto();
    let service = aux_logging(&moto.url(), "trace");
    let reply = service.get("/parameters/db/password");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let parameter = &reply.json()["parameter"];
    assert_eq!(parameter["value"], SECRET);
    assert_eq!(parameter["type"], "SecureString");
    assert_eq!(parameter["full_name"], format!("{PATH}db/password"));
    // Logged at trace, the SDK's own lines included: still no value in any line.
    let logs = service.logs().join("\n");
    assert!(!logs.contains(SECRET), "{logs}");
}

#[test]
fn an_absent_parameter_is_404_and_an_invalid_name_400() {
    let moto = filled_moto();
    let service = aux(&moto.url());
    let absent = service.get("/parameters/no-such-thing");
    assert_eq!(absent.status, 404, "{}", absent.body);
    assert_eq!(absent.json()["error"], "parameter_not_found");
    for invalid in [
        "/parameters/has%20space",
        "/parameters/a//b",
        "/parameters/semi;colon",
    ] {
        let reply = service.get(invalid);
        assert_eq!(reply.status, 400, "{invalid}: {}", reply.body);
        assert_eq!(reply.json()["error"], "bad_request", "{invalid}");
        assert_eq!(reply.json()["auxiliary_service_version"], "aux-1.2.3");
    }
}

#[test]
fn unreachable_aws_is_a_502_naming_aws_on_every_route() {
    let service = aux(&format!("http://{}", closed_port()));
    for path in ["/s3-buckets", "/parameters", "/parameters/log-level"] {
        let reply = service.get(path);
        assert_eq!(reply.status, 502, "{path}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["dependency"], "aws", "{path}");
        assert_eq!(body["error"], "aws_unavailable", "{path}");
    }
}

#[test]
fn metrics_count_aws_calls_by_operation_and_outcome() {
    let moto = filled_moto();
    let service = aux(&moto.url());
    service.get("/s3-buckets");
    service.get("/parameters/no-such-thing");
    let text = service.get("/metrics").body;
    for line in [
        r#"auxiliary_service_aws_calls_total{operation="ListBuckets",outcome="ok"} 1"#,
        r#"auxiliary_service_aws_calls_total{operation="GetParameter",outcome="not_found"} 1"#,
        r#"http_requests_total{route="/parameters/{*name}",status="404"} 1"#,
        r#"auxiliary_service_build_info{version="aux-1.2.3"} 1"#,
    ] {
        assert!(text.contains(line), "{line} not in {text}");
    }
    assert!(
        !text.contains("no-such-thing"),
        "raw names are no label: {text}"
    );
}

#[test]
fn a_missing_parameter_path_exits_with_code_2_naming_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_auxiliary-service"))
        .env_clear()
        .env("AWS_REGION", moto::REGION)
        .output()
        .expect("run auxiliary-service");
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("PARAMETER_PATH"), "{stdout}");
}
