//! A drift pull request's content — pure: the values files edited in place (by
//! `sextant-yamledit`, which keeps every other byte), the title and the body. Secret values never
//! appear: a Secret's field reads "(Secret value changed)", and Secret fields are never written
//! to a values file (they are listed as not mapped).

use super::pr::{is_secret, Marker};
use super::provenance::{Mapping, Segment, Unmapped, ValuesEdit};
use super::ObjectDrift;
use crate::object::ObjectRef;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One values file, before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// Relative to the repository's root.
    pub path: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: the values file is outside the repository")]
    Outside { file: String },
    #[error("{file}: {source}")]
    Edit {
        file: String,
        source: sextant_yamledit::Error,
    },
    #[error("{file}: cannot be read at the base commit")]
    Missing { file: String },
}

fn keys(key: &[Segment]) -> Vec<sextant_yamledit::Key> {
    key.iter()
        .map(|s| match s {
            Segment::Key(k) => sextant_yamledit::Key::Map(k.clone()),
            Segment::Index(i) => sextant_yamledit::Key::Index(*i),
        })
        .collect()
}

/// The edits Secret drift may not make: none of a Secret's fields goes to Git.
pub fn without_secrets(mapping: &mut Mapping, drifts: &[ObjectDrift]) {
    let secret = |r: &ObjectRef| {
        drifts
            .iter()
            .any(|d| is_secret(d) && d.reference.to_string() == r.to_string())
    };
    mapping
        .edits
        .retain(|e| !e.fields.iter().any(|(r, _)| secret(r)));
}

/// The repository paths the edits touch, in order.
pub fn files(root: &Path, edits: &[ValuesEdit]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for e in edits {
        let rel = e
            .file
            .strip_prefix(root)
            .map_err(|_| Error::Outside {
                file: e.file.display().to_string(),
            })?
            .to_string_lossy()
            .to_string();
        if !out.contains(&rel) {
            out.push(rel);
        }
    }
    Ok(out)
}

