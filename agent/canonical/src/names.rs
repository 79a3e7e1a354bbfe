//! The DNS name rules of k8s.io/apimachinery `pkg/util/validation` (`IsDNS1123Label`,
//! `IsDNS1123Subdomain`), the one copy the agent (plan-time name checks, environment names) and
//! kube-testkit (what the server refuses) share.

fn alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A lowercase RFC 1123 label: at most 63 characters of `[a-z0-9-]`, starting and ending with
/// an alphanumeric character.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| alnum(*c) || *c == b'-')
        && alnum(b[0])
        && alnum(b[b.len() - 1])
}

/// A lowercase RFC 1123 subdomain: at most 253 characters of labels joined by dots.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains_as_apimachinery_has_them() {
        for ok in ["a", "my-name", "123-abc", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert!(is_dns1123_subdomain("example.com"));
        assert!(!is_dns1123_subdomain("example..com"));
        assert!(!is_dns1123_subdomain(&format!("{}.a", "a".repeat(252))));
    }
}
