//! Public keys and their signatures: ECDSA P-256 and P-384 keys, with SHA-256 or SHA-384 (the
//! algorithms Fulcio, Rekor, timestamp authorities and `cosign generate-key-pair` use), and
//! Ed25519 (Rekor v2's logs), checked by ring.

use der::asn1::ObjectIdentifier as Oid;
use der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
pub(crate) const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub(crate) const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(crate) const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    /// EdDSA: the hash is the algorithm's own.
    Ed25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    /// The hash an `ecdsa-with-SHA*` signature algorithm names, or a digest algorithm's.
    pub(crate) fn of(oid: &Oid) -> Option<Hash> {
        match *oid {
            o if o == ECDSA_SHA256 || o == SHA256 => Some(Hash::Sha256),
            o if o == ECDSA_SHA384 || o == SHA384 => Some(Hash::Sha384),
            _ => None,
        }
    }

    pub(crate) fn digest(self, bytes: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Hash::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(bytes).to_vec(),
        }
    }
}

/// A public key: its curve and its point (uncompressed for ECDSA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    curve: Curve,
    point: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM public key (-----BEGIN PUBLIC KEY-----): {0}")]
    Pem(String),
    #[error("not a DER SubjectPublicKeyInfo: {0}")]
    Der(String),
    #[error("only ECDSA P-256 and P-384 and Ed25519 keys are verified; this key is {0}")]
    Unsupported(String),
}

impl PublicKey {
    /// A `-----BEGIN PUBLIC KEY-----` block, as `cosign generate-key-pair` writes `cosign.pub`
    /// (its base64 wrapped at any width: a key pasted into YAML is often one line).
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        let body = pem
            .trim()
            .strip_prefix("-----BEGIN PUBLIC KEY-----")
            .and_then(|b| b.trim_end().strip_suffix("-----END PUBLIC KEY-----"))
            .ok_or_else(|| KeyError::Pem("no BEGIN and END PUBLIC KEY lines".into()))?;
        let b64: String = body.split_whitespace().collect();
        let der = crate::bundle::b64(&b64).map_err(KeyError::Pem)?;
        PublicKey::from_der(&der)
    }

    pub fn from_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki =
            SubjectPublicKeyInfoOwned::from_der(der).map_err(|e| KeyError::Der(e.to_string()))?;
        PublicKey::from_spki(&spki)
    }

    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, KeyError> {
        let bits = || {
            spki.subject_public_key
                .as_bytes()
                .map(<[u8]>::to_vec)
                .ok_or_else(|| KeyError::Der("the key's bit string is not whole bytes".into()))
        };
        if spki.algorithm.oid == ED25519 {
            return Ok(PublicKey {
                curve: Curve::Ed25519,
                point: bits()?,
            });
        }
        if spki.algorithm.oid != EC_PUBLIC_KEY {
            return Err(KeyError::Unsupported(format!(
                "algorithm {}",
                spki.algorithm.oid
            )));
        }
        let curve = match spki
            .algorithm
            .parameters
            .as_ref()
            .map(|p| p.decode_as::<Oid>())
        {
            Some(Ok(o)) if o == P256 => Curve::P256,
            Some(Ok(o)) if o == P384 => Curve::P384,
            Some(Ok(o)) => return Err(KeyError::Unsupported(format!("curve {o}"))),
            _ => return Err(KeyError::Unsupported("a key without a named curve".into())),
        };
        Ok(PublicKey {
            curve,
            point: bits()?,
        })
    }

    /// Whether `signature` (ASN.1 DER for ECDSA) is this key's over `message`, hashed with
    /// `hash` (Ed25519 hashes as its algorithm says).
    pub fn verifies(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature as s;
        let alg: &dyn s::VerificationAlgorithm = match (self.curve, hash) {
            (Curve::P256, Hash::Sha256) => &s::ECDSA_P256_SHA256_ASN1,
            (Curve::P256, Hash::Sha384) => &s::ECDSA_P256_SHA384_ASN1,
            (Curve::P384, Hash::Sha256) => &s::ECDSA_P384_SHA256_ASN1,
            (Curve::P384, Hash::Sha384) => &s::ECDSA_P384_SHA384_ASN1,
            (Curve::Ed25519, _) => &s::ED25519,
        };
        s::UnparsedPublicKey::new(alg, &self.point)
            .verify(message, signature)
            .is_ok()
    }

    /// `sha256:` and the first 12 hex digits of the point's hash: how a key is named in a
    /// message (never the key itself, which is public but long).
    pub fn fingerprint(&self) -> String {
        let h = Hash::Sha256.digest(&self.point);
        format!("sha256:{}", &hex::encode(h)[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rsa_key_or_a_broken_pem_is_refused_by_name_and_ed25519_is_read() {
        // An Ed25519 key (RFC 8410's example).
        let ed = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert_eq!(PublicKey::from_pem(ed).unwrap().curve, Curve::Ed25519);
        let rsa = "-----BEGIN PUBLIC KEY-----\nMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDYVJGqYYRA+6uvNSwAr1aryVRQ\nno52/tHid8Pmg5JPNCphNcsu1+yFykl1eZpKID/y9WnuHMOzuP56TkPG8lcgv4Qd\n/nBr4W4iAWgsQsojP1zktmwII7EWjh1jonWxVyNtXDCLUOkRLI4IaOp0LfIrbusF\nTf0FfB0nhQ3ehiUlAwIDAQAB\n-----END PUBLIC KEY-----\n";
        let e = PublicKey::from_pem(rsa).unwrap_err();
        assert!(
            matches!(e, KeyError::Unsupported(ref m) if m.contains("1.2.840.113549.1.1.1")),
            "{e}"
        );
        let e = PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nnope\n").unwrap_err();
        assert!(matches!(e, KeyError::Pem(_)), "{e}");
    }
}
