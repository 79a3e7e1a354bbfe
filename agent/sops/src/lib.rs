//! `sextant-sops`: a SOPS-encrypted YAML values file, decrypted in memory.
//!
//! The format, as the `sops` tool writes it (3.x): each value is `ENC[AES256_GCM,data:…,iv:…,
//! tag:…,type:…]`, AES-256-GCM under the file's data key with a 32-byte nonce and the value's
//! key path (`image:tag:`) as additional data; the `sops` block holds the data key encrypted for
//! each recipient (age, or an AWS KMS key through [`Kms`]), and a MAC: the SHA-512 of every
//! value in document order (or only the encrypted ones, `mac_only_encrypted`), itself encrypted
//! with `lastmodified` as additional data. Which values are encrypted follows the file's
//! `unencrypted_suffix`, `encrypted_suffix`, `unencrypted_regex` and `encrypted_regex`.
//!
//! Nothing decrypted is written anywhere: [`decrypt`] returns the values as a YAML value, and
//! every error names the key path, never a value. [`edit`] writes new values into a file
//! encrypted with its own data key, with a new MAC, as `sops set` would.

mod edit;
mod keys;
mod kms;

pub use edit::edit;

pub use keys::{KeyError, Keys};
pub use kms::{Kms, KmsError};

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::Engine as _;
use serde_yaml_ng::{Mapping, Value};
use sha2::{Digest as _, Sha512};
use std::io::Read as _;
use zeroize::Zeroizing;

/// sops' MAC over only the encrypted values starts with these 32 bytes, so that it differs
/// from a MAC over all values (sops.go, `MACOnlyEncryptedInitialization`).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

pub(crate) type Cipher = AesGcm<Aes256, U32>;

/// Why a file does not decrypt. Each names the key path where there is one, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SopsError {
    #[error("no age key here decrypts the file's data key (recipients: {}; keys looked for in: {})", list(.recipients), list(.looked))]
    NoKey {
        /// The file's age recipients and KMS key ARNs.
        recipients: Vec<String>,
        looked: Vec<String>,
    },
    #[error("sops version {0:?} is not read (3.x is)")]
    Version(String),
    #[error(
        "the value at {path} does not decrypt: it was changed, or encrypted under another data key"
    )]
    Tampered { path: String },
    #[error("the MAC does not match the values: the file was changed without sops, or is corrupt")]
    Mac,
    #[error("{at}: {message}")]
    Malformed { at: String, message: String },
    #[error("{at}: cannot write the new value: {message}")]
    Edit { at: String, message: String },
    /// AWS KMS did not open the data key: down, throttled, or it refused (the key disabled,
    /// no permission, another key's ciphertext).
    #[error("AWS KMS key {arn} did not decrypt the file's data key: {message}")]
    Kms {
        arn: String,
        message: String,
        /// A later try may work (KMS down, throttled).
        transient: bool,
    },
}

