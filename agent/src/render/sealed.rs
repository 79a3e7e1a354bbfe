//! The renderer's SOPS side: the keys (age, and AWS KMS), each release's encrypted values files
//! decrypted in memory, and the values decrypted so far, for what shows or publishes to mask.

use super::{kms, values, Error, Renderer, Result};
use crate::environment::{Environment, Release};
use sextant_core::secrets::Sealed;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// The SOPS files whose decrypted values are kept, to mask them, at most.
const MAX_SEALED_FILES: usize = 512;

/// The values last decrypted from each SOPS file, in this process: every renderer adds to
/// them, and whatever shows or publishes text (the log, `/status`, commit statuses, previews,
/// drift requests) masks them ([`scrub`]).
static FILES: Mutex<BTreeMap<PathBuf, Sealed>> = Mutex::new(BTreeMap::new());
/// Their union, made again at each change: read at every log line.
static KNOWN: RwLock<Option<Arc<Sealed>>> = RwLock::new(None);

fn remember(file: &Path, sealed: Sealed) {
    let mut files = FILES.lock().unwrap_or_else(|p| p.into_inner());
    // Bounded: each checkout (a preview's, a proof's) has its own paths. A file read again
    // comes back at its next decryption, before anything it renders shows.
    if files.len() >= MAX_SEALED_FILES && !files.contains_key(file) {
        files.clear();
    }
    if files.get(file) == Some(&sealed) {
        return;
    }
    files.insert(file.to_path_buf(), sealed);
    let union = files.values().fold(Sealed::default(), |all, s| all.with(s));
    *KNOWN.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(union));
}

fn known() -> Arc<Sealed> {
    KNOWN
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default()
}

/// `text` with every value decrypted in this process replaced by `(encrypted value)`.
pub fn scrub(text: &str) -> std::borrow::Cow<'_, str> {
    let known = known();
    if known.is_empty() || !known.in_text(text) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(known.scrub(text))
}

impl Renderer {
    /// The age keys SOPS files are decrypted (and drift edits encrypted) with.
    pub fn sops_keys(
        &self,
    ) -> std::result::Result<Arc<sextant_sops::Keys>, sextant_sops::KeyError> {
        self.sops_keys
            .get_or_init(|| {
                sextant_sops::Keys::from_env()
                    .map(|k| Arc::new(k.with_kms(Arc::new(kms::AwsKms::default()))))
            })
            .clone()
    }

    /// Whether this renderer's keys open the SOPS file `file` (why not, if they do not); a plain
    /// file opens.
    pub fn opens(&self, file: &Path) -> std::result::Result<(), String> {
        let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) else {
            return Ok(());
        };
        if !sextant_sops::is_encrypted(&doc) {
            return Ok(());
        }
        let keys = self.sops_keys().map_err(|e| e.to_string())?;
        sextant_sops::decrypt(&doc, &keys)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Every value decrypted in this process from the SOPS files last read, for what shows or
    /// publishes to mask them (`sextant_core::secrets::Sealed`).
    pub fn sealed(&self) -> Sealed {
        known().as_ref().clone()
    }

    /// The key paths the release's SOPS-encrypted values files set (each leaf, lists whole),
    /// for what shows values to mask them.
    pub fn encrypted_paths(
        &self,
        env: &Environment,
        release: &Release,
    ) -> Result<Vec<Vec<String>>> {
        let mut out = Vec::new();
        for (i, text) in self.decrypted(env, release)? {
            let values = values::parse_text(&release.values[i], &String::from_utf8_lossy(&text))
                .map_err(|source| Error::Values {
                    environment: env.name.clone(),
                    release: release.name.clone(),
                    source,
                })?;
            leaves(
                &serde_json::Value::Object(values),
                &mut Vec::new(),
                &mut out,
            );
        }
        Ok(out)
    }

    /// The release's SOPS-encrypted values files, decrypted in memory: (their place in
    /// `release.values`, the values as YAML). A file that does not parse is left to the plain
    /// reading, which names its error.
    pub fn decrypted(
        &self,
        env: &Environment,
        release: &Release,
    ) -> Result<Vec<(usize, zeroize::Zeroizing<Vec<u8>>)>> {
        let mut out = Vec::new();
        for (i, file) in release.values.iter().enumerate() {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            if !text.contains("sops:") {
                continue;
            }
            let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) else {
                continue;
            };
            if !sextant_sops::is_encrypted(&doc) {
                continue;
            }
            let keys = self.sops_keys().map_err(|source| Error::Keys {
                environment: env.name.clone(),
                release: release.name.clone(),
                file: file.clone(),
                source,
            })?;
            let plain = sextant_sops::decrypt(&doc, &keys).map_err(|source| Error::Decrypt {
                environment: env.name.clone(),
                release: release.name.clone(),
                file: file.clone(),
                source,
            })?;
            let mut encrypted = Vec::new();
            sealed_scalars(&doc, &plain, &mut encrypted);
            remember(file, Sealed::new(encrypted));
            let yaml = serde_yaml_ng::to_string(&plain).unwrap_or_default();
            out.push((i, zeroize::Zeroizing::new(yaml.into_bytes())));
        }
        Ok(out)
    }
}

/// Each string of a decrypted document that the file held encrypted (`ENC[…]`); the values the
/// file's rules left in the clear are not secret.
fn sealed_scalars(raw: &serde_yaml_ng::Value, plain: &serde_yaml_ng::Value, out: &mut Vec<String>) {
    use serde_yaml_ng::Value as Y;
    match (raw, plain) {
        (Y::Mapping(r), Y::Mapping(p)) => {
            for (k, pv) in p {
                if let Some(rv) = r.get(k) {
                    sealed_scalars(rv, pv, out);
                }
            }
        }
        (Y::Sequence(r), Y::Sequence(p)) => {
            for (rv, pv) in r.iter().zip(p) {
                sealed_scalars(rv, pv, out);
            }
        }
        // Strings only: a number's or a bool's text (`5432`, `true`) is in too many other
        // places to be replaced wherever it appears.
        (Y::String(enc), Y::String(s)) if enc.starts_with("ENC[") => out.push(s.clone()),
        _ => {}
    }
}

/// Every leaf's key path under `v` (a list counts as one leaf).
fn leaves(v: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, item) in m {
                path.push(k.clone());
                leaves(item, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}
