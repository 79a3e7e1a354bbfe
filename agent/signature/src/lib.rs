//! `sextant-signature`: whether an image digest was signed by whom a promotion trusts, offline.
//!
//! - **Keyless** (Sigstore): bundles attached to the image (OCI referrers), each a DSSE envelope
//!   over an in-toto statement naming the digest. The signing certificate must come from a
//!   certificate authority of the trusted root and carry the wanted OIDC issuer and subject; the
//!   signature must have been made while the certificate was valid, by a verified RFC 3161
//!   timestamp or a transparency log's signed entry timestamp (without either, the time is now,
//!   and a ten-minute Fulcio certificate has long expired).
//! - **Keyed** (cosign's key pair): the classic `sha256-<hex>.sig` simple-signing payloads, whose
//!   signatures the public key verifies.
//!
//! Required attestations (a CycloneDX SBOM, SLSA provenance) are bundles by the same signer
//! whose statement has that predicate type. Nothing here reads the network: the caller fetches
//! the artifacts ([`Artifacts`]) and gives the time.

mod bundle;
mod cert;
mod key;
mod refusal;
mod rekor;
mod simple;
pub mod time;
mod trust;
mod tsa;

pub use key::{KeyError, PublicKey};
pub use refusal::Refusal;
pub use trust::{TrustRoot, TrustRootError};

use bundle::{b64, Bundle, Statement};
use cert::Cert;
use key::Hash;

/// The artifact type of a Sigstore bundle in an OCI registry.
pub const BUNDLE_ARTIFACT_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The media type of a cosign simple-signing layer, and its signature's annotation.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIMPLE_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Signer {
    Key(PublicKey),
    Keyless { issuer: String, subject: Subject },
}

#[derive(Debug, Clone)]
pub enum Subject {
    Exact(String),
    /// Matched against the whole name (anchored).
    Pattern(regex::Regex),
}

impl Subject {
    fn matches(&self, name: &str) -> bool {
        match self {
            Subject::Exact(s) => s == name,
            Subject::Pattern(p) => p
                .find(name)
                .is_some_and(|m| m.start() == 0 && m.end() == name.len()),
        }
    }
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Key(k) => write!(f, "the key {}", k.fingerprint()),
            Signer::Keyless {
                issuer,
                subject: Subject::Exact(s),
            } => write!(f, "{s} (issuer {issuer})"),
            Signer::Keyless {
                issuer,
                subject: Subject::Pattern(p),
            } => {
                write!(f, "a subject matching {} (issuer {issuer})", p.as_str())
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub signer: Signer,
    /// Predicate types each needing an attestation by the signer.
    pub attestations: Vec<String>,
}

/// What the registry holds about one digest (fetched through the core's registry port).
pub use sextant_core::ports::registry::{Signatures as Artifacts, SimpleSigned as SimpleSignature};

/// A digest verified: by whom, when, and which attestations were verified with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub signer: String,
    /// When the signature was made, by a verified timestamp (keyless only).
    pub signed_at: Option<u64>,
    pub attestations: Vec<String>,
}

/// A bundle that verified: its statement's predicate type, its signer and its time.
struct Good {
    predicate_type: String,
    signer: String,
    at: Option<u64>,
}

