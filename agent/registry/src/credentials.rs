//! Registry credentials from a docker `config.json` (`auths`: host → base64 `user:password`, or
//! `username` and `password`), as a mounted `kubernetes.io/dockerconfigjson` Secret holds them.
//! Credential helpers (`credsStore`, `credHelpers`) and identity tokens are not read. Nothing
//! here prints a credential: errors name the file and the host, never a value.

use crate::error::{CredentialsError, Error};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Credentials {
    /// Normalised host → (user, password).
    by_host: BTreeMap<String, (String, String)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("hosts", &self.by_host.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl Credentials {
    pub(crate) fn read(file: &Path) -> Result<Credentials, Error> {
        let bad = |problem| Error::Credentials {
            file: file.to_path_buf(),
            problem,
        };
        let bytes =
            std::fs::read(file).map_err(|e| bad(CredentialsError::Unreadable(e.to_string())))?;
        Credentials::parse(&bytes).map_err(bad)
    }

    pub(crate) fn parse(bytes: &[u8]) -> Result<Credentials, CredentialsError> {
        // serde_json's messages can quote a value: say only where the file is wrong.
        let config: ConfigJson =
            serde_json::from_slice(bytes).map_err(|e| CredentialsError::NotConfigJson {
                line: e.line(),
                column: e.column(),
            })?;
        let mut by_host = BTreeMap::new();
        for (key, entry) in config.auths {
            let pair = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => {
                    decode(&auth).ok_or_else(|| CredentialsError::BadAuth { host: key.clone() })?
                }
                (_, Some(user), Some(password)) => (user, password),
                _ => continue,
            };
            by_host.insert(normalise(&key), pair);
        }
        Ok(Credentials { by_host })
    }

    /// The user and password for a registry host (`host[:port]`).
    pub(crate) fn for_host(&self, host: &str) -> Option<(&str, &str)> {
        self.by_host
            .get(&normalise(host))
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }
}

fn decode(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// `https://index.docker.io/v1/` and `docker.io` are one host; a scheme or path is dropped.
fn normalise(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auth_and_user_password_entries_by_host() {
        let config = br#"{"auths":{
            "127.0.0.1:5000":{"auth":"c2V4dGFudDpzM2NyM3Q="},
            "https://index.docker.io/v1/":{"username":"u","password":"p"},
            "ghcr.io":{"identitytoken":"ignored"}}}"#;
        let c = Credentials::parse(config).unwrap();
        assert_eq!(c.for_host("127.0.0.1:5000"), Some(("sextant", "s3cr3t")));
        assert_eq!(c.for_host("docker.io"), Some(("u", "p")));
        assert_eq!(c.for_host("index.docker.io"), Some(("u", "p")));
        assert_eq!(c.for_host("ghcr.io"), None);
        assert_eq!(c.for_host("127.0.0.1:5001"), None);
    }

    #[test]
    fn errors_and_debug_never_show_a_credential() {
        let c = Credentials::parse(br#"{"auths":{"r.example":{"auth":"c2V4dGFudDpzM2NyM3Q="}}}"#)
            .unwrap();
        let debug = format!("{c:?}");
        assert!(
            debug.contains("r.example") && !debug.contains("s3cr3t"),
            "{debug}"
        );
        let e = Credentials::parse(br#"{"auths":{"r.example":{"auth":"not base64 s3cr3t"}}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "auths.r.example.auth is not base64 of user:password");
        let e = Credentials::parse(br#"{"auths":{"r.example":{"auth":12345}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("not a docker config.json (line 1") && !e.contains("12345"),
            "{e}"
        );
    }
}
