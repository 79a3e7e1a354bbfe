//! A keyed cosign signer for the loops' table tests: an ECDSA P-256 key pair (ring) that signs
//! cosign's simple-signing payload for a digest, as `cosign sign --key` does. The independent
//! signers (Python's cryptography, sigstore-js) serve the end-to-end and verifier tests; this one
//! lets a table test under a paused clock hold signed and unsigned digests without a process.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};
use sextant_core::ports::registry::{Signatures, SimpleSigned};

/// DER of a P-256 SubjectPublicKeyInfo up to its 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

pub struct KeyPair {
    pair: EcdsaKeyPair,
}

impl Default for KeyPair {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyPair {
    pub fn new() -> KeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the key just made");
        KeyPair { pair }
    }

    /// The public key as `cosign.pub` holds it.
    pub fn public_pem(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.pair.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// `image@digest` signed: what the registry would hold in the digest's `.sig` image.
    pub fn sign(&self, image: &str, digest: &str) -> Signatures {
        let payload = serde_json::json!({
            "critical": {
                "identity": {"docker-reference": image},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": null,
        })
        .to_string()
        .into_bytes();
        let sig = self
            .pair
            .sign(&SystemRandom::new(), &payload)
            .expect("signing");
        Signatures {
            bundles: Vec::new(),
            simple: vec![SimpleSigned {
                payload,
                signature: base64::engine::general_purpose::STANDARD.encode(sig.as_ref()),
            }],
        }
    }
}
