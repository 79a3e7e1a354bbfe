//! moto's S3 and SSM for the services' tests: registry-testkit's [`Moto`] (127.0.0.1, bounded
//! start, killed on drop) filled through the real AWS SDK with static test credentials, and
//! the environment that points a service's default chain at it.

#![allow(dead_code)] // each test binary uses a different part

use aws_sdk_ssm::types::ParameterType;
pub use registry_testkit::moto::{Moto, REGION};

/// The path the services serve in these tests, as the app-data module would name it.
pub const PATH: &str = "/sextant/test/";

/// The environment of auxiliary-service against `endpoint` (moto, or a closed port).
pub fn aux_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("PARAMETER_PATH", PATH.to_owned()),
        ("SERVICE_VERSION", "aux-1.2.3".to_owned()),
        // Small bounds: a dead endpoint fails fast (connection refused needs no timeout).
        ("AWS_CONNECT_TIMEOUT_MS", "500".to_owned()),
        ("AWS_ATTEMPT_TIMEOUT_MS", "2000".to_owned()),
        ("AWS_OPERATION_TIMEOUT_MS", "4000".to_owned()),
    ]
}

pub fn as_pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(moto.url())
        .http_client(http)
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

pub async fn create_bucket(moto: &Moto, name: &str) {
    let config = aws_sdk_s3::config::Builder::from(&sdk(moto).await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .expect("moto creates the bucket");
}

pub async fn put_parameter(moto: &Moto, name: &str, value: &str, kind: ParameterType) {
    aws_sdk_ssm::Client::new(&sdk(moto).await)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .send()
        .await
        .expect("moto stores the parameter");
}
