//! `sextant promote`: what qualifies for a target, from the repository, the source cluster's
//! recorded gates and the registry, with the values patch — opening nothing.

use crate::environment::{self, promoted, Environment, PromotedImage, Promotion};
use crate::promotion::gate::{short, Gate, State};
use crate::promotion::rejected::Rejection;
use crate::registry::{Registry, RegistryError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub release: String,
    pub from: String,
    pub to: String,
    /// The digest the source's values carry.
    pub digest: Option<String>,
    /// The digest the target's values carry.
    pub target: Option<String>,
    /// The gate the source's agent recorded, if its cluster was read.
    pub gate: Option<Gate>,
    /// What the registry said of the source's digest (JSON `{"Ok": …}` or `{"Err": …}`).
    pub registry: Result<String, Unverified>,
    /// For an image with `verify.signature`: who signed the source's digest, or why it is
    /// refused (JSON `{"Ok": …}` or `{"Err": …}`).
    pub signature: Option<Result<String, String>>,
    /// The promotion chain through the target, source first: `[dev, staging, prod]`; a step
    /// with several targets is one entry, `qa, prod`.
    pub chain: Vec<String>,
    pub rejected: Option<String>,
    /// Whether the digest would be proposed now.
    pub qualifies: bool,
    /// The values file and its edit, as a unified diff.
    pub file: Option<String>,
    pub patch: String,
    #[serde(skip)]
    pub after: Option<String>,
}

/// Why a row's digest is not verified: the source sets none (its values are the ones to fix),
/// or the registry refused it (its own kind and label in the error).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unverified {
    #[error("{from} sets no digest at {path}")]
    NoDigest { from: String, path: String },
    #[error(transparent)]
    Refused(#[from] RegistryError),
}

/// As its message: `--output json` has always carried the text.
impl Serialize for Unverified {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a report reads beside the repository: the registry, the trusted root keyless
/// signatures verify against, and the gates the source's agent recorded.
pub struct Sources<'a, R> {
    pub registry: &'a R,
    pub trust: Option<&'a sextant_signature::TrustRoot>,
    pub gates: Option<&'a BTreeMap<(String, String), Gate>>,
}

/// The rows of `to`'s promotion from `from` (one release, or all).
pub async fn report<R: Registry>(
    repo: &Path,
    from: &str,
    to: &str,
    release: Option<&str>,
    sources: &Sources<'_, R>,
) -> anyhow::Result<Vec<Row>> {
    let Sources {
        registry,
        trust,
        gates,
    } = sources;
    let target = environment::load(repo, to)?;
    let promotion = promotion_from(&target, from, to)?;
    let source = environment::load(repo, from)?;
    let rejections = crate::promotion::rejected::read(repo, to)?;
    if let Some(r) = release {
        check_promoted(&target, &promotion, r)?;
    }
    let sides = Sides {
        repo,
        from,
        to,
        source: &source,
        target: &target,
        promotion: &promotion,
        chain: chain(repo, to),
        trust: *trust,
    };
    let mut rows = Vec::new();
    for image in promotion
        .images
        .iter()
        .filter(|i| release.is_none_or(|r| r == i.release))
    {
        let gate = gates
            .and_then(|g| g.get(&(to.to_string(), image.release.clone())))
            .cloned();
        rows.push(sides.row(image, gate, &rejections, *registry).await?);
    }
    Ok(rows)
}

/// The chain through `to`: the environments it promotes from, back to one that promotes from
/// none, then those promoting from it, step by step (several at one step joined by `, `).
pub fn chain(repo: &Path, to: &str) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::from([to.to_string()]);
    let mut up = Vec::new();
    let mut at = to.to_string();
    while let Some(from) = environment::load(repo, &at)
        .ok()
        .and_then(|e| e.promotion.map(|p| p.from))
    {
        if !seen.insert(from.clone()) {
            break;
        }
        up.push(from.clone());
        at = from;
    }
    up.reverse();
    up.push(to.to_string());
    let mut level = vec![to.to_string()];
    loop {
        let mut next: Vec<String> = level
            .iter()
            .flat_map(|s| crate::promotion::targets(repo, s).0)
            .map(|e| e.name)
            .filter(|n| seen.insert(n.clone()))
            .collect();
        if next.is_empty() {
            break;
        }
        next.sort();
        up.push(next.join(", "));
        level = next;
    }
    up
}