/// Whether `digest` is signed as `policy` wants, at `now` (seconds since the epoch).
pub fn verify(
    digest: &str,
    artifacts: &Artifacts,
    policy: &Policy,
    trust: Option<&TrustRoot>,
    now: u64,
) -> Result<Verified, Refusal> {
    if matches!(policy.signer, Signer::Keyless { .. }) && trust.is_none() {
        return Err(Refusal::Config(
            "keyless verification needs a trusted root (SEXTANT_REGISTRY_TRUST_ROOT)".into(),
        ));
    }
    if artifacts.bundles.is_empty() && artifacts.simple.is_empty() {
        return Err(Refusal::Unsigned {
            digest: digest.into(),
        });
    }
    let mut good = Vec::new();
    let mut refused: Vec<Refusal> = Vec::new();
    for b in &artifacts.bundles {
        match check_bundle(b, digest, policy, trust, now) {
            Ok(g) => good.push(g),
            Err(r) => refused.push(r),
        }
    }
    if let Signer::Key(key) = &policy.signer {
        for s in &artifacts.simple {
            match simple::check(s, key, digest) {
                Ok(()) => good.push(Good {
                    predicate_type: String::new(),
                    signer: policy.signer.to_string(),
                    at: None,
                }),
                Err(r) => refused.push(r),
            }
        }
    }
    let Some(first) = good.first() else {
        return Err(refused
            .into_iter()
            .max_by_key(Refusal::rank)
            .unwrap_or(Refusal::Unsigned {
                digest: digest.into(),
            }));
    };
    let verified: Vec<String> = good
        .iter()
        .filter(|g| !g.predicate_type.is_empty())
        .map(|g| g.predicate_type.clone())
        .collect();
    for want in &policy.attestations {
        if !verified.contains(want) {
            return Err(Refusal::MissingAttestation {
                predicate_type: want.clone(),
                found: verified,
            });
        }
    }
    Ok(Verified {
        signer: first.signer.clone(),
        signed_at: first.at,
        attestations: policy.attestations.clone(),
    })
}

fn check_bundle(
    bytes: &[u8],
    digest: &str,
    policy: &Policy,
    trust: Option<&TrustRoot>,
    now: u64,
) -> Result<Good, Refusal> {
    let bad = |m: String| Refusal::Malformed(format!("Sigstore bundle: {m}"));
    let bundle: Bundle = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let envelope =
        match (&bundle.dsse_envelope, &bundle.message_signature) {
            (Some(e), _) => e,
            (None, Some(_)) => return Err(bad(
                "a message signature bundle; only DSSE envelopes over in-toto statements are read"
                    .into(),
            )),
            (None, None) => return Err(bad("no DSSE envelope".into())),
        };
    let payload = b64(&envelope.payload).map_err(|e| bad(format!("payload: {e}")))?;
    let signature = envelope
        .signatures
        .first()
        .ok_or_else(|| bad("the envelope has no signature".into()))?;
    let sig = b64(&signature.sig).map_err(|e| bad(format!("signature: {e}")))?;
    let signed = bundle::pae(&envelope.payload_type, &payload);
    let (signer, at) = match &policy.signer {
        Signer::Key(key) => {
            if !key.verifies(Hash::Sha256, &signed, &sig) {
                return Err(Refusal::BadSignature(format!(
                    "the envelope's signature does not verify with the key {}",
                    key.fingerprint()
                )));
            }
            (policy.signer.to_string(), None)
        }
        Signer::Keyless { issuer, subject } => {
            let trust = trust.ok_or_else(|| {
                Refusal::Config("keyless verification needs a trusted root".into())
            })?;
            let leaf = leaf(&bundle).map_err(bad)?;
            trusted(&leaf, trust)?;
            let key = leaf.key().map_err(Refusal::Untrusted)?;
            if !key.verifies(Hash::Sha256, &signed, &sig)
                && !key.verifies(Hash::Sha384, &signed, &sig)
            {
                return Err(Refusal::BadSignature(
                    "the envelope's signature does not verify with its certificate's key".into(),
                ));
            }
            let names = leaf.identities();
            let found_issuer = leaf.oidc_issuer().unwrap_or_default();
            if found_issuer != *issuer || !names.iter().any(|n| subject.matches(n)) {
                return Err(Refusal::OtherIdentity {
                    subject: names.join(", "),
                    issuer: found_issuer,
                    wanted: policy.signer.to_string(),
                });
            }
            let at = signed_at(&bundle, envelope, &sig, &leaf, trust, now)?;
            (
                format!("{} (issuer {found_issuer})", names.join(", ")),
                Some(at),
            )
        }
    };
    let statement = statement(&envelope.payload_type, &payload)?;
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let named: Vec<String> = statement
        .subject
        .iter()
        .filter_map(|s| s.digest.get("sha256"))
        .map(|h| format!("sha256:{h}"))
        .collect();
    if !statement
        .subject
        .iter()
        .any(|s| s.digest.get("sha256").is_some_and(|h| h == hex))
    {
        return Err(Refusal::OtherDigest {
            named: if named.is_empty() {
                "no sha256 digest".into()
            } else {
                named.join(", ")
            },
            digest: digest.to_string(),
        });
    }
    Ok(Good {
        predicate_type: statement.predicate_type,
        signer,
        at,
    })
}

