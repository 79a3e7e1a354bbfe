//! What `spec.promotion` declares, checked against the environment it sits in: each image's
//! release exists, its values key is set in one of that release's values files (the file Helm's
//! last-wins picks, as drift pull requests choose it) and holds a digest. Every error names the
//! field, and the values file where one is involved.

use super::{Invalid, Release};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromotionMode {
    #[default]
    PullRequest,
    Commit,
}

/// `spec.promotion`: which image digests this environment takes from another one, once that one
/// ran them healthily for `soak` (docs/promotion.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Promotion {
    pub from: String,
    #[serde(default)]
    pub mode: PromotionMode,
    #[serde(default = "default_soak")]
    pub soak: crate::duration::Span,
    #[serde(default = "default_platform")]
    pub platform: String,
    #[serde(default)]
    pub images: Vec<PromotedImage>,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// In this (the target) environment, after a promoted digest is applied and healthy.
    pub verify: Option<Verify>,
    /// Whether the target verifies each promoted digest's signature again before it applies a
    /// revision (images with `verify.signature`); `false` lets a digest committed by hand in.
    #[serde(default = "yes")]
    pub verify_on_apply: bool,
}

fn yes() -> bool {
    true
}

/// `spec.promotion.verify`: checks the target runs for `window` after a promoted digest is
/// applied in full; a failing one rolls back at once, as a failed health gate does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Verify {
    pub window: crate::duration::Span,
    pub checks: Vec<Check>,
}

fn default_soak() -> crate::duration::Span {
    crate::duration::Span::known("10m")
}

fn default_platform() -> String {
    "linux/amd64".into()
}

impl Promotion {
    /// How long the source must run a digest healthily before it is proposed.
    pub fn soak(&self) -> std::time::Duration {
        self.soak.get()
    }

    pub fn image(&self, release: &str) -> Option<&PromotedImage> {
        self.images.iter().find(|i| i.release == release)
    }
}

/// One release's image: where its digest lives in the values, and where it is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromotedImage {
    pub release: String,
    /// The values key holding the digest, dotted (`image.digest`).
    pub path: String,
    /// A values key holding the tag for humans, copied with the digest (`image.tag`).
    pub tag_path: Option<String>,
    pub repository: String,
    /// What a digest must prove before it is proposed, and again before the target applies it.
    pub verify: Option<ImageVerify>,
}

/// `images[].verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageVerify {
    pub signature: SignaturePolicy,
}

/// `images[].verify.signature`: who must have signed the digest (a key, or a keyless identity),
/// and the attestations (in-toto predicate types) the same signer must have made about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignaturePolicy {
    /// A PEM public key (`cosign.pub`): keyed cosign signatures.
    pub key: Option<String>,
    pub keyless: Option<Keyless>,
    #[serde(default)]
    pub attestations: Vec<String>,
}

/// A Fulcio certificate's identity: the OIDC issuer, and the subject (exactly, or a regular
/// expression matching all of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Keyless {
    pub issuer: String,
    pub subject: Option<String>,
    pub subject_reg_exp: Option<String>,
}

/// A check the source environment must pass throughout the soak: one key, its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Check {
    Http(HttpCheck),
    Prometheus(PrometheusCheck),
}

impl Check {
    /// What `/status`, the log and the pull request call it: the URL, or the query.
    pub fn name(&self) -> &str {
        match self {
            Check::Http(c) => &c.url,
            Check::Prometheus(c) => &c.query,
        }
    }

    /// How long one look may take (5s when unset).
    pub fn timeout(&self) -> std::time::Duration {
        let t = match self {
            Check::Http(c) => c.timeout.as_ref(),
            Check::Prometheus(c) => c.timeout.as_ref(),
        };
        t.map_or(std::time::Duration::from_secs(5), |t| t.get())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    /// Text the body must contain; without it any 2xx passes.
    pub expect: Option<String>,
    /// How long the check may take (5s when unset).
    pub timeout: Option<crate::duration::Span>,
}

/// A PromQL query, asked of a Prometheus server, whose every sample must meet `condition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusCheck {
    /// The Prometheus server: `http://prometheus.monitoring.svc:9090`.
    pub url: String,
    pub query: String,
    /// `< 0.01`: every sample of every series the query returns must meet it.
    pub condition: super::condition::Condition,
    /// When set, every sample of the last `for` (a range query, 30 steps) must meet the
    /// condition; otherwise the value now.
    #[serde(rename = "for")]
    pub for_: Option<crate::duration::Span>,
    /// How long one look may take (5s when unset).
    pub timeout: Option<crate::duration::Span>,
}

