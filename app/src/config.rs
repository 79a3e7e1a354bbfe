//! Service settings: read once from environment variables and validated into typed values.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;

const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:8080";
const DEFAULT_LOG_LEVEL: &str = "info";
/// Long enough for the endpoints controller and the ingress to drop a terminating pod.
const DEFAULT_SHUTDOWN_DELAY_SECONDS: u64 = 5;
const DEFAULT_DRAIN_TIMEOUT_SECONDS: u64 = 20;

#[derive(Debug, Clone)]
pub struct Config {
    /// `LISTEN_ADDR`; port 0 asks the kernel for a free port (the bound address is logged).
    pub listen_addr: SocketAddr,
    /// `SERVICE_VERSION`, sent back in the `x-service-version` header of every response.
    pub service_version: HeaderValue,
    /// How long to keep serving, not ready, after SIGTERM (`SHUTDOWN_DELAY_SECONDS`).
    pub shutdown_delay: Duration,
    /// How long in-flight requests may take to finish once draining starts (`DRAIN_TIMEOUT_SECONDS`).
    pub drain_timeout: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error(
        "LISTEN_ADDR={value:?} is not a socket address; use host:port, e.g. {DEFAULT_LISTEN_ADDR}"
    )]
    ListenAddr { value: String },
    #[error("SERVICE_VERSION={value:?} cannot be an HTTP header value; use visible ASCII only")]
    ServiceVersion { value: String },
    #[error("{name}={value:?} is not a whole number of seconds")]
    Seconds { name: &'static str, value: String },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the settings from any variable lookup, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let listen = get("LISTEN_ADDR").unwrap_or_else(|| DEFAULT_LISTEN_ADDR.to_owned());
        let listen_addr = listen
            .parse()
            .map_err(|_| ConfigError::ListenAddr { value: listen })?;

        let version =
            get("SERVICE_VERSION").unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
        let service_version = HeaderValue::from_str(&version)
            .ok()
            .filter(|_| !version.is_empty())
            .ok_or(ConfigError::ServiceVersion { value: version })?;

        Ok(Self {
            listen_addr,
            service_version,
            shutdown_delay: seconds(
                &get,
                "SHUTDOWN_DELAY_SECONDS",
                DEFAULT_SHUTDOWN_DELAY_SECONDS,
            )?,
            drain_timeout: seconds(&get, "DRAIN_TIMEOUT_SECONDS", DEFAULT_DRAIN_TIMEOUT_SECONDS)?,
        })
    }
}

/// The `tracing` filter: `RUST_LOG` wins (full directive syntax), then `LOG_LEVEL`, then `info`.
pub fn log_filter(get: impl Fn(&str) -> Option<String>) -> String {
    get("RUST_LOG")
        .or_else(|| get("LOG_LEVEL"))
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned())
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    match get(name) {
        None => Ok(Duration::from_secs(default)),
        Some(value) => value
            .trim()
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| ConfigError::Seconds { name, value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn defaults_listen_on_all_interfaces_port_8080() {
        let config = Config::from_lookup(lookup(&[])).expect("defaults are valid");
        assert_eq!(config.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(config.service_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(config.shutdown_delay, Duration::from_secs(5));
        assert_eq!(config.drain_timeout, Duration::from_secs(20));
    }

    #[test]
    fn reads_every_setting_from_its_variable() {
        let config = Config::from_lookup(lookup(&[
            ("LISTEN_ADDR", "127.0.0.1:0"),
            ("SERVICE_VERSION", "1.2.3-abc"),
            ("SHUTDOWN_DELAY_SECONDS", "0"),
            ("DRAIN_TIMEOUT_SECONDS", "7"),
        ]))
        .expect("valid settings");
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:0");
        assert_eq!(config.service_version, "1.2.3-abc");
        assert_eq!(config.shutdown_delay, Duration::ZERO);
        assert_eq!(config.drain_timeout, Duration::from_secs(7));
    }

    #[test]
    fn rejects_a_listen_address_without_port() {
        let err = Config::from_lookup(lookup(&[("LISTEN_ADDR", "localhost")])).unwrap_err();
        assert_eq!(
            err,
            ConfigError::ListenAddr {
                value: "localhost".into()
            }
        );
        assert!(err.to_string().contains("LISTEN_ADDR=\"localhost\""));
    }

    #[test]
    fn rejects_a_version_that_is_not_a_header_value() {
        for bad in ["", "v1\nx-injected: 1"] {
            let err = Config::from_lookup(lookup(&[("SERVICE_VERSION", bad)])).unwrap_err();
            assert!(matches!(err, ConfigError::ServiceVersion { .. }), "{bad:?}");
        }
    }

    #[test]
    fn rejects_negative_or_fractional_seconds() {
        for bad in ["-1", "1.5", "soon"] {
            let err = Config::from_lookup(lookup(&[("SHUTDOWN_DELAY_SECONDS", bad)])).unwrap_err();
            assert_eq!(
                err,
                ConfigError::Seconds {
                    name: "SHUTDOWN_DELAY_SECONDS",
                    value: bad.into()
                }
            );
        }
    }

    #[test]
    fn rust_log_wins_over_log_level() {
        assert_eq!(log_filter(lookup(&[])), "info");
        assert_eq!(log_filter(lookup(&[("LOG_LEVEL", "debug")])), "debug");
        assert_eq!(
            log_filter(lookup(&[
                ("LOG_LEVEL", "debug"),
                ("RUST_LOG", "hash_service=trace")
            ])),
            "hash_service=trace"
        );
    }
}
