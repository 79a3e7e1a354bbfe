//! The service's one piece of domain logic: the SHA-1 hex digest of a bounded input. Pure.

use sha1::{Digest, Sha1};

/// The largest input, in UTF-8 bytes, that the contract accepts; longer inputs get 414.
pub const MAX_INPUT_BYTES: usize = 4 * 1024;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("input is {len} bytes; the limit is {MAX_INPUT_BYTES} bytes")]
pub struct InputTooLong {
    pub len: usize,
}

/// Lower-case hex SHA-1 of `input`'s UTF-8 bytes.
pub fn sha1_hex(input: &str) -> Result<String, InputTooLong> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(InputTooLong { len: input.len() });
    }
    Ok(hex::encode(Sha1::digest(input.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_integration_contract() {
        assert_eq!(
            sha1_hex("abc123").as_deref(),
            Ok("6367c48dd193d56ea7b0baad25b19455e529f5ee")
        );
    }

    #[test]
    fn hashes_utf8_bytes_not_characters() {
        // "é" is the two UTF-8 bytes c3 a9.
        assert_eq!(
            sha1_hex("é").as_deref(),
            Ok("bf15be717ac1b080b4f1c456692825891ff5073d")
        );
    }

    #[test]
    fn accepts_exactly_the_limit_and_rejects_one_byte_more() {
        assert!(sha1_hex(&"a".repeat(MAX_INPUT_BYTES)).is_ok());
        assert_eq!(
            sha1_hex(&"a".repeat(MAX_INPUT_BYTES + 1)),
            Err(InputTooLong {
                len: MAX_INPUT_BYTES + 1
            })
        );
    }

    #[test]
    fn counts_the_limit_in_bytes() {
        // 2049 two-byte characters: under 4 KiB characters, over 4 KiB bytes.
        assert!(sha1_hex(&"é".repeat(2049)).is_err());
    }
}
