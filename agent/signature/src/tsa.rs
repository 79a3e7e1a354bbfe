//! An RFC 3161 timestamp over a signature: a CMS SignedData whose content is a TSTInfo. It
//! verifies when its message imprint is the hash of the signature, its signed attributes carry
//! the hash of the TSTInfo, and a timestamp authority of the trusted root signed them while that
//! authority and its certificate were valid.

use crate::bundle::b64;
use crate::key::Hash;
use crate::trust::TrustRoot;
use cmpv2::status::PkiStatus;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::{ObjectIdentifier as Oid, OctetStringRef};
use der::{Any, Tag, Tagged};
use der::{Decode, Encode};
use x509_tsp::{MessageImprint, TimeStampResp};

const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");

/// When the timestamp says `signature` existed.
pub fn time(signed_timestamp: &str, signature: &[u8], trust: &TrustRoot) -> Result<u64, String> {
    let der = b64(signed_timestamp)?;
    // A TimeStampResp, as the bundle carries it (RFC 3161 §2.4.2); a bare token is taken too.
    let info = match TimeStampResp::from_der(&der) {
        Ok(resp) => {
            let granted = matches!(
                resp.status.status,
                PkiStatus::Accepted | PkiStatus::GrantedWithMods
            );
            match resp.time_stamp_token {
                Some(token) if granted => token,
                _ => {
                    return Err(format!(
                        "the authority did not grant it ({:?})",
                        resp.status.status
                    ))
                }
            }
        }
        Err(_) => ContentInfo::from_der(&der)
            .map_err(|e| format!("neither a TimeStampResp nor a CMS ContentInfo: {e}"))?,
    };
    let data: SignedData = info
        .content
        .decode_as()
        .map_err(|e| format!("not a CMS SignedData: {e}"))?;
    let content = data
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or("the timestamp has no content")?;
    let tst_der = OctetStringRef::try_from(content)
        .map_err(|e| format!("the content is not an octet string: {e}"))?
        .as_bytes();
    // TSTInfo ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime, … }, read
    // field by field: genTime may carry fractions of a second, which DER's GeneralizedTime
    // (RFC 5280's profile) refuses and RFC 3161 allows.
    let fields: Vec<Any> = Vec::from_der(tst_der).map_err(|e| format!("not a TSTInfo: {e}"))?;
    let (Some(imprint), Some(gen_time)) = (fields.get(2), fields.get(4)) else {
        return Err("a TSTInfo without its message imprint or time".into());
    };
    let imprint: MessageImprint = imprint
        .decode_as()
        .map_err(|e| format!("the TSTInfo's message imprint: {e}"))?;
    let imprint_hash = Hash::of(&imprint.hash_algorithm.oid)
        .ok_or("the message imprint's hash is neither SHA-256 nor SHA-384")?;
    if imprint.hashed_message.as_bytes() != imprint_hash.digest(signature) {
        return Err("the timestamp is over something other than this signature".into());
    }
    if gen_time.tag() != Tag::GeneralizedTime {
        return Err("the TSTInfo's genTime is not a GeneralizedTime".into());
    }
    let at = generalized(gen_time.value())?;
    let signer = data
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or("the timestamp has no signer")?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("the timestamp has no signed attributes")?;
    let digest_hash = Hash::of(&signer.digest_alg.oid)
        .ok_or("the signer's digest is neither SHA-256 nor SHA-384")?;
    let digest = attrs
        .iter()
        .find(|a| a.oid == MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| OctetStringRef::try_from(v).ok())
        .ok_or("the signed attributes carry no message digest")?;
    if digest.as_bytes() != digest_hash.digest(tst_der) {
        return Err("the signed attributes are about other content".into());
    }
    let signed = attrs.to_der().map_err(|e| e.to_string())?;
    let sig_hash = Hash::of(&signer.signature_algorithm.oid).unwrap_or(digest_hash);
    let sig = signer.signature.as_bytes();
    let authority = trust
        .timestamp_authorities
        .iter()
        .find(|a| {
            a.chain[0]
                .key()
                .is_ok_and(|k| k.verifies(sig_hash, &signed, sig))
        })
        .ok_or("no timestamp authority of the trusted root signed it")?;
    if !authority.valid.holds(at) || !authority.chain[0].valid_at(at) {
        return Err(format!(
            "the timestamp authority {} was not valid at {}",
            authority.uri,
            crate::time::rfc3339(at)
        ));
    }
    Ok(at)
}

/// `YYYYMMDDHHMMSS[.fff]Z` as seconds since the epoch (fractions dropped).
fn generalized(value: &[u8]) -> Result<u64, String> {
    let s = std::str::from_utf8(value).map_err(|_| "genTime is not text")?;
    let bad = || format!("genTime {s:?} is not YYYYMMDDHHMMSS[.f]Z");
    let whole = s.strip_suffix('Z').ok_or_else(bad)?;
    let whole = whole.split('.').next().unwrap_or(whole);
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &whole[0..4],
        &whole[4..6],
        &whole[6..8],
        &whole[8..10],
        &whole[10..12],
        &whole[12..14]
    );
    crate::time::parse_rfc3339(&rfc).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #[test]
    fn gen_time_may_carry_fractions() {
        assert_eq!(super::generalized(b"20000101000000Z"), Ok(946_684_800));
        assert_eq!(super::generalized(b"20000101000000.123Z"), Ok(946_684_800));
        assert!(super::generalized(b"200001010000Z").is_err());
        assert!(super::generalized(b"20000101000000+0100").is_err());
    }
}
