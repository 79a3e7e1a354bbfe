//! The AWS SDK's configuration, one for every AWS client of the agent (ECR here, KMS for SOPS
//! files): the default credential chain (IRSA in a cluster), rustls on ring (no aws-lc built),
//! a timeout per attempt, and an endpoint for a stand-in (moto) where one is given.

use std::time::Duration;

/// The SDK configuration for `region`, each attempt bounded by `timeout`.
pub async fn sdk_config(
    region: &str,
    timeout: Duration,
    endpoint: Option<&str>,
) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(timeout)
        .operation_attempt_timeout(timeout)
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .http_client(http)
        .timeout_config(timeouts);
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}
