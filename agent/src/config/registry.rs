//! The image registry settings promotion verifies digests with (docs/promotion.md):
//! `SEXTANT_REGISTRY_INSECURE` (comma-separated `host[:port]`s reached over plain HTTP),
//! `SEXTANT_REGISTRY_ECR_ENDPOINT` (ECR's API elsewhere, e.g. a stand-in), and
//! `SEXTANT_REGISTRY_CREDENTIALS_FILE` (a docker `config.json`). ECR's credentials come from the
//! AWS default chain: IRSA's web identity in a cluster.

use super::{invalid, ConfigError};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrySettings {
    pub insecure: Vec<String>,
    pub ecr_endpoint: Option<String>,
    pub credentials_file: Option<PathBuf>,
}

impl RegistrySettings {
    /// From the process's `SEXTANT_REGISTRY_*` variables (the CLI's way to the same settings).
    pub fn from_env() -> Result<Self, ConfigError> {
        registry(&std::env::vars().collect())
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
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let insecure: Vec<String> = get("SEXTANT_REGISTRY_INSECURE")
        .map(|v| {
            v.split(',')
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = insecure.iter().find(|h| h.contains('/') || h.contains(' ')) {
        return Err(invalid(
            "SEXTANT_REGISTRY_INSECURE",
            format!("{bad:?} is not a host[:port] such as 127.0.0.1:5000"),
        ));
    }
    let ecr_endpoint = get("SEXTANT_REGISTRY_ECR_ENDPOINT");
    if let Some(e) = &ecr_endpoint {
        if !(e.starts_with("https://")
            || e.starts_with("http://127.0.0.1")
            || e.starts_with("http://localhost"))
        {
            return Err(invalid(
                "SEXTANT_REGISTRY_ECR_ENDPOINT",
                format!("{e:?} must be an https:// URL (or http:// on 127.0.0.1 for a stand-in)"),
            ));
        }
    }
    let credentials_file = get("SEXTANT_REGISTRY_CREDENTIALS_FILE").map(PathBuf::from);
    if let Some(f) = &credentials_file {
        if !f.is_file() {
            return Err(invalid(
                "SEXTANT_REGISTRY_CREDENTIALS_FILE",
                format!("{} does not exist", f.display()),
            ));
        }
    }
    Ok(RegistrySettings {
        insecure,
        ecr_endpoint,
        credentials_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn hosts_and_endpoints_are_checked_and_each_bad_one_named() {
        let s = registry(&env(&[(
            "SEXTANT_REGISTRY_INSECURE",
            "127.0.0.1:5000, registry.local",
        )]))
        .unwrap();
        assert_eq!(s.insecure, ["127.0.0.1:5000", "registry.local"]);
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
}
