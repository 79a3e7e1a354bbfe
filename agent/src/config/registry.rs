//! The image registry settings promotion verifies digests with (docs/promotion.md):
//! `SEXTANT_REGISTRY_INSECURE` (comma-separated `host[:port]`s reached over plain HTTP),
//! `SEXTANT_REGISTRY_ECR_ENDPOINT` (ECR's API elsewhere, e.g. a stand-in), and
//! `SEXTANT_REGISTRY_CREDENTIALS_FILE` (a docker `config.json`) and `SEXTANT_REGISTRY_TRUST_ROOT`
//! (a Sigstore `trusted_root.json`, read once at start, for keyless signatures). ECR's
//! credentials come from the AWS default chain: IRSA's web identity in a cluster.

use super::{invalid, ConfigError};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrySettings {
    pub insecure: Vec<String>,
    pub ecr_endpoint: Option<String>,
    pub credentials_file: Option<PathBuf>,
    pub trust_root: Option<PathBuf>,
}

impl RegistrySettings {
    /// From the process's `SEXTANT_REGISTRY_*` variables (the CLI's way to the same settings).
    pub fn from_env() -> Result<Self, ConfigError> {
        registry(&std::env::vars().collect())
    }

    /// The trusted root keyless signatures are verified against, read now; none configured is
    /// `None` (keyless policies then refuse every digest, saying so).
    pub fn trust(&self) -> Result<Option<sextant_signature::TrustRoot>, ConfigError> {
        self.trust_root
            .as_deref()
            .map(sextant_signature::TrustRoot::read)
            .transpose()
            .map_err(|e| invalid("SEXTANT_REGISTRY_TRUST_ROOT", e.to_string()))
    }

    pub fn config(&self) -> sextant_registry::Config {
        sextant_registry::Config {
            insecure: self.insecure.clone(),
            ecr_endpoint: self.ecr_endpoint.clone(),
            credentials_file: self.credentials_file.clone(),
            ..sextant_registry::Config::default()
        }
    }
}

pub(super) fn registry(env: &HashMap<String, String>) -> Result<RegistrySettings, ConfigError> {
    let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut insecure = Vec::new();
    for host in get("SEXTANT_REGISTRY_INSECURE")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        if !is_host_port(host) {
            return Err(invalid(
                "SEXTANT_REGISTRY_INSECURE",
                format!(
                    "{host:?} is not a host[:port] such as 127.0.0.1:5000 (no scheme, no path)"
                ),
            ));
        }
        insecure.push(host.to_string());
    }
    let ecr_endpoint = get("SEXTANT_REGISTRY_ECR_ENDPOINT");
    if let Some(e) = ecr_endpoint {
        super::endpoint::credentialed_endpoint(
            "SEXTANT_REGISTRY_ECR_ENDPOINT",
            e,
            "AWS session tokens travel with every call",
        )?;
    }
    let ecr_endpoint = ecr_endpoint.map(|e| e.trim_end_matches('/').to_string());
    let credentials_file = get("SEXTANT_REGISTRY_CREDENTIALS_FILE").map(PathBuf::from);
    if let Some(f) = &credentials_file {
        if !f.is_file() {
            return Err(invalid(
                "SEXTANT_REGISTRY_CREDENTIALS_FILE",
                format!("{} does not exist", f.display()),
            ));
        }
    }
    let trust_root = get("SEXTANT_REGISTRY_TRUST_ROOT").map(PathBuf::from);
    if let Some(f) = &trust_root {
        if !f.is_file() {
            return Err(invalid(
                "SEXTANT_REGISTRY_TRUST_ROOT",
                format!("{} does not exist", f.display()),
            ));
        }
    }
    Ok(RegistrySettings {
        insecure,
        ecr_endpoint,
        credentials_file,
        trust_root,
    })
}

/// `registry.example`, `10.0.0.5:5000`, `[::1]:5000`: what a repository starts with.
fn is_host_port(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (h, Some(p)),
        _ => (s, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
    let named = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    (bracketed || named) && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;

    #[test]
    fn hosts_and_endpoints_are_checked_and_each_bad_one_named() {
        let s = registry(&env(&[(
            "SEXTANT_REGISTRY_INSECURE",
            "127.0.0.1:5000, registry.local ,[::1]:5000,",
        )]))
        .unwrap();
        assert_eq!(
            s.insecure,
            ["127.0.0.1:5000", "registry.local", "[::1]:5000"]
        );
        let e = registry(&env(&[("SEXTANT_REGISTRY_INSECURE", "http://x/y")])).unwrap_err();
        assert!(e.to_string().contains("SEXTANT_REGISTRY_INSECURE"), "{e}");
        let e = registry(&env(&[(
            "SEXTANT_REGISTRY_ECR_ENDPOINT",
            "http://ecr.example.com",
        )]))
        .unwrap_err();
        assert!(
            e.to_string().contains("SEXTANT_REGISTRY_ECR_ENDPOINT"),
            "{e}"
        );
        let e = registry(&env(&[(
            "SEXTANT_REGISTRY_CREDENTIALS_FILE",
            "/nope/config.json",
        )]))
        .unwrap_err();
        assert!(e.to_string().contains("/nope/config.json"), "{e}");
        assert_eq!(registry(&env(&[])).unwrap(), RegistrySettings::default());
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        registry(&env(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn an_insecure_registry_is_a_host_and_a_port_only() {
        assert_eq!(
            error(&[("SEXTANT_REGISTRY_INSECURE", "127.0.0.1:5000,http://registry.local")]),
            "SEXTANT_REGISTRY_INSECURE: \"http://registry.local\" is not a host[:port] such as 127.0.0.1:5000 (no scheme, no path)"
        );
        for bad in [
            "registry.local/path",
            "host:99999",
            "host:0",
            "host:",
            ":5000",
            "[]",
            "a b",
        ] {
            assert!(
                error(&[("SEXTANT_REGISTRY_INSECURE", bad)])
                    .starts_with(&format!("SEXTANT_REGISTRY_INSECURE: {bad:?}")),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_ecr_endpoint_is_https_or_plain_http_on_loopback_only() {
        for good in [
            "https://api.ecr.eu-west-1.amazonaws.com",
            "http://127.0.0.1:5001/",
            "http://localhost:5001",
            "http://[::1]:5001",
        ] {
            let s = registry(&env(&[("SEXTANT_REGISTRY_ECR_ENDPOINT", good)])).unwrap();
            assert_eq!(s.ecr_endpoint.as_deref(), Some(good.trim_end_matches('/')));
        }
        for bad in [
            "http://127.0.0.1.attacker.example",
            "http://localhost.attacker.example:5001",
            "http://moto.example:5000",
            "https://",
            "ftp://x",
        ] {
            assert!(
                error(&[("SEXTANT_REGISTRY_ECR_ENDPOINT", bad)]).starts_with(&format!(
                    "SEXTANT_REGISTRY_ECR_ENDPOINT: {bad:?} must be an https:// URL"
                )),
                "{bad}"
            );
        }
    }
}
