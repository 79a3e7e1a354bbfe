//! `sextant promote`: what qualifies for a target, from the repository, the source cluster's
//! recorded gates and the registry, with the values patch — opening nothing.

use crate::environment::{self, promoted};
use crate::promotion::gate::{short, Gate, State};
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

/// The rows of `to`'s promotion from `from` (one release, or all).
pub async fn report<R: Registry>(
    repo: &Path,
    from: &str,
    to: &str,
    release: Option<&str>,
    registry: &R,
    gates: Option<&BTreeMap<(String, String), Gate>>,
) -> anyhow::Result<Vec<Row>> {
    let target = environment::load(repo, to)?;
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
    let source = environment::load(repo, from)?;
    let rejections = crate::promotion::rejected::read(repo, to)?;
    if let Some(r) = release {
        if p.image(r).is_none() {
            anyhow::bail!(
                "{}: release {r:?} is not promoted (spec.promotion.images: {})",
                target.file.display(),
                p.images
                    .iter()
                    .map(|i| i.release.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let mut rows = Vec::new();
    for image in p
        .images
        .iter()
        .filter(|i| release.is_none_or(|r| r == i.release))
    {
        let digest = source
            .release(&image.release)
            .and_then(|r| promoted::holder(r, &image.path).ok().flatten())
            .and_then(|(_, v)| v.as_str().map(str::to_string))
            .filter(|d| promoted::is_digest(d));
        let target_digest =
            crate::promotion::digests(&target, std::slice::from_ref(image)).remove(&image.release);
        let gate = gates
            .and_then(|g| g.get(&(to.to_string(), image.release.clone())))
            .cloned();
        let rejected = digest.as_ref().and_then(|d| {
            rejections
                .iter()
                .find(|r| &r.digest == d && r.release == image.release)
                .map(|r| r.reason.clone())
        });
        let registry = match &digest {
            None => Err(Unverified::NoDigest {
                from: from.to_string(),
                path: image.path.clone(),
            }),
            Some(d) => registry
                .verify(&image.repository, d, &p.platform)
                .await
                .map(|v| {
                    let content = if v.content_verified {
                        "bytes hashed"
                    } else {
                        "listed, bytes not hashed"
                    };
                    format!("verified in {} ({content})", v.registry)
                })
                .map_err(Unverified::Refused),
        };
        let (file, patch, after) = match &digest {
            Some(d) if Some(d) != target_digest.as_ref() => {
                let tag = image.tag_path.as_ref().and_then(|t| {
                    source
                        .release(&image.release)
                        .and_then(|r| promoted::holder(r, t).ok().flatten())
                        .map(|(_, v)| v)
                });
                let edit = crate::promotion::edit(&target, image, d, tag.as_ref(), |f| {
                    std::fs::read_to_string(repo.join(f)).ok()
                })?;
                let patch = crate::drift::proposal::unified(&edit.path, &edit.before, &edit.after);
                (Some(edit.path), patch, Some(edit.after))
            }
            _ => (None, String::new(), None),
        };
        let up_to_date = digest.is_some() && digest == target_digest;
        let gate_ok = gate
            .as_ref()
            .is_some_and(|g| g.state == State::Qualified && g.digest == digest);
        rows.push(Row {
            release: image.release.clone(),
            from: from.to_string(),
            to: to.to_string(),
            qualifies: !up_to_date && gate_ok && registry.is_ok() && rejected.is_none(),
            digest,
            target: target_digest,
            gate,
            registry,
            rejected,
            file,
            patch,
            after,
        });
    }
    Ok(rows)
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("RELEASE\tFROM\tTO\tGATE\tREGISTRY\tQUALIFIES\n");
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
        out.push_str(&format!(
            "{}\t{}\t{}\t{gate}\t{registry}\t{}\n",
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
