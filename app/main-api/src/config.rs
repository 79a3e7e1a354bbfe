//! main-api's settings: the shared ones, where auxiliary-service is, and the bounds on calling
//! it (per-attempt timeout, attempts, a deadline for the whole answer); read once at start.

use std::time::Duration;

use reqwest::Url;
use service_kit::config::{self, ConfigError, ServeSettings};

#[derive(Debug, Clone)]
pub struct Settings {
    pub serve: ServeSettings,
    pub aux: AuxSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuxSettings {
    /// `AUXILIARY_SERVICE_URL`, e.g. `http://auxiliary-service.auxiliary-service.svc:80`.
    pub base_url: Url,
    /// `AUX_CONNECT_TIMEOUT_MS`.
    pub connect_timeout: Duration,
    /// `AUX_ATTEMPT_TIMEOUT_MS`: one attempt, answer read included; longer than aux's own AWS
    /// operation timeout (5 s) so aux can say AWS failed before main gives up on aux.
    pub attempt_timeout: Duration,
    /// `AUX_MAX_ATTEMPTS`: attempts per request, the first included.
    pub max_attempts: u32,
    /// `AUX_DEADLINE_MS`: every attempt and backoff of one request; past it main answers 502.
    pub deadline: Duration,
}

impl Settings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let serve = ServeSettings::from_lookup(&get, env!("CARGO_PKG_VERSION"))?;
        let url = get("AUXILIARY_SERVICE_URL").ok_or(ConfigError::Missing {
            name: "AUXILIARY_SERVICE_URL",
            hint: "where auxiliary-service answers, e.g. http://auxiliary-service.auxiliary-service.svc",
        })?;
        let invalid = |reason: String| ConfigError::Invalid {
            name: "AUXILIARY_SERVICE_URL",
            value: url.clone(),
            reason,
        };
        let base_url = Url::parse(&url).map_err(|err| invalid(err.to_string()))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host().is_none() {
            return Err(invalid(
                "an http:// or https:// URL with a host is needed".into(),
            ));
        }
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(invalid(
                "no query or fragment: paths are appended to it".into(),
            ));
        }
        let aux = AuxSettings {
            base_url,
            connect_timeout: config::millis(&get, "AUX_CONNECT_TIMEOUT_MS", 1_000, (10, 30_000))?,
            attempt_timeout: config::millis(&get, "AUX_ATTEMPT_TIMEOUT_MS", 6_000, (10, 60_000))?,
            max_attempts: config::number(&get, "AUX_MAX_ATTEMPTS", 3, (1, 10), "attempts")? as u32,
            deadline: config::millis(&get, "AUX_DEADLINE_MS", 10_000, (10, 120_000))?,
        };
        Ok(Self { serve, aux })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::config::lookup;

    #[test]
    fn the_auxiliary_service_url_is_required() {
        let err = Settings::from_lookup(lookup(&[])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                name: "AUXILIARY_SERVICE_URL",
                ..
            }
        ));
    }

    #[test]
    fn refuses_a_url_that_is_not_http() {
        for bad in [
            "auxiliary-service:80",
            "ftp://aux",
            "http://aux/?x=1",
            "not a url",
        ] {
            let err =
                Settings::from_lookup(lookup(&[("AUXILIARY_SERVICE_URL", bad)])).expect_err(bad);
            assert!(
                err.to_string().starts_with("AUXILIARY_SERVICE_URL="),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn calls_to_aux_are_bounded_by_default() {
        let vars = [(
            "AUXILIARY_SERVICE_URL",
            "http://auxiliary-service.auxiliary-service.svc",
        )];
        let aux = Settings::from_lookup(lookup(&vars)).expect("valid").aux;
        assert_eq!(aux.connect_timeout, Duration::from_secs(1));
        assert_eq!(aux.attempt_timeout, Duration::from_secs(6));
        assert_eq!(aux.max_attempts, 3);
        assert_eq!(aux.deadline, Duration::from_secs(10));
    }
}
