//! An X.509 certificate as signature verification reads it: validity, the key, who issued it
//! (checked by the issuer's key), and a Fulcio certificate's identity — its subject alternative
//! name and the OIDC issuer in Fulcio's extensions.

use crate::key::{Hash, PublicKey};
use der::asn1::{ObjectIdentifier as Oid, Utf8StringRef};
use der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::Certificate;

/// Fulcio's OIDC issuer extensions: the first (raw bytes), and the second (a DER UTF8String).
/// https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md
const ISSUER_V1: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.1");
const ISSUER_V2: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.8");
const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
const EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
const CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");

#[derive(Debug, Clone)]
pub struct Cert {
    cert: Certificate,
    der: Vec<u8>,
    key: Result<PublicKey, String>,
}

impl Cert {
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        let cert = Certificate::from_der(der).map_err(|e| format!("not a DER certificate: {e}"))?;
        let key = PublicKey::from_spki(&cert.tbs_certificate.subject_public_key_info)
            .map_err(|e| e.to_string());
        Ok(Cert {
            cert,
            der: der.to_vec(),
            key,
        })
    }

    /// A `CERTIFICATE` PEM block, its base64 wrapped at any width (Rekor's verifiers are one
    /// long line, which RFC 7468's strict form refuses).
    pub fn from_pem(pem: &str) -> Result<Cert, String> {
        let body = pem
            .trim()
            .strip_prefix("-----BEGIN CERTIFICATE-----")
            .and_then(|b| b.trim_end().strip_suffix("-----END CERTIFICATE-----"))
            .ok_or("not a PEM certificate")?;
        let b64: String = body.split_whitespace().collect();
        Cert::from_der(&crate::bundle::b64(&b64)?)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn key(&self) -> Result<&PublicKey, String> {
        self.key.as_ref().map_err(Clone::clone)
    }

    pub fn not_before(&self) -> u64 {
        self.cert
            .tbs_certificate
            .validity
            .not_before
            .to_unix_duration()
            .as_secs()
    }

    pub fn not_after(&self) -> u64 {
        self.cert
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs()
    }

    pub fn valid_at(&self, at: u64) -> bool {
        (self.not_before()..=self.not_after()).contains(&at)
    }

    /// Whether `issuer` signed this certificate: the names match and the issuer's key verifies
    /// the signature over the to-be-signed part.
    pub fn issued_by(&self, issuer: &Cert) -> bool {
        if self.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
            return false;
        }
        let (Some(hash), Ok(key), Ok(tbs), Some(sig)) = (
            Hash::of(&self.cert.signature_algorithm.oid),
            issuer.key(),
            self.cert.tbs_certificate.to_der(),
            self.cert.signature.as_bytes(),
        ) else {
            return false;
        };
        key.verifies(hash, &tbs, sig)
    }

    fn extension(&self, oid: Oid) -> Option<&[u8]> {
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// The subject alternative names that are URIs or email addresses.
    pub fn identities(&self) -> Vec<String> {
        let Some(san) = self
            .extension(SUBJECT_ALT_NAME)
            .and_then(|b| SubjectAltName::from_der(b).ok())
        else {
            return Vec::new();
        };
        san.0
            .iter()
            .filter_map(|n| match n {
                GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                GeneralName::Rfc822Name(m) => Some(m.to_string()),
                _ => None,
            })
            .collect()
    }

    /// The OIDC issuer Fulcio wrote: the second extension, else the first.
    pub fn oidc_issuer(&self) -> Option<String> {
        if let Some(v) = self
            .extension(ISSUER_V2)
            .and_then(|b| Utf8StringRef::from_der(b).ok())
        {
            return Some(v.as_str().to_string());
        }
        self.extension(ISSUER_V1)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_string)
    }

    pub fn code_signing(&self) -> bool {
        self.extension(EXTENDED_KEY_USAGE)
            .and_then(|b| ExtendedKeyUsage::from_der(b).ok())
            .is_some_and(|u| u.0.contains(&CODE_SIGNING))
    }
}
