//! The age identities a decryption may use, found where `sops` itself looks for them, so the
//! same key file serves a person at a terminal and the agent (a Secret mounted into it):
//! `SOPS_AGE_KEY` (the keys' text), `SOPS_AGE_KEY_FILE` (a file), and `sops/age/keys.txt` in the
//! user's config folder (`$XDG_CONFIG_HOME`, else `$HOME/.config`). Every one found is used.
//! An error names where a key was read from and the line, never the key.

use std::str::FromStr as _;

pub struct Keys {
    identities: Vec<age::x25519::Identity>,
    /// What opens a data key encrypted by AWS KMS (`sops.kms`), if anything here does.
    kms: Option<std::sync::Arc<dyn crate::Kms>>,
    /// Where keys were looked for, for an error that names them: `SOPS_AGE_KEY`,
    /// `SOPS_AGE_KEY_FILE=/path`, `/home/u/.config/sops/age/keys.txt (absent)`.
    looked: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{from}: cannot read the age keys: {message}")]
    Unreadable { from: String, message: String },
    #[error("{from}: line {line} is not an age identity (AGE-SECRET-KEY-1…)")]
    Malformed { from: String, line: usize },
}

impl Keys {
    /// The keys `sops` would find in this process's environment.
    pub fn from_env() -> Result<Keys, KeyError> {
        Keys::from_vars(|k| std::env::var(k).ok())
    }

    /// The keys found through `get` (a variable's value by name).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Keys, KeyError> {
        let mut keys = Keys {
            identities: Vec::new(),
            kms: None,
            looked: Vec::new(),
        };
        if let Some(text) = get("SOPS_AGE_KEY") {
            keys.add(&text, "SOPS_AGE_KEY")?;
        }
        if let Some(file) = get("SOPS_AGE_KEY_FILE") {
            let source = format!("SOPS_AGE_KEY_FILE={file}");
            match std::fs::read_to_string(&file) {
                Ok(text) => keys.add(&text, &source)?,
                // An optional Secret not made: a file for age recipients then names it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    keys.looked.push(format!("{source} (absent)"));
                }
                Err(e) => {
                    return Err(KeyError::Unreadable {
                        from: source,
                        message: e.to_string(),
                    })
                }
            }
        }
        let config = get("XDG_CONFIG_HOME")
            .filter(|d| !d.is_empty())
            .or_else(|| get("HOME").map(|h| format!("{h}/.config")));
        if let Some(dir) = config {
            let file = format!("{dir}/sops/age/keys.txt");
            match std::fs::read_to_string(&file) {
                Ok(text) => keys.add(&text, &file)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    keys.looked.push(format!("{file} (absent)"));
                }
                Err(e) => {
                    return Err(KeyError::Unreadable {
                        from: file,
                        message: e.to_string(),
                    })
                }
            }
        }
        Ok(keys)
    }

    /// The identities in `text` (one per line; `#` comments and blank lines skipped).
    pub fn parse(text: &str, source: &str) -> Result<Keys, KeyError> {
        let mut keys = Keys {
            identities: Vec::new(),
            kms: None,
            looked: Vec::new(),
        };
        keys.add(text, source)?;
        Ok(keys)
    }

    fn add(&mut self, text: &str, source: &str) -> Result<(), KeyError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| KeyError::Malformed {
                from: source.to_string(),
                line: i + 1,
            })?;
            self.identities.push(id);
        }
        self.looked.push(source.to_string());
        Ok(())
    }

    pub(crate) fn identities(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.identities.iter().map(|i| i as &dyn age::Identity)
    }

    /// The same keys, with `kms` to open data keys encrypted by AWS KMS.
    pub fn with_kms(mut self, kms: std::sync::Arc<dyn crate::Kms>) -> Keys {
        self.kms = Some(kms);
        self
    }

    pub(crate) fn kms(&self) -> Option<&dyn crate::Kms> {
        self.kms.as_deref()
    }

    /// Where keys were looked for.
    pub fn looked(&self) -> &[String] {
        &self.looked
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}
