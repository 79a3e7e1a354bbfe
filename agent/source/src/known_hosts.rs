//! OpenSSH `known_hosts` parsing and host-key matching — pure, so the SSH host check is
//! decided here and only applied by the libgit2 callback in `auth.rs`.
//!
//! Supported: `host[,host2,...] keytype base64key [comment]` lines, `*`/`?` wildcards,
//! `!negated` patterns, `[host]:port` for non-default ports, and `@revoked` markers.
//! Not supported (skipped, and reported when nothing else matches): hashed host names
//! (`|1|salt|hash`, written by `ssh-keyscan -H` or `HashKnownHosts yes`) and `@cert-authority`.

use base64::Engine as _;

/// The parsed entries of one known_hosts file.
#[derive(Debug, Default, Clone)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
    /// Lines skipped because their host names are hashed.
    hashed: usize,
    /// Lines skipped because they use `@cert-authority`.
    cert_authority: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    patterns: Vec<String>,
    key_type: String,
    key: Vec<u8>,
    revoked: bool,
}

/// The verdict on a host key presented by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKeyCheck {
    /// An entry for this host lists exactly this key.
    Match,
    /// The host is known, but with other keys (possible man-in-the-middle, or a re-keyed server).
    Mismatch { known_types: Vec<String> },
    /// This key is marked `@revoked`.
    Revoked,
    /// No usable entry names this host.
    Unknown,
}

impl KnownHosts {
    /// Parses known_hosts text; malformed lines are skipped (OpenSSH does the same).
    pub(crate) fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut hosts = fields.next().unwrap_or_default();
            let mut revoked = false;
            if hosts.starts_with('@') {
                match hosts {
                    "@revoked" => revoked = true,
                    _ => {
                        out.cert_authority += 1;
                        continue;
                    }
                }
                hosts = fields.next().unwrap_or_default();
            }
            if hosts.starts_with("|1|") {
                out.hashed += 1;
                continue;
            }
            let (Some(key_type), Some(key_b64)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(key) = base64::engine::general_purpose::STANDARD.decode(key_b64) else {
                continue;
            };
            out.entries.push(Entry {
                patterns: hosts.split(',').map(str::to_ascii_lowercase).collect(),
                key_type: key_type.to_owned(),
                key,
                revoked,
            });
        }
        out
    }

    /// Number of usable entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Why an unknown host might have been missed, for the error message.
    pub(crate) fn unsupported_note(&self) -> Option<String> {
        let mut notes = Vec::new();
        if self.hashed > 0 {
            notes.push(format!(
                "{} hashed entr{} (|1|...) skipped: hashed host names are not supported, write plain ones (ssh-keyscan without -H)",
                self.hashed,
                if self.hashed == 1 { "y" } else { "ies" }
            ));
        }
        if self.cert_authority > 0 {
            notes.push(format!(
                "{} @cert-authority entr{} skipped: not supported",
                self.cert_authority,
                if self.cert_authority == 1 { "y" } else { "ies" }
            ));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// Checks the raw (SSH wire-format) `key` presented by `host` on `port`.
    pub(crate) fn check(&self, host: &str, port: u16, key: &[u8]) -> HostKeyCheck {
        let name = host_lookup_name(host, port);
        let applicable: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| host_matches(&e.patterns, &name))
            .collect();
        if applicable.iter().any(|e| e.revoked && e.key == key) {
            return HostKeyCheck::Revoked;
        }
        let known: Vec<&Entry> = applicable.into_iter().filter(|e| !e.revoked).collect();
        if known.iter().any(|e| e.key == key) {
            HostKeyCheck::Match
        } else if known.is_empty() {
            HostKeyCheck::Unknown
        } else {
            let mut known_types: Vec<String> = known.iter().map(|e| e.key_type.clone()).collect();
            known_types.dedup();
            HostKeyCheck::Mismatch { known_types }
        }
    }
}