/// `sha256:` and 64 lowercase hex digits: the only digest form a promotion carries.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub use super::error::{KeyError, ValuesError};

/// `image.digest` → `[image, digest]`; `containers[0].image` → `[containers, 0, image]`.
pub fn key(dotted: &str) -> Result<Vec<sextant_yamledit::Key>, KeyError> {
    use sextant_yamledit::Key;
    let mut out = Vec::new();
    for part in dotted.split('.') {
        let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if name.is_empty() && (out.is_empty() || rest.is_empty()) {
            return Err(KeyError::NotAKey { key: dotted.into() });
        }
        if !name.is_empty() {
            out.push(Key::Map(name.to_string()));
        }
        if !rest.is_empty() {
            for index in format!("[{rest}").split('[').skip(1) {
                let n = index
                    .strip_suffix(']')
                    .and_then(|i| i.parse::<usize>().ok())
                    .ok_or_else(|| KeyError::NotAnIndex {
                        key: dotted.into(),
                        index: index.into(),
                    })?;
                out.push(Key::Index(n));
            }
        }
    }
    Ok(out)
}

/// The value of `dotted` in a release's values, and the values file that sets it: the last of
/// the release's files holding the key (Helm's last-wins). `None` when no values file sets it.
pub fn holder(release: &Release, dotted: &str) -> Result<Option<(PathBuf, Value)>, ValuesError> {
    let path = key(dotted)?;
    for file in release.values.iter().rev() {
        if let Some(v) = value_in(file, &path)? {
            return Ok(Some((file.clone(), v)));
        }
    }
    Ok(None)
}

fn value_in(file: &Path, path: &[sextant_yamledit::Key]) -> Result<Option<Value>, ValuesError> {
    let text = std::fs::read_to_string(file).map_err(|error| ValuesError::Read {
        file: file.to_path_buf(),
        error,
    })?;
    sextant_yamledit::get_yaml11(&text, path).map_err(|error| ValuesError::Yaml {
        file: file.to_path_buf(),
        error,
    })
}

