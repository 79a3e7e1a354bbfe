//! Where drift pull requests go: the forge's repository, API and credentials, from
//! `SEXTANT_FORGE_*` (validated once, like every other setting).

use super::{invalid, ConfigError, VARIABLES};
use std::collections::HashMap;
use std::path::PathBuf;

/// A GitHub (or GitHub Enterprise) repository and how to authenticate to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForgeSettings {
    /// The REST API's base URL: `https://api.github.com`, or `https://HOST/api/v3`.
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    pub auth: ForgeAuth,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ForgeAuth {
    /// A token in a file (re-read when it changes).
    TokenFile(PathBuf),
    /// A GitHub App: its id, the installation's id, and its private key (PEM) in a file.
    App {
        app_id: u64,
        installation_id: u64,
        key_file: PathBuf,
    },
}

/// `SEXTANT_FORGE_REPOSITORY` (`owner/name`) with `SEXTANT_FORGE_TOKEN_FILE`, or with
/// `SEXTANT_FORGE_APP_ID`, `SEXTANT_FORGE_APP_INSTALLATION_ID` and `SEXTANT_FORGE_APP_KEY_FILE`;
/// `SEXTANT_FORGE_API_URL` for GitHub Enterprise.
pub(super) fn forge(env: &HashMap<String, String>) -> Result<Option<ForgeSettings>, ConfigError> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let Some(repository) = get("SEXTANT_FORGE_REPOSITORY") else {
        for k in VARIABLES.iter().filter(|k| k.starts_with("SEXTANT_FORGE_")) {
            if get(k).is_some() {
                return Err(invalid(
                    k,
                    "needs SEXTANT_FORGE_REPOSITORY (owner/name)".into(),
                ));
            }
        }
        return Ok(None);
    };
    let Some((owner, repo)) = repository
        .split_once('/')
        .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
    else {
        return Err(invalid(
            "SEXTANT_FORGE_REPOSITORY",
            format!("{repository:?} is not owner/name"),
        ));
    };
    let api_url = get("SEXTANT_FORGE_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    super::endpoint::credentialed_endpoint(
        "SEXTANT_FORGE_API_URL",
        &api_url,
        "the token travels with every request",
    )?;
    let id = |k: &str| -> Result<Option<u64>, ConfigError> {
        get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| invalid(k, format!("{v:?} is not a number")))
            })
            .transpose()
    };
    let app = (
        id("SEXTANT_FORGE_APP_ID")?,
        id("SEXTANT_FORGE_APP_INSTALLATION_ID")?,
        get("SEXTANT_FORGE_APP_KEY_FILE"),
    );
    let auth = match (get("SEXTANT_FORGE_TOKEN_FILE"), app) {
        (Some(file), (None, None, None)) => ForgeAuth::TokenFile(file.into()),
        (None, (Some(app_id), Some(installation_id), Some(key))) => ForgeAuth::App {
            app_id,
            installation_id,
            key_file: key.into(),
        },
        (Some(_), _) => {
            return Err(invalid(
                "SEXTANT_FORGE_TOKEN_FILE",
                "set either a token file or a GitHub App, not both".into(),
            ))
        }
        (None, _) => {
            return Err(invalid(
                "SEXTANT_FORGE_REPOSITORY",
                "needs SEXTANT_FORGE_TOKEN_FILE, or all of SEXTANT_FORGE_APP_ID, SEXTANT_FORGE_APP_INSTALLATION_ID and SEXTANT_FORGE_APP_KEY_FILE".into(),
            ))
        }
    };
    Ok(Some(ForgeSettings {
        api_url: api_url.trim_end_matches('/').to_string(),
        owner: owner.to_string(),
        repo: repo.to_string(),
        auth,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;

    fn error(pairs: &[(&str, &str)]) -> String {
        forge(&env(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn a_forge_is_a_repository_with_exactly_one_way_to_authenticate() {
        assert_eq!(forge(&env(&[])).unwrap(), None);
        assert_eq!(
            forge(&env(&[
                ("SEXTANT_FORGE_REPOSITORY", "acme/deploy"),
                ("SEXTANT_FORGE_TOKEN_FILE", "/etc/sextant/forge/token"),
            ]))
            .unwrap(),
            Some(ForgeSettings {
                api_url: "https://api.github.com".into(),
                owner: "acme".into(),
                repo: "deploy".into(),
                auth: ForgeAuth::TokenFile("/etc/sextant/forge/token".into()),
            })
        );
        let app = forge(&env(&[
            ("SEXTANT_FORGE_REPOSITORY", "acme/deploy"),
            ("SEXTANT_FORGE_API_URL", "https://ghe.example.com/api/v3/"),
            ("SEXTANT_FORGE_APP_ID", "12"),
            ("SEXTANT_FORGE_APP_INSTALLATION_ID", "34"),
            ("SEXTANT_FORGE_APP_KEY_FILE", "/k.pem"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(app.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(
            app.auth,
            ForgeAuth::App {
                app_id: 12,
                installation_id: 34,
                key_file: "/k.pem".into()
            }
        );
    }

    #[test]
    fn bad_forge_settings_name_the_variable() {
        assert!(error(&[("SEXTANT_FORGE_TOKEN_FILE", "/t")])
            .starts_with("SEXTANT_FORGE_TOKEN_FILE: needs SEXTANT_FORGE_REPOSITORY"));
        assert!(error(&[
            ("SEXTANT_FORGE_REPOSITORY", "deploy"),
            ("SEXTANT_FORGE_TOKEN_FILE", "/t")
        ])
        .contains("\"deploy\" is not owner/name"));
        assert!(error(&[("SEXTANT_FORGE_REPOSITORY", "acme/deploy")])
            .contains("needs SEXTANT_FORGE_TOKEN_FILE, or all of"));
        assert!(error(&[
            ("SEXTANT_FORGE_REPOSITORY", "acme/deploy"),
            ("SEXTANT_FORGE_TOKEN_FILE", "/t"),
            ("SEXTANT_FORGE_API_URL", "http://github.example.com"),
        ])
        .starts_with("SEXTANT_FORGE_API_URL: "));
        // A name that only starts like loopback is another host: the token would go there.
        for bad in [
            "http://127.0.0.1.evil.example:8080",
            "http://localhost.evil.example",
        ] {
            assert!(error(&[
                ("SEXTANT_FORGE_REPOSITORY", "acme/deploy"),
                ("SEXTANT_FORGE_TOKEN_FILE", "/t"),
                ("SEXTANT_FORGE_API_URL", bad),
            ])
            .starts_with(&format!(
                "SEXTANT_FORGE_API_URL: {bad:?} must be an https:// URL"
            )));
        }
        let inside = error(&[
            ("SEXTANT_FORGE_REPOSITORY", "acme/deploy"),
            ("SEXTANT_FORGE_TOKEN_FILE", "/t"),
            (
                "SEXTANT_FORGE_API_URL",
                "https://bot:ghp_inside@ghe.example.com/api/v3",
            ),
        ]);
        assert!(
            inside.starts_with("SEXTANT_FORGE_API_URL: ")
                && inside.contains("credentials inside the URL"),
            "{inside}"
        );
        assert!(!inside.contains("ghp_inside"), "{inside}");
        for good in [
            "http://127.0.0.1:8080",
            "http://127.0.0.2:8080",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(
                forge(&env(&[
                    ("SEXTANT_FORGE_REPOSITORY", "acme/deploy"),
                    ("SEXTANT_FORGE_TOKEN_FILE", "/t"),
                    ("SEXTANT_FORGE_API_URL", good),
                ]))
                .is_ok(),
                "{good}"
            );
        }
        assert!(error(&[
            ("SEXTANT_FORGE_REPOSITORY", "acme/deploy"),
            ("SEXTANT_FORGE_TOKEN_FILE", "/t"),
            ("SEXTANT_FORGE_APP_ID", "1"),
        ])
        .contains("not both"));
        assert!(error(&[
            ("SEXTANT_FORGE_REPOSITORY", "acme/deploy"),
            ("SEXTANT_FORGE_APP_ID", "one"),
        ])
        .contains("\"one\" is not a number"));
    }
}
