//! Where the repository comes from: a remote with the credentials to fetch it, or a local
//! working tree; and the refusals that keep a credential from leaking on the way.

use super::sources::{Sourced, Sources};
use super::{invalid, ConfigError, GitAuth, Repo};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RepoFile {
    url: Option<String>,
    branch: Option<String>,
    path: Option<PathBuf>,
    auth: Option<AuthFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AuthFile {
    username: Option<String>,
    token_file: Option<PathBuf>,
    ssh_key_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
    allow_insecure_http: Option<bool>,
}

/// A remote URL or a local path: exactly one of them.
pub(super) fn repo(src: &Sources, file: RepoFile) -> Result<Repo, ConfigError> {
    let url = src.pick("SEXTANT_REPO_URL", "repo.url", file.url);
    let local = src.path("SEXTANT_REPO_PATH", "repo.path", file.path);
    match (url, local) {
        (Some(u), Some(_)) => Err(invalid(&u.origin, "set either a repository URL or a local path (SEXTANT_REPO_PATH / --repo-path), not both".into())),
        (None, Some(path)) => Ok(Repo::Local { path }),
        (None, None) => Err(invalid(src.path, "no repository: set SEXTANT_REPO_URL (or repo.url), or a local path with --repo-path".into())),
        (Some(url), None) => git(src, url, file.branch, file.auth.unwrap_or_default()),
    }
}

/// A remote: its credentials, checked against the URL they would travel over.
fn git(
    src: &Sources,
    url: Sourced<String>,
    branch: Option<String>,
    auth_file: AuthFile,
) -> Result<Repo, ConfigError> {
    let allow_insecure_http = auth_file.allow_insecure_http;
    let auth = auth(src, &url, auth_file)?;
    if let Some(why) = credentials_in_url(&url.value) {
        return Err(invalid(&url.origin, why.into()));
    }
    let insecure = src
        .flag(
            "SEXTANT_GIT_ALLOW_INSECURE_HTTP",
            "repo.auth.allowInsecureHttp",
            allow_insecure_http,
        )?
        .unwrap_or(false);
    let plain_http = url
        .value
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    if plain_http && matches!(auth, GitAuth::Token { .. }) && !insecure {
        return Err(invalid(&url.origin, "a token would be sent in clear text over http://: use https://, or set SEXTANT_GIT_ALLOW_INSECURE_HTTP=true (repo.auth.allowInsecureHttp) if the network is trusted".into()));
    }
    Ok(Repo::Git {
        url: url.value,
        branch: src
            .pick("SEXTANT_BRANCH", "repo.branch", branch)
            .map_or_else(|| "main".into(), |s| s.value),
        auth,
    })
}

/// A token file or an SSH key file (with its known_hosts), or nothing.
fn auth(src: &Sources, url: &Sourced<String>, auth_file: AuthFile) -> Result<GitAuth, ConfigError> {
    let token = src.path(
        "SEXTANT_GIT_TOKEN_FILE",
        "repo.auth.tokenFile",
        auth_file.token_file,
    );
    let key = src.path(
        "SEXTANT_GIT_SSH_KEY_FILE",
        "repo.auth.sshKeyFile",
        auth_file.ssh_key_file,
    );
    let known = src.path(
        "SEXTANT_GIT_KNOWN_HOSTS_FILE",
        "repo.auth.knownHostsFile",
        auth_file.known_hosts_file,
    );
    Ok(match (token, key) {
        (Some(_), Some(_)) => return Err(invalid(&url.origin, "set a token file or an SSH key file, not both".into())),
        (Some(token_file), None) => GitAuth::Token {
            username: src.pick("SEXTANT_GIT_USERNAME", "repo.auth.username", auth_file.username)
                .map_or_else(|| "git".to_string(), |s| s.value),
            token_file,
        },
        (None, Some(private_key_file)) => GitAuth::SshKey {
            private_key_file,
            known_hosts_file: known.ok_or_else(|| {
                invalid(&url.origin, "an SSH key needs a known_hosts file (SEXTANT_GIT_KNOWN_HOSTS_FILE): host keys are always checked".into())
            })?,
        },
        (None, None) => GitAuth::None,
    })
}

/// Why a Git URL must not be used as it is: it carries a password, or (over HTTP) a user name
/// that is a token. `ssh://git@host/…` and `git@host:…` name a user and are fine. Never echoes
/// the URL.
fn credentials_in_url(url: &str) -> Option<&'static str> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (userinfo, _) = authority.rsplit_once('@')?;
    let http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    if userinfo.contains(':') {
        Some("the URL carries a password: credentials do not belong in the URL; use a token file (SEXTANT_GIT_TOKEN_FILE) or an SSH key file")
    } else if http && !userinfo.is_empty() {
        Some("the URL carries a user name or token: credentials do not belong in the URL; use a token file (SEXTANT_GIT_TOKEN_FILE)")
    } else {
        None
    }
}
