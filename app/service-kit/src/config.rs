//! The settings every service reads the same way: listen address, version, stop timings, log
//! filter; read from any variable lookup so tests need not touch the process environment.

use std::net::SocketAddr;
use std::time::Duration;

const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:8080";
const DEFAULT_LOG_LEVEL: &str = "info";
/// Long enough for the endpoints controller and the gateway to drop a terminating pod.
const DEFAULT_SHUTDOWN_DELAY_SECONDS: u64 = 5;
const DEFAULT_DRAIN_TIMEOUT_SECONDS: u64 = 20;

/// The longest `SERVICE_VERSION` accepted: it travels in every answer and a metric label.
const MAX_VERSION_CHARS: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error(
        "LISTEN_ADDR={value:?} is not a socket address; use host:port, e.g. {DEFAULT_LISTEN_ADDR}"
    )]
    ListenAddr { value: String },
    #[error(
        "SERVICE_VERSION={value:?} is not a version: 1 to {MAX_VERSION_CHARS} visible ASCII characters, set by the release's ConfigMap"
    )]
    ServiceVersion { value: String },
    #[error("{name}={value:?} is not a whole number of {unit}")]
    Number {
        name: &'static str,
        value: String,
        unit: &'static str,
    },
    #[error("{name}={value:?} must be between {min} and {max} {unit}")]
    OutOfRange {
        name: &'static str,
        value: u64,
        min: u64,
        max: u64,
        unit: &'static str,
    },
    #[error("{name} is required: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// What every service needs to listen, report its version and stop.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// `LISTEN_ADDR`; port 0 asks the kernel for a free port (the bound address is logged).
    pub listen_addr: SocketAddr,
    /// `SERVICE_VERSION`, from the release's ConfigMap; read once, at start.
    pub service_version: String,
    /// How long to keep serving, not ready, after SIGTERM (`SHUTDOWN_DELAY_SECONDS`).
    pub shutdown_delay: Duration,
    /// How long in-flight requests may take to finish once draining starts (`DRAIN_TIMEOUT_SECONDS`).
    pub drain_timeout: Duration,
}

impl ServeSettings {
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        default_version: &str,
    ) -> Result<Self, ConfigError> {
        let listen = get("LISTEN_ADDR").unwrap_or_else(|| DEFAULT_LISTEN_ADDR.to_owned());
        let listen_addr = listen
            .parse()
            .map_err(|_| ConfigError::ListenAddr { value: listen })?;
        let version = get("SERVICE_VERSION").unwrap_or_else(|| default_version.to_owned());
        let valid = !version.is_empty()
            && version.len() <= MAX_VERSION_CHARS
            && version.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(ConfigError::ServiceVersion { value: version });
        }
        Ok(Self {
            listen_addr,
            service_version: version,
            shutdown_delay: seconds(
                get,
                "SHUTDOWN_DELAY_SECONDS",
                DEFAULT_SHUTDOWN_DELAY_SECONDS,
            )?,
            drain_timeout: seconds(get, "DRAIN_TIMEOUT_SECONDS", DEFAULT_DRAIN_TIMEOUT_SECONDS)?,
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

/// A whole number read from `name`, `default` when unset, refused outside `min..=max`.
pub fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    (min, max): (u64, u64),
    unit: &'static str,
) -> Result<u64, ConfigError> {
    let value = match get(name) {
        None => default,
        Some(text) => text.trim().parse().map_err(|_| ConfigError::Number {
            name,
            value: text,
            unit,
        })?,
    };
    if !(min..=max).contains(&value) {
        return Err(ConfigError::OutOfRange {
            name,
            value,
            min,
            max,
            unit,
        });
    }
    Ok(value)
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    number(get, name, default, (0, 3600), "seconds").map(Duration::from_secs)
}

/// Milliseconds read from `name` as a [`Duration`], within `min..=max` milliseconds.
pub fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: (u64, u64),
) -> Result<Duration, ConfigError> {
    number(get, name, default, range, "milliseconds").map(Duration::from_millis)
}

/// A variable lookup over fixed pairs, for tests and for settings read from somewhere other
/// than the process environment.
pub fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_all_interfaces_with_the_crate_version() {
        let settings = ServeSettings::from_lookup(&lookup(&[]), "0.1.0").expect("defaults");
        assert_eq!(settings.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(settings.service_version, "0.1.0");
        assert_eq!(settings.shutdown_delay, Duration::from_secs(5));
        assert_eq!(settings.drain_timeout, Duration::from_secs(20));
    }

    #[test]
    fn reads_the_version_the_config_map_sets() {
        let vars = [
            ("SERVICE_VERSION", "1.4.2+g1a2b3c"),
            ("LISTEN_ADDR", "127.0.0.1:0"),
        ];
        let settings = ServeSettings::from_lookup(&lookup(&vars), "0.1.0").expect("valid");
        assert_eq!(settings.service_version, "1.4.2+g1a2b3c");
        assert_eq!(settings.listen_addr.to_string(), "127.0.0.1:0");
    }

    #[test]
    fn refuses_a_version_that_cannot_travel_in_an_answer() {
        let long = "v".repeat(MAX_VERSION_CHARS + 1);
        for bad in ["", "v1 beta", "v1\nx: 1", long.as_str()] {
            let err = ServeSettings::from_lookup(&lookup(&[("SERVICE_VERSION", bad)]), "0")
                .expect_err(bad);
            assert!(matches!(err, ConfigError::ServiceVersion { .. }), "{bad:?}");
        }
    }

    #[test]
    fn numbers_outside_their_range_name_the_variable() {
        let err = millis(&lookup(&[("T_MS", "0")]), "T_MS", 100, (1, 10)).unwrap_err();
        assert!(err.to_string().starts_with("T_MS="), "{err}");
        let err = millis(&lookup(&[("T_MS", "soon")]), "T_MS", 5, (1, 10)).unwrap_err();
        assert!(matches!(err, ConfigError::Number { name: "T_MS", .. }));
        assert_eq!(
            millis(&lookup(&[]), "T_MS", 5, (1, 10)),
            Ok(Duration::from_millis(5))
        );
    }

    #[test]
    fn rust_log_wins_over_log_level() {
        assert_eq!(log_filter(lookup(&[])), "info");
        assert_eq!(log_filter(lookup(&[("LOG_LEVEL", "debug")])), "debug");
        assert_eq!(
            log_filter(lookup(&[
                ("LOG_LEVEL", "debug"),
                ("RUST_LOG", "main_api=trace")
            ])),
            "main_api=trace"
        );
    }
}
