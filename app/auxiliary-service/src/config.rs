//! auxiliary-service's settings: the shared ones, the parameter path it serves, and the bounds
//! on every AWS call (timeouts and attempts); read once at start.

use std::time::Duration;

use service_kit::config::{self, ConfigError, ServeSettings};
use service_kit::parameter_name::ParameterPath;

#[derive(Debug, Clone)]
pub struct Settings {
    pub serve: ServeSettings,
    /// `PARAMETER_PATH`: the SSM path served, `/<project>/<env>/` (the IRSA role reads only it).
    pub parameter_path: ParameterPath,
    pub aws: AwsBounds,
}

/// Bounds on each AWS call; the SDK's standard retry mode retries throttling, 5xx and
/// transport errors with jittered exponential backoff within them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AwsBounds {
    /// `AWS_CONNECT_TIMEOUT_MS`: a TCP and TLS connect.
    pub connect_timeout: Duration,
    /// `AWS_ATTEMPT_TIMEOUT_MS`: one attempt of an operation.
    pub attempt_timeout: Duration,
    /// `AWS_OPERATION_TIMEOUT_MS`: an operation, all attempts and backoff included.
    pub operation_timeout: Duration,
    /// `AWS_MAX_ATTEMPTS`: attempts per operation, the first included.
    pub max_attempts: u32,
}

impl Settings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let serve = ServeSettings::from_lookup(&get, env!("CARGO_PKG_VERSION"))?;
        let path = get("PARAMETER_PATH").ok_or(ConfigError::Missing {
            name: "PARAMETER_PATH",
            hint: "the SSM path served, e.g. /sextant/dev/ (infra/modules/app-data's ssm_path)",
        })?;
        let parameter_path = ParameterPath::parse(&path).map_err(|err| ConfigError::Invalid {
            name: "PARAMETER_PATH",
            value: path.clone(),
            reason: err.to_string(),
        })?;
        let aws = AwsBounds {
            connect_timeout: config::millis(&get, "AWS_CONNECT_TIMEOUT_MS", 1_000, (10, 30_000))?,
            attempt_timeout: config::millis(&get, "AWS_ATTEMPT_TIMEOUT_MS", 2_000, (10, 60_000))?,
            operation_timeout: config::millis(
                &get,
                "AWS_OPERATION_TIMEOUT_MS",
                5_000,
                (10, 120_000),
            )?,
            max_attempts: config::number(&get, "AWS_MAX_ATTEMPTS", 3, (1, 10), "attempts")? as u32,
        };
        if aws.attempt_timeout > aws.operation_timeout {
            return Err(ConfigError::Invalid {
                name: "AWS_ATTEMPT_TIMEOUT_MS",
                value: aws.attempt_timeout.as_millis().to_string(),
                reason: "longer than AWS_OPERATION_TIMEOUT_MS".into(),
            });
        }
        Ok(Self {
            serve,
            parameter_path,
            aws,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::config::lookup;

    #[test]
    fn the_parameter_path_is_required_and_checked() {
        let err = Settings::from_lookup(lookup(&[])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                name: "PARAMETER_PATH",
                ..
            }
        ));
        let err = Settings::from_lookup(lookup(&[("PARAMETER_PATH", "sextant/dev")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("PARAMETER_PATH=\"sextant/dev\""),
            "{err}"
        );
    }

    #[test]
    fn aws_calls_are_bounded_by_default() {
        let settings =
            Settings::from_lookup(lookup(&[("PARAMETER_PATH", "/sextant/dev/")])).expect("valid");
        assert_eq!(
            settings.aws,
            AwsBounds {
                connect_timeout: Duration::from_secs(1),
                attempt_timeout: Duration::from_secs(2),
                operation_timeout: Duration::from_secs(5),
                max_attempts: 3,
            }
        );
    }

    #[test]
    fn an_attempt_may_not_outlast_its_operation() {
        let vars = [
            ("PARAMETER_PATH", "/"),
            ("AWS_ATTEMPT_TIMEOUT_MS", "9000"),
            ("AWS_OPERATION_TIMEOUT_MS", "5000"),
        ];
        let err = Settings::from_lookup(lookup(&vars)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "AWS_ATTEMPT_TIMEOUT_MS",
                ..
            }
        ));
    }
}
