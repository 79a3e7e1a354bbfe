//! The credential each request carries: a token, a token file read anew when GitHub refuses it,
//! or a GitHub App's installation token, minted and refreshed before it expires.

use std::time::SystemTime;

use reqwest::header::HeaderValue;
use reqwest::Method;

use super::Transport;
use crate::auth::{parse_rfc3339_utc, AppAuth, Auth, FileToken, InstallationToken, Secret};
use crate::error::{Error, Result};

pub(super) enum Credentials {
    Token(Secret),
    File(std::path::PathBuf, tokio::sync::Mutex<FileToken>),
    App(AppAuth, tokio::sync::Mutex<Option<InstallationToken>>),
}

impl From<Auth> for Credentials {
    fn from(auth: Auth) -> Self {
        match auth {
            Auth::Token(t) => Credentials::Token(t),
            Auth::TokenFile(p) => {
                Credentials::File(p, tokio::sync::Mutex::new(FileToken::default()))
            }
            Auth::App(a) => Credentials::App(a, tokio::sync::Mutex::new(None)),
        }
    }
}

impl Transport {
    /// The `Authorization` value. `refresh` forces a new installation token / a re-read.
    pub(super) async fn authorization(&self, refresh: bool) -> Result<HeaderValue> {
        let token = match &self.creds {
            Credentials::Token(t) => t.clone(),
            Credentials::File(path, cache) => cache.lock().await.current(path, refresh)?,
            Credentials::App(app, cache) => {
                let mut cached = cache.lock().await;
                let now = SystemTime::now();
                match cached.as_ref() {
                    Some(t) if !refresh && t.fresh(now, app.refresh_before) => t.token.clone(),
                    _ => {
                        let minted = self.mint_installation_token(app).await?;
                        let token = minted.token.clone();
                        *cached = Some(minted);
                        token
                    }
                }
            }
        };
        bearer(&token)
    }

    async fn mint_installation_token(&self, app: &AppAuth) -> Result<InstallationToken> {
        #[derive(serde::Deserialize)]
        struct Minted {
            token: String,
            expires_at: String,
        }
        const OP: &str = "create_installation_token";
        let path = format!("/app/installations/{}/access_tokens", app.installation_id);
        let jwt = bearer(&app.jwt(SystemTime::now())?)?;
        // Boxed: `exchange` asks for credentials, which may mint a token through `exchange`.
        let answer = Box::pin(self.exchange(OP, Method::POST, &path, &[], None, Some(jwt))).await?;
        let minted: Minted = answer.json(OP, &path)?;
        let expires_at = parse_rfc3339_utc(&minted.expires_at).ok_or_else(|| Error::Decode {
            operation: OP,
            path: path.clone(),
            message: format!("expires_at {:?} is not an RFC 3339 time", minted.expires_at),
        })?;
        tracing::debug!(
            installation = app.installation_id,
            "minted a GitHub App installation token"
        );
        Ok(InstallationToken {
            token: Secret::new(minted.token),
            expires_at,
        })
    }

    pub(super) fn can_refresh(&self) -> bool {
        !matches!(self.creds, Credentials::Token(_))
    }
}

fn bearer(token: &Secret) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        Error::Credentials("the token holds characters a header cannot carry".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}
