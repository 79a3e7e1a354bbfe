//! The AWS edge: S3 ListBuckets and SSM DescribeParameters / GetParameter through the AWS SDK
//! for Rust, with the default credential chain (IRSA's web identity on EKS), rustls on ring,
//! bounded timeouts and the SDK's standard retries. Parameter values are returned, never
//! logged and never put in an error.

use std::error::Error as StdError;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ssm::types::ParameterStringFilter;
use serde::Serialize;
use service_kit::parameter_name::{ParameterName, ParameterPath};

use crate::config::AwsBounds;
use crate::metrics::AwsMetrics;

/// DescribeParameters pages read at most (50 parameters each): a bound on one answer.
const MAX_PAGES: usize = 20;
const PAGE_SIZE: i32 = 50;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("parameter {name} does not exist")]
    NotFound { name: String },
    #[error("{operation}: AWS refused the request: {message}")]
    Refused {
        operation: &'static str,
        message: String,
    },
    #[error("{operation}: AWS denied access ({code}); the service account's IAM role lacks it: {message}")]
    Denied {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("{operation}: AWS did not answer in time or could not be reached: {detail}")]
    Unavailable {
        operation: &'static str,
        detail: String,
    },
    #[error("{operation}: AWS failed: {detail}")]
    Failed {
        operation: &'static str,
        detail: String,
    },
    #[error("no AWS region: set AWS_REGION (the IRSA webhook sets it on EKS)")]
    NoRegion,
}

impl AwsError {
    /// The outcome label of `auxiliary_service_aws_calls_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Refused { .. } => "refused",
            Self::Denied { .. } => "denied",
            Self::Unavailable { .. } => "unavailable",
            Self::Failed { .. } | Self::NoRegion => "failed",
        }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Bucket {
    pub name: String,
    /// RFC 3339, when S3 says.
    pub created: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ParameterSummary {
    /// The name under the served path (what `/parameters/{name}` takes).
    pub name: String,
    pub full_name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub version: i64,
    pub last_modified: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ParameterList {
    pub parameters: Vec<ParameterSummary>,
    /// True when more than [`MAX_PAGES`] pages exist; the answer holds the first ones.
    pub truncated: bool,
}

/// A parameter's value; `Debug` leaves the value out so no log line can carry it.
#[derive(Serialize)]
pub struct ParameterValue {
    pub name: String,
    pub full_name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub version: i64,
    pub value: String,
}

impl std::fmt::Debug for ParameterValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParameterValue")
            .field("full_name", &self.full_name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

pub struct Aws {
    s3: aws_sdk_s3::Client,
    ssm: aws_sdk_ssm::Client,
    metrics: AwsMetrics,
}

impl Aws {
    /// Clients from the default chain (region, credentials, `AWS_ENDPOINT_URL`) within `bounds`.
    pub async fn from_env(bounds: AwsBounds, metrics: AwsMetrics) -> Result<Self, AwsError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(bounds.connect_timeout)
            .operation_attempt_timeout(bounds.attempt_timeout)
            .operation_timeout(bounds.operation_timeout)
            .build();
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(bounds.max_attempts))
            .load()
            .await;
        if sdk.region().is_none() {
            return Err(AwsError::NoRegion);
        }
        // Path-style addressing: the same URLs against AWS and an endpoint override (moto).
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        Ok(Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            ssm: aws_sdk_ssm::Client::new(&sdk),
            metrics,
        })
    }

    /// S3 ListBuckets: every bucket the role may see.
    pub async fn list_buckets(&self) -> Result<Vec<Bucket>, AwsError> {
        const OP: &str = "ListBuckets";
        let mut call = self.metrics.call(OP);
        let result = self.s3.list_buckets().send().await;
        let output = result.map_err(|err| classify(OP, err, None));
        let output = record(&mut call, output)?;
        Ok(output
            .buckets()
            .iter()
            .map(|bucket| Bucket {
                name: bucket.name().unwrap_or_default().to_owned(),
                created: bucket.creation_date().and_then(rfc3339),
            })
            .collect())
    }

    /// SSM DescribeParameters of everything under `path`, recursively, at most [`MAX_PAGES`].
    pub async fn describe_parameters(
        &self,
        path: &ParameterPath,
    ) -> Result<ParameterList, AwsError> {
        const OP: &str = "DescribeParameters";
        let mut call = self.metrics.call(OP);
        let listed = self.describe_pages(OP, path).await;
        record(&mut call, listed)
    }

    async fn describe_pages(
        &self,
        op: &'static str,
        path: &ParameterPath,
    ) -> Result<ParameterList, AwsError> {
        let mut list = ParameterList {
            parameters: Vec::new(),
            truncated: false,
        };
        let mut token = None;
        for page in 0..=MAX_PAGES {
            if page == MAX_PAGES {
                list.truncated = token.is_some();
                break;
            }
            let mut request = self.ssm.describe_parameters().max_results(PAGE_SIZE);
            if path.as_str() != "/" {
                request = request.parameter_filters(path_filter(op, path)?);
            }
            let output = request
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|err| classify(op, err, None))?;
            for meta in output.parameters() {
                let full = meta.name().unwrap_or_default();
                let Some(name) = path.relative(full) else {
                    continue;
                };
                list.parameters.push(ParameterSummary {
                    name: name.to_owned(),
                    full_name: full.to_owned(),
                    kind: meta.r#type().map(|t| t.as_str().to_owned()),
                    version: meta.version(),
                    last_modified: meta.last_modified_date().and_then(rfc3339),
                });
            }
            token = output.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(list)
    }

    /// SSM GetParameter with decryption: a SecureString's value in clear.
    pub async fn get_parameter(&self, name: &ParameterName) -> Result<ParameterValue, AwsError> {
        const OP: &str = "GetParameter";
        let mut call = self.metrics.call(OP);
        let result = self
            .ssm
            .get_parameter()
            .name(&name.full)
            .with_decryption(true)
            .send()
            .await
            .map_err(|err| classify(OP, err, Some(&name.full)));
        let output = record(&mut call, result)?;
        let parameter = output.parameter().ok_or_else(|| AwsError::Failed {
            operation: OP,
            detail: "the answer holds no parameter".into(),
        })?;
        Ok(ParameterValue {
            name: name.relative.clone(),
            full_name: name.full.clone(),
            kind: parameter.r#type().map(|t| t.as_str().to_owned()),
            version: parameter.version(),
            value: parameter.value().unwrap_or_default().to_owned(),
        })
    }
}

