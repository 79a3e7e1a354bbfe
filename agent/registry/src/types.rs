//! The values a verification takes and gives: a platform, a validated digest, and what was
//! verified.

use crate::error::Error;
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// An image platform: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a platform: write os/architecture or os/architecture/variant, such as linux/amd64 or linux/arm64/v8")]
pub struct ParsePlatformError(pub String);

impl FromStr for Platform {
    type Err = ParsePlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let part = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if part(os) && part(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if part(os) && part(arch) && part(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(ParsePlatformError(s.to_string())),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// Whether an image of `os`/`architecture`/`variant` runs here. A variant is compared only
    /// when one is asked for; arm64's only variant, v8, is also what an arm64 image without one
    /// is.
    pub fn accepts(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        let Some(wanted) = &self.variant else {
            return true;
        };
        let normal = |v: Option<&str>| match (architecture, v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        normal(Some(wanted)) == normal(variant)
    }
}

/// A digest as Sextant accepts one: `sha256:` and 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digest(String);

impl Digest {
    pub(crate) fn parse(s: &str) -> Result<Digest, Error> {
        let hex = s.strip_prefix("sha256:").unwrap_or("");
        if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Digest(s.to_string()))
        } else {
            Err(Error::BadDigest {
                digest: s.to_string(),
            })
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `bytes` are what this digest names.
    pub(crate) fn matches(&self, bytes: &[u8]) -> bool {
        sha256_of(bytes) == self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// What a registry showed of a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// As given, e.g. `127.0.0.1:5000/hash-service`.
    pub repository: String,
    /// `sha256:…`
    pub digest: String,
    /// Of the manifest fetched (an image manifest or an index).
    pub media_type: String,
    /// The sha256 of the bytes fetched equals the digest (for an index, its child's too).
    pub content_verified: bool,
    /// The platform checked; `None` when the manifest gave nothing to check it against.
    pub platform: Option<String>,
    /// For an image index: the digest of the child manifest for the platform.
    pub platform_digest: Option<String>,
    /// The metric label of the registry's kind: `oci` or `ecr`.
    pub registry: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_print_back() {
        for s in ["linux/amd64", "linux/arm64/v8", "windows/amd64"] {
            assert_eq!(s.parse::<Platform>().unwrap().to_string(), s);
        }
        let p: Platform = "linux/arm/v7".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v7"));
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "Linux/amd64",
            "linux/amd64/v8/x",
            "linux amd64",
        ] {
            let e = bad.parse::<Platform>().unwrap_err();
            assert!(e.to_string().contains("is not a platform"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_platform_accepts_its_own_and_compares_variants_only_when_asked() {
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert!(amd64.accepts("linux", "amd64", None));
        assert!(amd64.accepts("linux", "amd64", Some("v3")));
        assert!(!amd64.accepts("linux", "arm64", None));
        assert!(!amd64.accepts("windows", "amd64", None));
        let v8: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(v8.accepts("linux", "arm64", None));
        assert!(v8.accepts("linux", "arm64", Some("v8")));
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(!v7.accepts("linux", "arm", Some("v6")));
        assert!(!v7.accepts("linux", "arm", None));
    }

    #[test]
    fn digests_are_sha256_and_64_lowercase_hex() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(&good).unwrap().as_str(), good);
        for bad in [
            String::new(),
            "sha256:".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha512:{}", "a".repeat(64)),
            "a".repeat(64),
            format!("sha256:{}g", "a".repeat(63)),
        ] {
            assert_eq!(
                Digest::parse(&bad).unwrap_err(),
                Error::BadDigest {
                    digest: bad.clone()
                }
            );
        }
    }

    #[test]
    fn a_digest_matches_the_bytes_it_names_only() {
        let d = Digest::parse(&sha256_of(b"hello")).unwrap();
        assert!(d.matches(b"hello"));
        assert!(!d.matches(b"hello "));
    }
}
