//! `Revision`: a full 40-hex Git commit id, validated once at construction.

use std::fmt;
use std::str::FromStr;

use crate::error::SourceError;

/// A full 40-hex (SHA-1) Git commit id, always lower-case.
///
/// Built only through [`Revision::parse`] (or `FromStr`/`TryFrom<String>`), so a value of this
/// type is always a well-formed commit id; it serializes as the plain hex string.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Revision(String);

impl Revision {
    /// The all-zero revision: a local working tree that is not a Git repository (or has no
    /// commit yet).
    pub const ZERO_HEX: &'static str = "0000000000000000000000000000000000000000";

    /// Parses a full 40-hex commit id (upper-case is accepted and lower-cased).
    pub fn parse(value: &str) -> Result<Self, SourceError> {
        if value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(SourceError::InvalidRevision {
                value: value.chars().take(64).collect(),
            })
        }
    }

    /// The all-zero revision (see [`Revision::ZERO_HEX`]).
    pub fn zero() -> Self {
        Self(Self::ZERO_HEX.to_owned())
    }

    /// Whether this is the all-zero revision.
    pub fn is_zero(&self) -> bool {
        self.0 == Self::ZERO_HEX
    }

    /// The 40-hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for humans (logs, tables); never use it as a key.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }

    pub(crate) fn from_oid(oid: git2::Oid) -> Self {
        // libgit2 formats an oid as 40 lower-case hex digits: the invariant holds by construction.
        Self(oid.to_string())
    }

    pub(crate) fn to_oid(&self) -> git2::Oid {
        git2::Oid::from_str(&self.0).unwrap_or_else(|_| unreachable!("validated 40-hex revision"))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Revision {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Revision {
    type Error = SourceError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Revision> for String {
    fn from(rev: Revision) -> Self {
        rev.0
    }
}

impl AsRef<str> for Revision {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn accepts_full_hex_and_lowercases() {
        let rev = Revision::parse(&SHA.to_uppercase()).unwrap();
        assert_eq!(rev.as_str(), SHA);
        assert_eq!(rev.to_string(), SHA);
        assert_eq!(rev.short(), "0123456789ab");
    }

    #[test]
    fn rejects_short_long_and_non_hex() {
        for bad in [
            "",
            "0123abc",
            &format!("{SHA}0"),
            &SHA.replace('a', "g"),
            "HEAD",
        ] {
            let err = Revision::parse(bad).unwrap_err();
            assert!(matches!(err, SourceError::InvalidRevision { .. }), "{bad}");
        }
    }

    #[test]
    fn zero_is_zero_and_valid() {
        let zero = Revision::zero();
        assert!(zero.is_zero());
        assert_eq!(Revision::parse(Revision::ZERO_HEX).unwrap(), zero);
        assert!(!Revision::parse(SHA).unwrap().is_zero());
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let rev = Revision::parse(SHA).unwrap();
        let json = serde_json::to_string(&rev).unwrap();
        assert_eq!(json, format!("\"{SHA}\""));
        assert_eq!(serde_json::from_str::<Revision>(&json).unwrap(), rev);
        assert!(serde_json::from_str::<Revision>("\"main\"").is_err());
    }

    #[test]
    fn oid_round_trips() {
        let rev = Revision::parse(SHA).unwrap();
        assert_eq!(Revision::from_oid(rev.to_oid()), rev);
    }
}