impl SopsError {
    /// Why, as a bounded label: `no_key`, `tampered`, `mac`, `version`, `malformed`, `edit`.
    pub fn label(&self) -> &'static str {
        match self {
            SopsError::NoKey { .. } => "no_key",
            SopsError::Tampered { .. } => "tampered",
            SopsError::Mac => "mac",
            SopsError::Version(_) => "version",
            SopsError::Malformed { .. } => "malformed",
            SopsError::Edit { .. } => "edit",
            SopsError::Kms { .. } => "kms",
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn malformed(at: &str, message: impl Into<String>) -> SopsError {
    SopsError::Malformed {
        at: at.to_string(),
        message: message.into(),
    }
}

/// Whether a parsed YAML document is a SOPS file: a top-level `sops` mapping with a `mac`.
pub fn is_encrypted(doc: &Value) -> bool {
    doc.get("sops")
        .and_then(Value::as_mapping)
        .is_some_and(|m| m.contains_key("mac"))
}

/// The `sops` block: what decides which values are encrypted, and the MAC's inputs.
pub(crate) struct Meta {
    mac: String,
    lastmodified: String,
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<regex::Regex>,
    encrypted_regex: Option<regex::Regex>,
    mac_only_encrypted: bool,
}

fn text(m: &Mapping, field: &str) -> Option<String> {
    m.get(field).and_then(Value::as_str).map(str::to_string)
}

fn meta(doc: &Value) -> Result<(Meta, &Mapping), SopsError> {
    let m = doc
        .get("sops")
        .and_then(Value::as_mapping)
        .ok_or_else(|| malformed("sops", "no sops block"))?;
    let version = text(m, "version").unwrap_or_default();
    if !version.starts_with("3.") {
        return Err(SopsError::Version(version));
    }
    let regex = |field: &str| -> Result<Option<regex::Regex>, SopsError> {
        text(m, field)
            .map(|r| {
                regex::Regex::new(&r)
                    .map_err(|e| malformed(&format!("sops.{field}"), e.to_string()))
            })
            .transpose()
    };
    let suffix = |field: &str| text(m, field).filter(|s| !s.is_empty());
    Ok((
        Meta {
            mac: text(m, "mac").ok_or_else(|| malformed("sops.mac", "missing"))?,
            lastmodified: text(m, "lastmodified")
                .ok_or_else(|| malformed("sops.lastmodified", "missing"))?,
            unencrypted_suffix: suffix("unencrypted_suffix"),
            encrypted_suffix: suffix("encrypted_suffix"),
            unencrypted_regex: regex("unencrypted_regex")?,
            encrypted_regex: regex("encrypted_regex")?,
            mac_only_encrypted: m
                .get("mac_only_encrypted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        m,
    ))
}

impl Meta {
    /// Whether the value at `path` is encrypted, as sops decides it (sops.go,
    /// `shouldBeEncrypted`): any key of the path may exempt or select it.
    pub(crate) fn encrypted(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(s) = &self.unencrypted_suffix {
            if path.iter().any(|k| k.ends_with(s.as_str())) {
                encrypted = false;
            }
        }
        if let Some(s) = &self.encrypted_suffix {
            encrypted = path.iter().any(|k| k.ends_with(s.as_str()));
        }
        if let Some(r) = &self.unencrypted_regex {
            if path.iter().any(|k| r.is_match(k)) {
                encrypted = false;
            }
        }
        if let Some(r) = &self.encrypted_regex {
            encrypted = path.iter().any(|k| r.is_match(k));
        }
        encrypted
    }
}

/// The file's data key, from the first age stanza one of `keys` opens, else from the first
/// AWS KMS stanza KMS opens.
fn data_key(block: &Mapping, keys: &Keys) -> Result<Zeroizing<Vec<u8>>, SopsError> {
    let mut recipients = Vec::new();
    for (i, stanza) in block
        .get("age")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("sops.age[{i}]");
        let recipient = stanza
            .get("recipient")
            .and_then(Value::as_str)
            .unwrap_or("?");
        recipients.push(recipient.to_string());
        let enc = stanza
            .get("enc")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(&at, "no enc"))?;
        let armored = age::armor::ArmoredReader::new(enc.as_bytes());
        let decryptor = age::Decryptor::new(armored)
            .map_err(|e| malformed(&format!("{at}.enc"), e.to_string()))?;
        match decryptor.decrypt(keys.identities()) {
            Ok(mut reader) => {
                let mut key = Zeroizing::new(Vec::new());
                reader
                    .read_to_end(&mut key)
                    .map_err(|e| malformed(&format!("{at}.enc"), e.to_string()))?;
                if key.len() != 32 {
                    return Err(malformed(
                        &format!("{at}.enc"),
                        "the data key is not 32 bytes",
                    ));
                }
                return Ok(key);
            }
            Err(age::DecryptError::NoMatchingKeys) => continue,
            Err(e) => return Err(malformed(&format!("{at}.enc"), e.to_string())),
        }
    }
    if let Some(key) = kms::data_key(block, keys.kms(), &mut recipients)? {
        return Ok(key);
    }
    Err(SopsError::NoKey {
        recipients,
        looked: keys.looked().to_vec(),
    })
}

/// One `ENC[AES256_GCM,…]` value opened with `key` under `aad`: its type and its bytes.
fn open(
    value: &str,
    key: &[u8],
    aad: &str,
    at: &str,
) -> Result<(String, Zeroizing<Vec<u8>>), SopsError> {
    let inner = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| malformed(at, "not an ENC[AES256_GCM,…] value in an encrypted place"))?;
    let (mut data, mut iv, mut tag, mut kind) = (None, None, None, None);
    for part in inner.split(',') {
        match part.split_once(':') {
            Some(("data", v)) => data = Some(v),
            Some(("iv", v)) => iv = Some(v),
            Some(("tag", v)) => tag = Some(v),
            Some(("type", v)) => kind = Some(v),
            _ => return Err(malformed(at, "an ENC value with an unknown part")),
        }
    }
    let b64 = |v: Option<&str>, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v.unwrap_or_default())
            .map_err(|_| malformed(at, format!("the {what} is not base64")))
    };
    let (data, iv, tag) = (b64(data, "data")?, b64(iv, "iv")?, b64(tag, "tag")?);
    if iv.len() != 32 || tag.len() != 16 {
        return Err(malformed(
            at,
            "an iv of 32 bytes and a tag of 16 are expected",
        ));
    }
    let cipher = Cipher::new_from_slice(key).map_err(|_| malformed(at, "a bad data key"))?;
    let mut sealed = data;
    sealed.extend_from_slice(&tag);
    let plain = cipher
        .decrypt(
            aes_gcm::Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: &sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| SopsError::Tampered {
            path: aad.to_string(),
        })?;
    Ok((kind.unwrap_or("str").to_string(), Zeroizing::new(plain)))
}