fn statement(payload_type: &str, payload: &[u8]) -> Result<Statement, Refusal> {
    let bad_type = |t: &str| !t.starts_with("https://in-toto.io/Statement/");
    if payload_type != bundle::IN_TOTO {
        return Err(Refusal::Malformed(format!(
            "the envelope carries {payload_type}, not an in-toto statement"
        )));
    }
    let s: Statement = serde_json::from_slice(payload)
        .map_err(|e| Refusal::Malformed(format!("the in-toto statement: {e}")))?;
    if bad_type(&s.type_) {
        return Err(Refusal::Malformed(format!(
            "a statement of type {:?}",
            s.type_
        )));
    }
    Ok(s)
}

/// The signing certificate: the bundle's certificate, or its chain's first.
fn leaf(bundle: &Bundle) -> Result<Cert, String> {
    let m = &bundle.verification_material;
    let raw = match (&m.certificate, &m.x509_certificate_chain) {
        (Some(c), _) => &c.raw_bytes,
        (None, Some(chain)) => {
            &chain
                .certificates
                .first()
                .ok_or("an empty certificate chain")?
                .raw_bytes
        }
        (None, None) if m.public_key.is_some() => {
            return Err("signed with a key, not a certificate: configure the key".into())
        }
        (None, None) => return Err("no signing certificate".into()),
    };
    Cert::from_der(&b64(raw)?)
}

/// The certificate was issued by a certificate authority of the trusted root, for code signing.
fn trusted(leaf: &Cert, trust: &TrustRoot) -> Result<(), Refusal> {
    if !leaf.code_signing() {
        return Err(Refusal::Untrusted(
            "the certificate is not for code signing".into(),
        ));
    }
    let issuer = trust
        .authorities
        .iter()
        .find(|a| leaf.issued_by(&a.chain[0]));
    match issuer {
        Some(a) if a.valid.holds(leaf.not_before()) => Ok(()),
        Some(a) => Err(Refusal::Untrusted(format!(
            "its authority {} was not trusted when it was issued ({})",
            a.uri,
            time::rfc3339(leaf.not_before())
        ))),
        None => Err(Refusal::Untrusted(
            "no certificate authority of the trusted root issued it".into(),
        )),
    }
}

/// When the signature was made, by every verified timestamp (each must fall in the
/// certificate's validity); without one, now.
fn signed_at(
    bundle: &Bundle,
    envelope: &bundle::Envelope,
    sig: &[u8],
    leaf: &Cert,
    trust: &TrustRoot,
    now: u64,
) -> Result<u64, Refusal> {
    let mut times: Vec<(u64, &'static str)> = Vec::new();
    let m = &bundle.verification_material;
    for t in m
        .timestamp_verification_data
        .iter()
        .flat_map(|d| &d.rfc3161_timestamps)
    {
        let at = tsa::time(&t.signed_timestamp, sig, trust).map_err(Refusal::BadTimestamp)?;
        times.push((at, "a timestamp authority"));
    }
    for e in &m.tlog_entries {
        let at = rekor::time(e, envelope, leaf, trust)
            .map_err(|m| Refusal::BadTimestamp(format!("transparency log entry: {m}")))?;
        times.push((at, "the transparency log"));
    }
    if times.is_empty() {
        times.push((now, "now, without a verified timestamp"));
    }
    for &(at, source) in &times {
        if !leaf.valid_at(at) {
            return Err(Refusal::OutsideValidity {
                at,
                from: source,
                not_before: leaf.not_before(),
                not_after: leaf.not_after(),
            });
        }
    }
    Ok(times[0].0)
}
