//! Credentials for the Git remote: the `Auth` setting and the libgit2 callbacks that apply it
//! (token over HTTPS, SSH key with a known_hosts check). Secrets are read from files at each
//! fetch, so a rotated Secret is picked up, and never appear in an error or a log line.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use crate::error::{redact_url, SourceError};
use crate::known_hosts::{host_lookup_name, ssh_port, HostKeyCheck, KnownHosts};

/// How to authenticate to the Git remote. Every secret is a file path (e.g. a mounted Secret),
/// never the secret itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous access (public HTTPS, `git://`, `file://`).
    #[default]
    None,
    /// HTTPS basic auth with a personal access or deploy token.
    Token {
        /// The user name sent with the token (GitHub accepts any, e.g. `x-access-token`).
        username: String,
        /// A file holding the token; surrounding whitespace is trimmed.
        token_file: PathBuf,
    },
    /// SSH with an unencrypted private key; the server's host key must be in `known_hosts_file`.
    SshKey {
        /// The private key (OpenSSH or PEM format, no passphrase).
        private_key_file: PathBuf,
        /// An OpenSSH known_hosts file with plain (not hashed) host names.
        known_hosts_file: PathBuf,
    },
}

/// What the callbacks saw go wrong, so that the caller can report it precisely instead of
/// libgit2's generic "callback returned error".
#[derive(Default)]
pub(crate) struct CallbackState {
    failure: RefCell<Option<SourceError>>,
    offered: Cell<u32>,
}

impl CallbackState {
    pub(crate) fn take_failure(&self) -> Option<SourceError> {
        self.failure.borrow_mut().take()
    }

    fn fail(&self, err: SourceError) -> git2::Error {
        let msg = err.to_string();
        *self.failure.borrow_mut() = Some(err);
        git2::Error::from_str(&msg)
    }
}

/// Secrets loaded for one operation. Its `Debug` never shows the token.
enum Loaded {
    None,
    Token {
        username: String,
        token: String,
    },
    SshKey {
        private_key_file: PathBuf,
        known_hosts: KnownHosts,
        known_hosts_file: PathBuf,
    },
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Loaded::None => "None",
            Loaded::Token { .. } => "Token(***)",
            Loaded::SshKey { .. } => "SshKey",
        })
    }
}

fn load(auth: &Auth) -> Result<Loaded, SourceError> {
    Ok(match auth {
        Auth::None => Loaded::None,
        Auth::Token {
            username,
            token_file,
        } => Loaded::Token {
            username: username.clone(),
            token: read_token(token_file)?,
        },
        Auth::SshKey {
            private_key_file,
            known_hosts_file,
        } => {
            if !private_key_file.is_file() {
                return Err(SourceError::CredentialFile {
                    path: private_key_file.clone(),
                    reason: "the SSH private key file does not exist or is not a file".into(),
                });
            }
            let text = std::fs::read_to_string(known_hosts_file).map_err(|e| {
                SourceError::CredentialFile {
                    path: known_hosts_file.clone(),
                    reason: format!("cannot read the known_hosts file: {e}"),
                }
            })?;
            let known_hosts = KnownHosts::parse(&text);
            if known_hosts.len() == 0 {
                let note = known_hosts.unsupported_note().unwrap_or_default();
                return Err(SourceError::CredentialFile {
                    path: known_hosts_file.clone(),
                    reason: format!("no usable host key line in the known_hosts file {note}")
                        .trim_end()
                        .to_owned(),
                });
            }
            Loaded::SshKey {
                private_key_file: private_key_file.clone(),
                known_hosts,
                known_hosts_file: known_hosts_file.clone(),
            }
        }
    })
}

/// Reads a token file, trimmed. The error names the file, never the content.
pub(crate) fn read_token(path: &Path) -> Result<String, SourceError> {
    let raw = std::fs::read_to_string(path).map_err(|e| SourceError::CredentialFile {
        path: path.to_owned(),
        reason: format!("cannot read the token file: {}", e.kind()),
    })?;
    let token = raw.trim();
    if token.is_empty() {
        return Err(SourceError::CredentialFile {
            path: path.to_owned(),
            reason: "the token file is empty".into(),
        });
    }
    Ok(token.to_owned())
}

/// Builds the libgit2 callbacks for one remote operation on `url`.
pub(crate) fn callbacks<'a>(
    auth: &Auth,
    url: &'a str,
    state: &'a CallbackState,
) -> Result<RemoteCallbacks<'a>, SourceError> {
    let loaded = std::rc::Rc::new(load(auth)?);
    let mut cbs = RemoteCallbacks::new();

    let creds = loaded.clone();
    cbs.credentials(move |_url, username_from_url, allowed| {
        credentials(&creds, url, username_from_url, allowed, state)
    });

    let certs = loaded;
    cbs.certificate_check(move |cert, host| {
        let Loaded::SshKey { known_hosts, known_hosts_file, .. } = &*certs else {
            // TLS: let libgit2 verify the chain against the system roots.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let Some(hostkey) = cert.as_hostkey() else {
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let port = ssh_port(url);
        let fail = |reason: String| {
            Err(state.fail(SourceError::HostKey {
                host: host_lookup_name(host, port),
                known_hosts: known_hosts_file.clone(),
                reason,
            }))
        };
        let Some(key) = hostkey.hostkey() else {
            return fail("the SSH transport did not expose the raw host key".into());
        };
        match known_hosts.check(host, port, key) {
            HostKeyCheck::Match => Ok(CertificateCheckStatus::CertificateOk),
            HostKeyCheck::Revoked => fail("the presented key is marked @revoked".into()),
            HostKeyCheck::Mismatch { known_types } => fail(format!(
                "the presented key differs from the known {} key(s): the server was re-keyed or the connection is intercepted",
                known_types.join("/")
            )),
            HostKeyCheck::Unknown => fail(match known_hosts.unsupported_note() {
                Some(note) => format!("host not in the known_hosts file ({note})"),
                None => "host not in the known_hosts file".into(),
            }),
        }
    });
    Ok(cbs)
}