/// Checks a promotion against the environment's releases; on failure the field and what is wrong.
pub(super) fn check(p: &Promotion, releases: &[Release]) -> Result<(), Invalid> {
    if p.platform.parse::<Platform>().is_err() {
        return Err(Invalid::value(
            "spec.promotion.platform",
            format!("{:?} is not a platform such as linux/amd64", p.platform),
        ));
    }
    for (i, image) in p.images.iter().enumerate() {
        let at = format!("spec.promotion.images[{i}]");
        if let Some(first) = p.images[..i]
            .iter()
            .position(|o| o.release == image.release)
        {
            return Err(Invalid::value(
                format!("{at}.release"),
                format!(
                    "release {:?} is promoted twice (first at spec.promotion.images[{first}])",
                    image.release
                ),
            ));
        }
        let Some(release) = releases.iter().find(|r| r.name == image.release) else {
            return Err(Invalid::value(
                format!("{at}.release"),
                format!(
                    "unknown release {:?} (releases of this environment: {})",
                    image.release,
                    releases
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let last = image.repository.rsplit('/').next().unwrap_or_default();
        if last.contains(':') || last.contains('@') {
            return Err(Invalid::value(
                format!("{at}.repository"),
                format!(
                    "{:?} names a tag or digest: give the repository alone, such as registry.example.com/team/app",
                    image.repository
                ),
            ));
        }
        image_values(&at, image, release)?;
        if let Some(v) = &image.verify {
            signature_policy(&format!("{at}.verify.signature"), &v.signature)?;
        }
    }
    Ok(())
}

/// A key or a keyless identity, not both; a keyless identity names its subject one way.
fn signature_policy(at: &str, s: &SignaturePolicy) -> Result<(), Invalid> {
    match (&s.key, &s.keyless) {
        (Some(_), Some(_)) => Err(Invalid::value(
            at,
            "give either key or keyless, not both".to_string(),
        )),
        (None, None) => Err(Invalid::value(
            at,
            "give key (a PEM public key) or keyless (issuer and subject)".to_string(),
        )),
        (Some(key), None) if !key.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") => {
            Err(Invalid::value(
                format!("{at}.key"),
                "not a PEM public key: paste cosign.pub, from -----BEGIN PUBLIC KEY-----"
                    .to_string(),
            ))
        }
        (Some(_), None) => Ok(()),
        (None, Some(k)) => match (&k.subject, &k.subject_reg_exp) {
            (Some(_), None) => Ok(()),
            (None, Some(p)) => regex::Regex::new(p).map(|_| ()).map_err(|e| {
                Invalid::value(
                    format!("{at}.keyless.subjectRegExp"),
                    format!("not a regular expression: {e}"),
                )
            }),
            _ => Err(Invalid::value(
                format!("{at}.keyless"),
                "give subject or subjectRegExp, one of them".to_string(),
            )),
        },
    }
}

/// The values a promoted image's keys point at: the digest key set to a digest, the tag key set.
fn image_values(at: &str, image: &PromotedImage, release: &Release) -> Result<(), Invalid> {
    match holder(release, &image.path).map_err(|e| Invalid::new(format!("{at}.path"), e))? {
        None => {
            return Err(Invalid::value(
                format!("{at}.path"),
                format!(
                    "no values file of release {:?} sets {} ({}): set it to the digest running now",
                    image.release,
                    image.path,
                    files(release)
                ),
            ))
        }
        Some((file, v)) if !v.as_str().is_some_and(is_digest) => {
            return Err(Invalid::value(
                format!("{at}.path"),
                format!(
                    "{}: {} is {}, not a digest (sha256: and 64 lowercase hex digits)",
                    file.display(),
                    image.path,
                    v
                ),
            ))
        }
        Some(_) => {}
    }
    if let Some(tag) = &image.tag_path {
        if holder(release, tag)
            .map_err(|e| Invalid::new(format!("{at}.tagPath"), e))?
            .is_none()
        {
            return Err(Invalid::value(
                format!("{at}.tagPath"),
                format!(
                    "no values file of release {:?} sets {tag} ({})",
                    image.release,
                    files(release)
                ),
            ));
        }
    }
    Ok(())
}

fn files(release: &Release) -> String {
    if release.values.is_empty() {
        return "it has no values files".into();
    }
    let names: Vec<String> = release
        .values
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    format!("read: {}", names.join(", "))
}

/// `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// A platform not written `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a platform such as linux/amd64")]
pub struct PlatformError(pub String);

impl std::str::FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts
                    .get(2)
                    .map(|v| v.to_string())
                    .filter(|v| !v.is_empty()),
            }),
            _ => Err(PlatformError(s.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_yamledit::Key;

    #[test]
    fn digests_are_sha256_and_64_lowercase_hex() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(is_digest(&d));
        assert!(!is_digest(&d.to_uppercase()));
        assert!(!is_digest(&format!("sha512:{}", "a".repeat(64))));
        assert!(!is_digest(&format!("sha256:{}", "a".repeat(63))));
        assert!(!is_digest(&format!("sha256:{}g", "a".repeat(63))));
    }

    #[test]
    fn keys_are_dotted_with_list_indexes() {
        assert_eq!(
            key("image.digest").unwrap(),
            [Key::Map("image".into()), Key::Map("digest".into())]
        );
        assert_eq!(
            key("containers[1].image").unwrap(),
            [
                Key::Map("containers".into()),
                Key::Index(1),
                Key::Map("image".into())
            ]
        );
        assert!(key("image..digest").is_err());
        assert!(key("a[x]").is_err());
    }

    #[test]
    fn platforms_have_os_and_architecture() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()),
            ("linux", "arm64", Some("v8"))
        );
        assert!("linux".parse::<Platform>().is_err());
        assert!("/amd64".parse::<Platform>().is_err());
    }
}
