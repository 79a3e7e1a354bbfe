//! Credentials: a token file (re-read when it changes) or a GitHub App (an RS256 JWT traded for
//! an installation token, cached and refreshed before it expires). Secrets live in `Secret`,
//! whose `Debug` prints nothing of them and which has no `Display`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

use crate::error::{Error, Result};

/// A credential. Read it with `expose()` only where it goes into a header.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A fixed token (personal access token, or a token the caller already holds).
    Token(Secret),
    /// A file holding a token (a mounted Kubernetes Secret); re-read when its mtime or size changes.
    TokenFile(PathBuf),
    /// A GitHub App installation.
    App(AppAuth),
}

/// A GitHub App: its id (or Client ID), the installation on the repository, and its private key.
#[derive(Clone)]
pub struct AppAuth {
    /// The JWT's `iss`: the App id, or its Client ID (`Iv1.…`), as GitHub accepts either.
    pub app_id: String,
    pub installation_id: u64,
    key: std::sync::Arc<RsaKeyPair>,
    /// Mint a new installation token when the cached one expires within this (default 5 min).
    pub refresh_before: Duration,
}

impl std::fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppAuth")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("key", &"redacted")
            .field("refresh_before", &self.refresh_before)
            .finish()
    }
}

impl AppAuth {
    /// From the App's private key as GitHub hands it out (PEM, PKCS#1 `RSA PRIVATE KEY`) or PKCS#8.
    pub fn from_pem(app_id: impl Into<String>, installation_id: u64, pem: &str) -> Result<Self> {
        let (label, der) = pem_decode(pem)?;
        let key = match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            other => {
                return Err(Error::Credentials(format!(
                    "the App key is a PEM {other:?}; GitHub App keys are \"RSA PRIVATE KEY\" (or PKCS#8 \"PRIVATE KEY\")"
                )))
            }
        }
        .map_err(|e| Error::Credentials(format!("the App key is not a usable RSA key: {e}")))?;
        Ok(Self {
            app_id: app_id.into(),
            installation_id,
            key: std::sync::Arc::new(key),
            refresh_before: Duration::from_secs(300),
        })
    }

    pub fn from_pem_file(
        app_id: impl Into<String>,
        installation_id: u64,
        path: &Path,
    ) -> Result<Self> {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            Error::Credentials(format!("cannot read the App key {}: {e}", path.display()))
        })?;
        Self::from_pem(app_id, installation_id, &pem)
    }

    pub fn refresh_before(mut self, d: Duration) -> Self {
        self.refresh_before = d;
        self
    }

    /// The App JWT: issued 60 s in the past (clock drift, as GitHub advises), valid 9 minutes.
    pub(crate) fn jwt(&self, now: SystemTime) -> Result<Secret> {
        let now = unix(now);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({"iat": now - 60, "exp": now + 540, "iss": self.app_id});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| Error::Credentials("cannot sign the App JWT".into()))?;
        Ok(Secret(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        )))
    }
}

fn pem_decode(pem: &str) -> Result<(String, Vec<u8>)> {
    let bad = |why: &str| Error::Credentials(format!("the App key is not PEM: {why}"));
    let begin = pem
        .find("-----BEGIN ")
        .ok_or_else(|| bad("no BEGIN line"))?;
    let rest = &pem[begin + 11..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| bad("unterminated BEGIN line"))?;
    let label = rest[..label_end].to_string();
    let body_start = label_end + 5;
    let end = rest
        .find(&format!("-----END {label}-----"))
        .ok_or_else(|| bad("no END line"))?;
    let b64: String = rest[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|_| bad("the body is not base64"))?;
    Ok((label, der))
}

pub(crate) fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `2016-07-11T22:14:10Z` (GitHub's `expires_at`) as a time; `None` if it is not RFC 3339.
pub(crate) fn parse_rfc3339_utc(s: &str) -> Option<SystemTime> {
    s.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}

/// A token file's last read: re-read when the file's mtime or length changes.
#[derive(Debug, Default)]
pub(crate) struct FileToken {
    stamp: Option<(SystemTime, u64)>,
    token: Option<Secret>,
}

impl FileToken {
    pub(crate) fn current(&mut self, path: &Path, force: bool) -> Result<Secret> {
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::Credentials(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        let stamp = (meta.modified().unwrap_or(UNIX_EPOCH), meta.len());
        if force || self.stamp != Some(stamp) || self.token.is_none() {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Credentials(format!(
                    "cannot read the token file {}: {e}",
                    path.display()
                ))
            })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(Error::Credentials(format!(
                    "the token file {} is empty",
                    path.display()
                )));
            }
            self.token = Some(Secret(token.to_string()));
            self.stamp = Some(stamp);
        }
        self.token
            .clone()
            .ok_or_else(|| Error::Credentials("no token".into()))
    }
}

/// A cached installation token.
#[derive(Debug, Clone)]
pub(crate) struct InstallationToken {
    pub token: Secret,
    pub expires_at: SystemTime,
}

impl InstallationToken {
    pub(crate) fn fresh(&self, now: SystemTime, refresh_before: Duration) -> bool {
        now + refresh_before < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("ghp_verysecret");
        assert!(!format!("{s:?}").contains("verysecret"));
        let a = Auth::Token(s);
        assert!(!format!("{a:?}").contains("verysecret"));
    }

    #[test]
    fn github_timestamps_parse() {
        let t = parse_rfc3339_utc("2016-07-11T22:14:10Z").unwrap();
        assert_eq!(unix(t), 1_468_275_250);
        assert_eq!(parse_rfc3339_utc("2016-07-11T23:14:10+01:00"), Some(t));
        assert_eq!(parse_rfc3339_utc("yesterday"), None);
    }

    #[test]
    fn tokens_refresh_inside_the_margin() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = InstallationToken {
            token: Secret::new("x"),
            expires_at: now + Duration::from_secs(301),
        };
        assert!(t.fresh(now, Duration::from_secs(300)));
        assert!(!t.fresh(now + Duration::from_secs(1), Duration::from_secs(300)));
    }

    #[test]
    fn a_token_file_is_reread_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let mut f = FileToken::default();
        assert_eq!(f.current(&path, false).unwrap().expose(), "first");
        std::fs::write(&path, "second-token\n").unwrap();
        assert_eq!(f.current(&path, false).unwrap().expose(), "second-token");
    }
}