/// libgit2 calls this again after each rejection; offering the same credential type twice
/// would loop forever, so the second offer of a type is reported as a rejection.
fn credentials(
    loaded: &Loaded,
    url: &str,
    username_from_url: Option<&str>,
    allowed: CredentialType,
    state: &CallbackState,
) -> Result<Cred, git2::Error> {
    let auth_err = |message: &str| {
        state.fail(SourceError::Auth {
            url: redact_url(url),
            message: message.to_owned(),
        })
    };
    let offer = |kind: CredentialType| {
        let bit = kind.bits();
        if state.offered.get() & bit != 0 {
            return Err(auth_err("the remote rejected the credentials"));
        }
        state.offered.set(state.offered.get() | bit);
        Ok(())
    };
    match loaded {
        Loaded::None => Err(auth_err(
            "the remote asks for credentials but none are configured",
        )),
        Loaded::Token { username, token } => {
            if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return Err(auth_err(
                    "the remote does not accept a user name and token (is this an SSH URL? use an SSH key)",
                ));
            }
            offer(CredentialType::USER_PASS_PLAINTEXT)?;
            Cred::userpass_plaintext(username, token)
        }
        Loaded::SshKey {
            private_key_file, ..
        } => {
            let user = username_from_url.unwrap_or("git");
            if allowed.contains(CredentialType::USERNAME) {
                offer(CredentialType::USERNAME)?;
                return Cred::username(user);
            }
            if !allowed.contains(CredentialType::SSH_KEY) {
                return Err(auth_err(
                    "the remote does not accept an SSH key (is this an HTTPS URL? use a token)",
                ));
            }
            offer(CredentialType::SSH_KEY)?;
            Cred::ssh_key(user, None, private_key_file, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  s3cret-token\n").unwrap();
        assert_eq!(read_token(&path).unwrap(), "s3cret-token");
    }

    #[test]
    fn token_errors_name_the_file_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let err = read_token(&empty).unwrap_err().to_string();
        assert!(
            err.contains("empty") && err.contains(&*empty.to_string_lossy()),
            "{err}"
        );

        let missing = dir.path().join("missing");
        let err = read_token(&missing).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn ssh_auth_needs_the_key_and_a_usable_known_hosts_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        let kh = dir.path().join("known_hosts");
        let auth = Auth::SshKey {
            private_key_file: key.clone(),
            known_hosts_file: kh.clone(),
        };
        let err = load(&auth).unwrap_err();
        assert!(matches!(&err, SourceError::CredentialFile { path, .. } if *path == key));

        std::fs::write(&key, "not really a key").unwrap();
        std::fs::write(&kh, "|1|c2FsdA==|aGFzaA== ssh-ed25519 AAAA\n").unwrap();
        let err = load(&auth).unwrap_err().to_string();
        assert!(err.contains("hashed host names are not supported"), "{err}");
    }

    #[test]
    fn loaded_token_debug_hides_the_secret() {
        let loaded = Loaded::Token {
            username: "u".into(),
            token: "s3cret".into(),
        };
        assert!(!format!("{loaded:?}").contains("s3cret"));
    }

    #[test]
    fn a_rejected_token_is_not_offered_twice() {
        let state = CallbackState::default();
        let loaded = Loaded::Token {
            username: "u".into(),
            token: "s3cret".into(),
        };
        let url = "https://u:s3cret@h/r.git";
        assert!(credentials(
            &loaded,
            url,
            None,
            CredentialType::USER_PASS_PLAINTEXT,
            &state
        )
        .is_ok());
        assert!(credentials(
            &loaded,
            url,
            None,
            CredentialType::USER_PASS_PLAINTEXT,
            &state
        )
        .is_err());
        let err = state.take_failure().unwrap();
        assert!(matches!(err, SourceError::Auth { .. }));
        let msg = err.to_string();
        assert!(msg.contains("rejected") && !msg.contains("s3cret"), "{msg}");
    }

    #[test]
    fn no_credentials_configured_is_an_auth_error() {
        let state = CallbackState::default();
        let res = credentials(
            &Loaded::None,
            "https://h/r.git",
            None,
            CredentialType::USER_PASS_PLAINTEXT,
            &state,
        );
        assert!(res.is_err());
        assert!(matches!(
            state.take_failure(),
            Some(SourceError::Auth { .. })
        ));
    }
}