/// A decrypted value as YAML, and the bytes sops hashes for it in the MAC.
fn typed(kind: &str, plain: &[u8], at: &str) -> Result<(Value, Vec<u8>), SopsError> {
    let text = std::str::from_utf8(plain).map_err(|_| malformed(at, "a value that is not UTF-8"));
    Ok(match kind {
        "str" | "time" | "bytes" => (Value::String(text?.to_string()), plain.to_vec()),
        "int" => {
            let n: i64 = text?
                .parse()
                .map_err(|_| malformed(at, "an int that is not one"))?;
            (Value::Number(n.into()), n.to_string().into_bytes())
        }
        "float" => {
            let f: f64 = text?
                .parse()
                .map_err(|_| malformed(at, "a float that is not one"))?;
            (Value::Number(f.into()), f.to_string().into_bytes())
        }
        "bool" => {
            let b = match text? {
                "True" | "true" | "TRUE" | "1" | "t" | "T" => true,
                "False" | "false" | "FALSE" | "0" | "f" | "F" => false,
                _ => return Err(malformed(at, "a bool that is not one")),
            };
            (
                Value::Bool(b),
                if b {
                    b"True".to_vec()
                } else {
                    b"False".to_vec()
                },
            )
        }
        other => return Err(malformed(at, format!("an unknown value type {other:?}"))),
    })
}

/// The bytes sops hashes for a value it left in the clear (sops.go, `ToBytes`).
fn clear_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Number(n) => n.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

struct Walk<'a> {
    meta: &'a Meta,
    key: &'a [u8],
    mac: Sha512,
}

impl Walk<'_> {
    fn value(&mut self, v: &Value, path: &mut Vec<String>) -> Result<Value, SopsError> {
        match v {
            Value::Mapping(m) => {
                let mut out = Mapping::new();
                for (k, item) in m {
                    let Some(name) = k.as_str() else {
                        return Err(malformed(&joined(path), "a key that is not a string"));
                    };
                    if path.is_empty() && name == "sops" {
                        continue;
                    }
                    path.push(name.to_string());
                    let decrypted = self.value(item, path)?;
                    path.pop();
                    out.insert(k.clone(), decrypted);
                }
                Ok(Value::Mapping(out))
            }
            // A list's items share the list's path, as sops walks them.
            Value::Sequence(items) => items
                .iter()
                .map(|i| self.value(i, path))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Sequence),
            Value::Null => Ok(Value::Null),
            Value::Tagged(_) => Err(malformed(&joined(path), "a tagged value")),
            leaf => self.leaf(leaf, path),
        }
    }

    fn leaf(&mut self, v: &Value, path: &[String]) -> Result<Value, SopsError> {
        let encrypted = self.meta.encrypted(path);
        let aad = joined(path);
        let (out, bytes) = match (encrypted, v) {
            // sops leaves an empty string as it is.
            (true, Value::String(s)) if s.is_empty() => (v.clone(), Vec::new()),
            (true, Value::String(s)) => {
                let (kind, plain) = open(s, self.key, &aad, &aad)?;
                typed(&kind, &plain, &aad)?
            }
            (true, _) => {
                return Err(malformed(
                    &aad,
                    "a value left in the clear in an encrypted place",
                ))
            }
            (false, _) => (v.clone(), clear_bytes(v)),
        };
        if !self.meta.mac_only_encrypted || encrypted {
            self.mac.update(&bytes);
        }
        Ok(out)
    }
}

/// `a:b:`, the additional data sops binds a value to.
pub(crate) fn joined(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

/// The document's values decrypted (the `sops` block left out), once the MAC matches them.
pub fn decrypt(doc: &Value, keys: &Keys) -> Result<Value, SopsError> {
    let opened = open_doc(doc, keys)?;
    verify_mac(&opened)?;
    Ok(opened.values)
}

/// Whether the values of an opened document hash to the MAC it stores.
pub(crate) fn verify_mac(opened: &Opened) -> Result<(), SopsError> {
    let (_, stored) = open(
        &opened.meta.mac,
        &opened.key,
        &opened.meta.lastmodified,
        "sops.mac",
    )
    .map_err(|e| match e {
        SopsError::Tampered { .. } => SopsError::Mac,
        other => other,
    })?;
    if stored.as_slice() != opened.mac.as_bytes() {
        return Err(SopsError::Mac);
    }
    Ok(())
}

/// A document opened: its rules, its data key, its values decrypted and the MAC they hash to
/// (not yet compared with the stored one).
pub(crate) struct Opened {
    pub(crate) meta: Meta,
    pub(crate) key: Zeroizing<Vec<u8>>,
    pub(crate) values: Value,
    pub(crate) mac: String,
}

pub(crate) fn open_doc(doc: &Value, keys: &Keys) -> Result<Opened, SopsError> {
    let (meta, block) = meta(doc)?;
    let key = data_key(block, keys)?;
    let mut walk = Walk {
        meta: &meta,
        key: &key,
        mac: Sha512::new(),
    };
    if meta.mac_only_encrypted {
        walk.mac.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let values = walk.value(doc, &mut Vec::new())?;
    let mac = hex::encode_upper(walk.mac.finalize());
    Ok(Opened {
        meta,
        key,
        values,
        mac,
    })
}

/// Whether the value at `path` (its map keys; a list's items share the list's path) of a SOPS
/// document is encrypted under the document's rules; `false` for any other document.
pub fn encrypts(doc: &Value, path: &[String]) -> bool {
    is_encrypted(doc) && meta(doc).is_ok_and(|(m, _)| m.encrypted(path))
}