/// The name OpenSSH records a host under: `host`, or `[host]:port` for a non-default port.
pub(crate) fn host_lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// The SSH port of a remote URL: explicit in `ssh://[user@]host:port/...`, else 22 (also for
/// scp-like `user@host:path`).
pub(crate) fn ssh_port(url: &str) -> u16 {
    let Some(rest) = url
        .strip_prefix("ssh://")
        .or_else(|| url.strip_prefix("git+ssh://"))
        .or_else(|| url.strip_prefix("ssh+git://"))
    else {
        return 22;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    // `[v6::addr]:port` or `host:port`
    let port = match host_port.rfind(']') {
        Some(close) => host_port[close + 1..].strip_prefix(':'),
        None => host_port.rsplit_once(':').map(|(_, p)| p),
    };
    port.and_then(|p| p.parse().ok()).unwrap_or(22)
}

/// OpenSSH semantics: a name matches a pattern list if some positive pattern matches and no
/// negated (`!`) pattern does.
fn host_matches(patterns: &[String], name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `*` (any run) and `?` (one character) wildcard match.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn file() -> KnownHosts {
        KnownHosts::parse(&format!(
            "# comment\n\
             \n\
             github.com,140.82.121.4 ssh-ed25519 {k1} comment here\n\
             [git.example.com]:2222 ssh-ed25519 {k2}\n\
             *.corp.example,!evil.corp.example ecdsa-sha2-nistp256 {k3}\n\
             @revoked old.example ssh-rsa {k4}\n\
             old.example ssh-rsa {k5}\n\
             |1|c2FsdA==|aGFzaA== ssh-ed25519 {k1}\n\
             @cert-authority *.example ssh-ed25519 {k1}\n\
             broken-line-without-key\n\
             bad.example ssh-ed25519 not*base64\n",
            k1 = b64(b"key-one"),
            k2 = b64(b"key-two"),
            k3 = b64(b"key-three"),
            k4 = b64(b"key-four"),
            k5 = b64(b"key-five"),
        ))
    }

    #[test]
    fn parses_plain_entries_and_skips_the_rest() {
        let kh = file();
        assert_eq!(kh.len(), 5);
        let note = kh.unsupported_note().unwrap();
        assert!(note.contains("1 hashed entry"), "{note}");
        assert!(note.contains("@cert-authority"), "{note}");
    }

    #[test]
    fn accepts_the_listed_key_for_any_listed_name() {
        let kh = file();
        assert_eq!(kh.check("github.com", 22, b"key-one"), HostKeyCheck::Match);
        assert_eq!(kh.check("GitHub.com", 22, b"key-one"), HostKeyCheck::Match);
        assert_eq!(
            kh.check("140.82.121.4", 22, b"key-one"),
            HostKeyCheck::Match
        );
    }

    #[test]
    fn rejects_a_different_key_for_a_known_host() {
        assert_eq!(
            file().check("github.com", 22, b"attacker"),
            HostKeyCheck::Mismatch {
                known_types: vec!["ssh-ed25519".into()]
            }
        );
    }

    #[test]
    fn rejects_unknown_hosts() {
        assert_eq!(
            file().check("gitlab.com", 22, b"key-one"),
            HostKeyCheck::Unknown
        );
    }

    #[test]
    fn non_default_ports_use_bracketed_names() {
        let kh = file();
        assert_eq!(
            kh.check("git.example.com", 2222, b"key-two"),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("git.example.com", 22, b"key-two"),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            kh.check("github.com", 2222, b"key-one"),
            HostKeyCheck::Unknown
        );
    }

    #[test]
    fn wildcards_and_negations_follow_openssh() {
        let kh = file();
        assert_eq!(
            kh.check("git.corp.example", 22, b"key-three"),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("evil.corp.example", 22, b"key-three"),
            HostKeyCheck::Unknown
        );
    }

    #[test]
    fn revoked_keys_are_rejected_even_if_listed() {
        let kh = file();
        assert_eq!(
            kh.check("old.example", 22, b"key-four"),
            HostKeyCheck::Revoked
        );
        assert_eq!(
            kh.check("old.example", 22, b"key-five"),
            HostKeyCheck::Match
        );
    }

    #[test]
    fn ssh_port_from_urls() {
        assert_eq!(ssh_port("ssh://git@h.example:2222/o/r.git"), 2222);
        assert_eq!(ssh_port("ssh://h.example/o/r.git"), 22);
        assert_eq!(ssh_port("ssh://git@[::1]:2200/r.git"), 2200);
        assert_eq!(ssh_port("git@github.com:o/r.git"), 22);
        assert_eq!(host_lookup_name("H.example", 2222), "[h.example]:2222");
    }
}
