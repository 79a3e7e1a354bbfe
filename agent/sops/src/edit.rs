//! A SOPS file edited in place, as `sops set` would: each new value encrypted with the file's
//! own data key (a fresh 32-byte nonce, its key path as additional data, its sops type), the
//! MAC computed again over the new values and encrypted under the new `lastmodified`. Every
//! other byte of the file stays: the recipients' stanzas, the comments, the other values'
//! ciphertext. The file then decrypts for each of its recipients with `sops` itself.

use crate::{joined, open_doc, Cipher, Keys, SopsError};
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use serde_json::Value as Json;
use sextant_yamledit::Key;
use zeroize::Zeroizing;

fn edit_error(at: &str, message: impl Into<String>) -> SopsError {
    SopsError::Edit {
        at: at.to_string(),
        message: message.into(),
    }
}

/// A value's sops type and the bytes sops encrypts (and hashes) for it.
fn plain(value: &Json, at: &str) -> Result<(&'static str, Zeroizing<Vec<u8>>), SopsError> {
    Ok(match value {
        Json::String(s) => ("str", Zeroizing::new(s.as_bytes().to_vec())),
        Json::Bool(b) => (
            "bool",
            Zeroizing::new(if *b {
                b"True".to_vec()
            } else {
                b"False".to_vec()
            }),
        ),
        Json::Number(n) if n.is_i64() || n.is_u64() => {
            ("int", Zeroizing::new(n.to_string().into_bytes()))
        }
        Json::Number(n) => (
            "float",
            Zeroizing::new(n.as_f64().unwrap_or_default().to_string().into_bytes()),
        ),
        Json::Null | Json::Array(_) | Json::Object(_) => {
            return Err(edit_error(
                at,
                "only a single value (a string, number or bool) is written encrypted",
            ))
        }
    })
}

/// `ENC[AES256_GCM,…]` of `bytes` under `key`, bound to `aad`.
fn seal(bytes: &[u8], kind: &str, key: &[u8], aad: &str) -> Result<String, SopsError> {
    let mut iv = [0u8; 32];
    getrandom::getrandom(&mut iv).map_err(|e| edit_error(aad, e.to_string()))?;
    let cipher = Cipher::new_from_slice(key).map_err(|_| edit_error(aad, "a bad data key"))?;
    let sealed = cipher
        .encrypt(
            aes_gcm::Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: bytes,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| edit_error(aad, "encryption failed"))?;
    let (data, tag) = sealed.split_at(sealed.len() - 16);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    Ok(format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        b64(data),
        b64(&iv),
        b64(tag)
    ))
}

fn parse(text: &str) -> Result<serde_yaml_ng::Value, SopsError> {
    serde_yaml_ng::from_str(text).map_err(|e| SopsError::Malformed {
        at: "(the file)".into(),
        message: e.to_string(),
    })
}

/// The file `text` with each `(path, value)` of `changes` set, encrypted where the file's rules
/// encrypt that path, and a new MAC stamped `lastmodified` (RFC 3339, as sops writes it). The
/// file must decrypt with `keys` first: a file that does not (no key, a tampered value or MAC)
/// is not edited.
pub fn edit(
    text: &str,
    changes: &[(Vec<Key>, Json)],
    keys: &Keys,
    lastmodified: &str,
) -> Result<String, SopsError> {
    let doc = parse(text)?;
    let opened = open_doc(&doc, keys)?;
    crate::verify_mac(&opened)?;
    let mut writes = Vec::with_capacity(changes.len() + 2);
    for (path, value) in changes {
        // sops binds a list's items to the list's own path.
        let names: Vec<String> = path
            .iter()
            .filter_map(|k| match k {
                Key::Map(name) => Some(name.clone()),
                Key::Index(_) => None,
            })
            .collect();
        let aad = joined(&names);
        if names.first().is_some_and(|n| n == "sops") {
            return Err(edit_error(&aad, "the sops block is not a value"));
        }
        let written = if opened.meta.encrypted(&names) && value.as_str() != Some("") {
            let (kind, bytes) = plain(value, &aad)?;
            Json::String(seal(&bytes, kind, &opened.key, &aad)?)
        } else {
            value.clone()
        };
        writes.push((path.clone(), written));
    }
    let edited = sextant_yamledit::apply(text, &writes)
        .map_err(|e| edit_error("(the file)", e.to_string()))?;
    let mac = open_doc(&parse(&edited)?, keys)?.mac;
    let stamp = |k: &str| vec![Key::Map("sops".into()), Key::Map(k.into())];
    let block = [
        (
            stamp("mac"),
            Json::String(seal(mac.as_bytes(), "str", &opened.key, lastmodified)?),
        ),
        (stamp("lastmodified"), Json::String(lastmodified.into())),
    ];
    sextant_yamledit::apply(&edited, &block).map_err(|e| edit_error("sops", e.to_string()))
}