/// Each values file with the edits made in place; `read` gives a file's text at the base commit.
pub fn edit_files(
    root: &Path,
    edits: &[ValuesEdit],
    read: impl Fn(&str) -> Option<String>,
) -> Result<Vec<FileEdit>, Error> {
    let mut by_file: BTreeMap<String, Vec<(Vec<sextant_yamledit::Key>, Value)>> = BTreeMap::new();
    for rel in files(root, edits)? {
        by_file.entry(rel).or_default();
    }
    for e in edits {
        let rel = e
            .file
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        by_file
            .entry(rel)
            .or_default()
            .push((keys(&e.key), e.new.clone()));
    }
    by_file
        .into_iter()
        .map(|(path, changes)| {
            let before = read(&path).ok_or_else(|| Error::Missing { file: path.clone() })?;
            let after =
                sextant_yamledit::apply(&before, &changes).map_err(|source| Error::Edit {
                    file: path.clone(),
                    source,
                })?;
            Ok(FileEdit {
                path,
                before,
                after,
            })
        })
        .collect()
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `drift(prod/hash-service): replicaCount 3 → 5`; several edits: the first and how many more.
/// An issue (nothing mappable): `drift(prod/hash-service): 2 fields changed live, not mapped to values`.
pub fn title(
    environment: &str,
    release: &str,
    mapping: &Mapping,
    drifts: &[ObjectDrift],
) -> String {
    let head = format!("drift({environment}/{release})");
    match mapping.edits.as_slice() {
        [] => {
            let n: usize = drifts.iter().map(|d| d.fields.len().max(1)).sum();
            let s = if n == 1 { "" } else { "s" };
            format!("{head}: {n} field{s} changed live, not mapped to values")
        }
        [one] => format!("{head}: {}", edit_line(one)),
        [first, rest @ ..] => format!("{head}: {} and {} more", edit_line(first), rest.len()),
    }
}

fn edit_line(e: &ValuesEdit) -> String {
    let old = e.old.as_ref().map_or("(unset)".to_string(), short);
    format!("{} {old} → {}", e.dotted, short(&e.new))
}

fn cell(v: &str) -> String {
    v.replace('|', "\\|").replace('\n', " ")
}

fn shown(d: &ObjectDrift, v: Option<&Value>) -> String {
    if is_secret(d) {
        return "(Secret value changed)".into();
    }
    v.map_or("(absent)".to_string(), |v| format!("`{}`", cell(&short(v))))
}

/// The body: the drift table, the values diff, the proof, what is not mapped, how to accept or
/// reject, and the hidden marker.
pub fn body(
    marker: &Marker,
    drifts: &[ObjectDrift],
    mapping: &Mapping,
    files: &[FileEdit],
) -> String {
    let mut b = String::new();
    b.push_str(&format!(
        "The live cluster departs from Git in environment `{}`, release `{}`. ",
        marker.environment, marker.release
    ));
    if files.is_empty() {
        b.push_str("No field of it maps to a values key, so this is an issue rather than a pull request.\n\n");
    } else {
        b.push_str("This pull request puts the live values into Git.\n\n");
    }
    b.push_str("## What changed live\n\n| object | path | Git | live | changed by |\n|---|---|---|---|---|\n");
    for d in drifts {
        if d.deleted {
            b.push_str(&format!(
                "| `{}` | (the object) | present | deleted | |\n",
                d.object
            ));
            continue;
        }
        for f in &d.fields {
            let by = match (&f.manager, &f.changed_at) {
                (Some(m), Some(t)) => format!("{m} at {t}"),
                (Some(m), None) => m.clone(),
                _ => String::new(),
            };
            b.push_str(&format!(
                "| `{}` | `{}` | {} | {} | {} |\n",
                d.object,
                f.path,
                shown(d, Some(&f.git)),
                shown(d, f.live.as_ref()),
                cell(&by)
            ));
        }
    }
    if !files.is_empty() {
        b.push_str("\n## The values change\n\n");
        for e in &mapping.edits {
            let whence = if e.from_defaults {
                " (set only by the chart's defaults until now)"
            } else {
                ""
            };
            b.push_str(&format!("- `{}`{whence}\n", edit_line(e)));
        }
        for f in files {
            b.push_str(&format!(
                "\n```diff\n{}```\n",
                unified(&f.path, &f.before, &f.after)
            ));
        }
        b.push_str("\n## Proof\n\nThe release rendered with this change equals the live cluster on every drifted field above, and changes nothing else that is not also live.\n");
    }
    not_mapped(&mut b, drifts, mapping);
    b.push_str("\n## What to do\n\n");
    if files.is_empty() {
        b.push_str("- Keep the live change: change the chart or values so Git renders it; this issue closes once Git and the cluster agree.\n- Reject it: close this issue; Sextant then restores Git.\n");
    } else {
        b.push_str("- **Accept**: merge. Sextant syncs the merge commit and the drift is gone.\n- **Reject**: close without merging. Sextant then restores Git in the cluster and does not propose this drift again.\n");
    }
    b.push_str(&format!("\n{}\n", marker.render()));
    b
}

/// The body's table of drifted fields that map to no values key, and why (a Secret's values
/// never shown).
fn not_mapped(b: &mut String, drifts: &[ObjectDrift], mapping: &Mapping) {
    let unmapped: Vec<&Unmapped> = mapping.unmapped.iter().collect();
    if !unmapped.is_empty() {
        b.push_str("\n## Not mapped to values\n\n| object | path | Git | live | why |\n|---|---|---|---|---|\n");
        for u in unmapped {
            let d = drifts
                .iter()
                .find(|d| d.reference.to_string() == u.object.to_string());
            let secret = d.is_some_and(is_secret);
            let (git, live) = if secret {
                (
                    "(Secret value changed)".to_string(),
                    "(Secret value changed)".to_string(),
                )
            } else {
                (
                    format!("`{}`", cell(&short(&u.git))),
                    u.live
                        .as_ref()
                        .map_or("(absent)".into(), |v| format!("`{}`", cell(&short(v)))),
                )
            };
            let why = if secret {
                "a Secret's values are never written to Git".to_string()
            } else {
                u.reason.to_string()
            };
            b.push_str(&format!(
                "| `{}` | `{}` | {git} | {live} | {} |\n",
                u.object,
                u.pointer,
                cell(&why)
            ));
        }
    }
}

/// A unified diff of one file, `a/` and `b/` prefixed.
pub fn unified(path: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::provenance::{Proof, Reason};
    use crate::drift::FieldDrift;

    fn reference(kind: &str) -> ObjectRef {
        ObjectRef {
            group: if kind == "Deployment" { "apps" } else { "" }.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: Some("app".into()),
            name: "web".into(),
        }
    }

    fn drift(kind: &str, path: &str, git: Value, live: Value) -> ObjectDrift {
        ObjectDrift {
            release: "web".into(),
            reference: reference(kind),
            object: reference(kind).to_string(),
            deleted: false,
            fields: vec![FieldDrift {
                path: path.into(),
                git,
                live: Some(live),
                manager: Some("kubectl".into()),
                changed_at: Some("2026-12-01T10:00:00Z".into()),
            }],
        }
    }

    fn edit(root: &Path, new: Value) -> ValuesEdit {
        ValuesEdit {
            key: vec![Segment::Key("replicaCount".into())],
            dotted: "replicaCount".into(),
            file: root.join("environments/prod/values/web.yaml"),
            old: Some(3.into()),
            new,
            from_defaults: false,
            fields: vec![(reference("Deployment"), "/spec/replicas".into())],
        }
    }

    #[test]
    fn the_file_is_edited_in_place_and_the_title_names_the_key() {
        let root = Path::new("/snap");
        let text = "# Web in prod.\nreplicaCount: 3   # three is plenty\n\nimage:\n  tag: '1.0'\n";
        let mapping = Mapping {
            edits: vec![edit(root, 5.into())],
            unmapped: Vec::new(),
            renders: 2,
            proof: Proof::default(),
        };
        let files = edit_files(root, &mapping.edits, |p| {
            (p == "environments/prod/values/web.yaml").then(|| text.to_string())
        })
        .unwrap();
        assert_eq!(
            files[0].after,
            "# Web in prod.\nreplicaCount: 5   # three is plenty\n\nimage:\n  tag: '1.0'\n"
        );
        let drifts = [drift("Deployment", "/spec/replicas", 3.into(), 5.into())];
        assert_eq!(
            title("prod", "web", &mapping, &drifts),
            "drift(prod/web): replicaCount 3 → 5"
        );
        let marker = Marker {
            environment: "prod".into(),
            release: "web".into(),
            fingerprint: "sha256:x".into(),
            resolved: false,
        };
        let body = body(&marker, &drifts, &mapping, &files);
        assert!(
            body.contains("-replicaCount: 3   # three is plenty"),
            "{body}"
        );
        assert!(
            body.contains("+replicaCount: 5   # three is plenty"),
            "{body}"
        );
        assert!(body.contains("| `Deployment.apps app/web` | `/spec/replicas` | `3` | `5` | kubectl at 2026-12-01T10:00:00Z |"), "{body}");
        assert_eq!(Marker::parse(&body), Some(marker));
    }

    #[test]
    fn secret_values_never_reach_the_body_and_are_never_mapped() {
        let root = Path::new("/snap");
        let drifts = [drift(
            "Secret",
            "/data/password",
            "czNjcjN0".into(),
            "aHVudGVyMg==".into(),
        )];
        let mut mapping = Mapping {
            edits: vec![ValuesEdit {
                fields: vec![(reference("Secret"), "/data/password".into())],
                ..edit(root, "hunter2".into())
            }],
            unmapped: vec![Unmapped {
                object: reference("Secret"),
                pointer: "/data/password".into(),
                git: "czNjcjN0".into(),
                live: Some("aHVudGVyMg==".into()),
                reason: Reason::NoValuesKey,
            }],
            renders: 1,
            proof: Proof::default(),
        };
        without_secrets(&mut mapping, &drifts);
        assert!(mapping.edits.is_empty());
        let marker = Marker {
            environment: "prod".into(),
            release: "web".into(),
            fingerprint: "sha256:x".into(),
            resolved: false,
        };
        let body = body(&marker, &drifts, &mapping, &[]);
        let title = title("prod", "web", &mapping, &drifts);
        for text in [&body, &title] {
            assert!(!text.contains("aHVudGVyMg"), "{text}");
            assert!(!text.contains("czNjcjN0"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert!(body.contains("(Secret value changed)"));
    }
}