fn record<T>(
    call: &mut crate::metrics::CallGuard<'_>,
    result: Result<T, AwsError>,
) -> Result<T, AwsError> {
    call.outcome(match &result {
        Ok(_) => "ok",
        Err(err) => err.metric_label(),
    });
    result
}

fn path_filter(op: &'static str, path: &ParameterPath) -> Result<ParameterStringFilter, AwsError> {
    ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values(path.as_str())
        .build()
        .map_err(|err| AwsError::Failed {
            operation: op,
            detail: err.to_string(),
        })
}

fn rfc3339(time: &DateTime) -> Option<String> {
    time.fmt(DateTimeFormat::DateTime).ok()
}

/// What an SDK error means for the caller; `name` is the parameter asked for, if any.
fn classify<E, R>(operation: &'static str, err: SdkError<E, R>, name: Option<&str>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => AwsError::Unavailable {
            operation,
            detail: DisplayErrorContext(&err).to_string(),
        },
        SdkError::ServiceError(context) => {
            let service = context.err();
            let code = service.code().unwrap_or("Unknown").to_owned();
            let message = service.message().unwrap_or_default().to_owned();
            match (code.as_str(), name) {
                ("ParameterNotFound" | "ParameterVersionNotFound", Some(name)) => {
                    AwsError::NotFound {
                        name: name.to_owned(),
                    }
                }
                ("ValidationException", _) => AwsError::Refused { operation, message },
                (c, _) if is_denied(c) => AwsError::Denied {
                    operation,
                    code,
                    message,
                },
                _ => AwsError::Failed {
                    operation,
                    detail: format!("{code}: {message}"),
                },
            }
        }
        _ => AwsError::Failed {
            operation,
            detail: DisplayErrorContext(&err).to_string(),
        },
    }
}

fn is_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
    )
}
