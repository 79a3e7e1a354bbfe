//! The one check for an endpoint that credentials travel to (the forge's API, an ECR endpoint):
//! `https://`, or plain `http://` only to this machine's loopback (a stand-in in a test), and
//! never with credentials written inside the URL.

use super::{invalid, ConfigError};
use std::net::{IpAddr, Ipv6Addr};

/// `value` parsed as such an endpoint, or why not, naming the setting `origin`. Plain HTTP is
/// allowed only when the host *is* loopback: 127.0.0.0/8, `localhost` or `[::1]` — not
/// `127.0.0.1.example.com`, which is a name anyone can point elsewhere. Userinfo
/// (`https://user:token@host`) is refused, and the message does not repeat it.
pub(super) fn credentialed_endpoint(
    origin: &str,
    value: &str,
    what: &str,
) -> Result<reqwest::Url, ConfigError> {
    let must = |shown: &str| {
        invalid(
            origin,
            format!("{shown:?} must be an https:// URL ({what}; http:// only on 127.0.0.0/8, localhost or [::1], for a stand-in)"),
        )
    };
    let url = reqwest::Url::parse(value).map_err(|_| must(value))?;
    if !url.username().is_empty() || url.password().is_some() {
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(invalid(
            origin,
            format!(
                "{:?} carries credentials inside the URL; remove them (credentials come from their own settings, never from the URL)",
                shown.as_str()
            ),
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(must(value));
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| match ip {
                IpAddr::V4(v4) => v4.is_loopback(),
                IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
            });
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(must(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_plain_http_only_on_loopback_and_no_credentials_inside() {
        let check =
            |v: &str| credentialed_endpoint("SEXTANT_X", v, "a token travels with every request");
        for good in [
            "https://api.github.com",
            "https://ghe.example.com/api/v3",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:5001/",
            "http://LOCALHOST",
            "http://[::1]:5001",
        ] {
            assert!(check(good).is_ok(), "{good}");
        }
        for bad in [
            "http://127.0.0.1.evil.example:8080",
            "http://localhost.evil.example",
            "http://[::2]:80",
            "http://10.0.0.1",
            "http://github.example.com",
            "ftp://127.0.0.1",
            "https://",
            "127.0.0.1:8080",
        ] {
            let e = check(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("SEXTANT_X: {bad:?} must be an https:// URL")),
                "{bad}: {e}"
            );
        }
        for (with, shown) in [
            (
                "https://x-access-token:ghs_secret@api.github.com",
                "https://api.github.com/",
            ),
            ("http://user@127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ] {
            let e = check(with).unwrap_err().to_string();
            assert!(e.contains("carries credentials inside the URL"), "{e}");
            assert!(e.contains(shown), "{e}");
            assert!(!e.contains("ghs_secret") && !e.contains("user@"), "{e}");
        }
    }
}