/// The target's `spec.promotion`, which must name `from` as its source.
fn promotion_from(target: &Environment, from: &str, to: &str) -> anyhow::Result<Promotion> {
    let Some(p) = target.promotion.clone() else {
        anyhow::bail!(
            "{}: field `spec.promotion`: {to} promotes from nowhere",
            target.file.display()
        );
    };
    if p.from != from {
        anyhow::bail!(
            "{}: field `spec.promotion.from`: {to} promotes from {:?}, not {from:?}",
            target.file.display(),
            p.from
        );
    }
    Ok(p)
}

/// Refuses a `--release` the promotion does not list.
fn check_promoted(target: &Environment, p: &Promotion, release: &str) -> anyhow::Result<()> {
    if p.image(release).is_none() {
        anyhow::bail!(
            "{}: release {release:?} is not promoted (spec.promotion.images: {})",
            target.file.display(),
            p.images
                .iter()
                .map(|i| i.release.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// The two environments of one promotion, and the repository they are read from.
struct Sides<'a> {
    repo: &'a Path,
    from: &'a str,
    to: &'a str,
    source: &'a Environment,
    target: &'a Environment,
    promotion: &'a Promotion,
    chain: Vec<String>,
    trust: Option<&'a sextant_signature::TrustRoot>,
}

impl Sides<'_> {
    /// One image's row: the digests on both sides, the gate, any rejection, the registry's word
    /// and the patch that would carry the source's digest over.
    async fn row<R: Registry>(
        &self,
        image: &PromotedImage,
        gate: Option<Gate>,
        rejections: &[Rejection],
        registry: &R,
    ) -> anyhow::Result<Row> {
        let digest = self
            .source
            .release(&image.release)
            .and_then(|r| promoted::holder(r, &image.path).ok().flatten())
            .and_then(|(_, v)| v.as_str().map(str::to_string))
            .filter(|d| promoted::is_digest(d));
        let target_digest = crate::promotion::digests(self.target, std::slice::from_ref(image))
            .remove(&image.release);
        let rejected = digest.as_ref().and_then(|d| {
            rejections
                .iter()
                .find(|r| &r.digest == d && r.release == image.release)
                .map(|r| r.reason.clone())
        });
        let checked = self.verify(image, digest.as_deref(), registry).await;
        let signature = match (&digest, &image.verify, &checked) {
            (Some(d), Some(v), Ok(_)) => {
                Some(self.signature(image, d, &v.signature, registry).await)
            }
            _ => None,
        };
        let registry = checked;
        let (file, patch, after) = match &digest {
            Some(d) if Some(d) != target_digest.as_ref() => {
                let (file, patch, after) = self.patch(image, d)?;
                (Some(file), patch, Some(after))
            }
            _ => (None, String::new(), None),
        };
        let up_to_date = digest.is_some() && digest == target_digest;
        let gate_ok = gate
            .as_ref()
            .is_some_and(|g| g.state == State::Qualified && g.digest == digest);
        Ok(Row {
            release: image.release.clone(),
            from: self.from.to_string(),
            to: self.to.to_string(),
            qualifies: !up_to_date
                && gate_ok
                && registry.is_ok()
                && signature.as_ref().is_none_or(|s| s.is_ok())
                && rejected.is_none(),
            signature,
            chain: self.chain.clone(),
            digest,
            target: target_digest,
            gate,
            registry,
            rejected,
            file,
            patch,
            after,
        })
    }

    /// What the registry says of the source's digest.
    async fn verify<R: Registry>(
        &self,
        image: &PromotedImage,
        digest: Option<&str>,
        registry: &R,
    ) -> Result<String, Unverified> {
        let Some(d) = digest else {
            return Err(Unverified::NoDigest {
                from: self.from.to_string(),
                path: image.path.clone(),
            });
        };
        registry
            .verify(&image.repository, d, &self.promotion.platform)
            .await
            .map(|v| {
                let content = if v.content_verified {
                    "bytes hashed"
                } else {
                    "listed, bytes not hashed"
                };
                format!("verified in {} ({content})", v.registry)
            })
            .map_err(Unverified::Refused)
    }

    /// Who signed the source's digest, or why it is refused (as the promotion loop verifies it,
    /// at the current time).
    async fn signature<R: Registry>(
        &self,
        image: &PromotedImage,
        digest: &str,
        policy: &crate::environment::promoted::SignaturePolicy,
        registry: &R,
    ) -> Result<String, String> {
        let index = self
            .promotion
            .images
            .iter()
            .position(|i| i.release == image.release)
            .unwrap_or_default();
        let at = format!("spec.promotion.images[{index}].verify.signature");
        let policy = crate::signature::policy(policy, &at).map_err(|r| r.to_string())?;
        let found = registry
            .signatures(&image.repository, digest)
            .await
            .map_err(|e| format!("cannot read its signatures: {e}"))?;
        sextant_signature::verify(
            digest,
            &found,
            &policy,
            self.trust,
            crate::signature::unix_seconds(),
        )
        .map(|v| crate::signature::describe(&v))
        .map_err(|r| r.to_string())
    }

    /// The target's values file with `digest` (and the source's tag, when the image names one)
    /// written in: its path, the unified diff and the text after.
    fn patch(
        &self,
        image: &PromotedImage,
        digest: &str,
    ) -> anyhow::Result<(String, String, String)> {
        let tag = image.tag_path.as_ref().and_then(|t| {
            self.source
                .release(&image.release)
                .and_then(|r| promoted::holder(r, t).ok().flatten())
                .map(|(_, v)| v)
        });
        let edit = crate::promotion::edit(self.target, image, digest, tag.as_ref(), |f| {
            std::fs::read_to_string(self.repo.join(f)).ok()
        })?;
        let patch = crate::drift::proposal::unified(&edit.path, &edit.before, &edit.after);
        Ok((edit.path, patch, edit.after))
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    if let Some(r) = rows.first() {
        out.push_str(&format!("chain: {}\n", r.chain.join(" → ")));
    }
    out.push_str("RELEASE\tFROM\tTO\tGATE\tREGISTRY\tSIGNATURE\tQUALIFIES\n");
    for r in rows {
        let d = |x: &Option<String>| x.as_deref().map_or("-".into(), short);
        let gate = match (&r.rejected, &r.gate) {
            (Some(why), _) => format!("rejected: {why}"),
            (None, Some(g)) if g.digest == r.digest => {
                format!("{}: {}", g.state.as_str(), g.message)
            }
            (None, Some(g)) => format!(
                "{} for {}",
                g.state.as_str(),
                g.digest.as_deref().map_or("-".into(), short)
            ),
            (None, None) if r.digest.is_some() && r.digest == r.target => "up-to-date".into(),
            (None, None) => "unknown (the source cluster's gates were not read)".into(),
        };
        let registry = match &r.registry {
            Ok(v) => v.clone(),
            Err(e) => format!("refused: {e}"),
        };
        let signature = match &r.signature {
            None => "-".to_string(),
            Some(Ok(v)) => v.clone(),
            Some(Err(e)) => format!("refused: {e}"),
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{gate}\t{registry}\t{signature}\t{}\n",
            r.release,
            d(&r.digest),
            d(&r.target),
            if r.qualifies { "yes" } else { "no" }
        ));
    }
    out
}

pub fn patch(rows: &[Row]) -> String {
    rows.iter().map(|r| r.patch.as_str()).collect()
}
