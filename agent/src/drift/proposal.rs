//! A drift pull request's content — pure: the values files edited in place (by
//! `sextant-yamledit`, which keeps every other byte), the title and the body. Secret values never
//! appear: a Secret's field reads "(Secret value changed)", and Secret fields are never written
//! to a values file (they are listed as not mapped).

use super::pr::{is_secret, Marker};
use super::provenance::{Mapping, Reason, Segment, Unmapped, ValuesEdit};
use super::ObjectDrift;
use crate::object::ObjectRef;
use crate::secrets::{Sealed, ENCRYPTED, ENCRYPTED_CHANGED};
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
    #[error("{file}: the new value cannot be written encrypted: {source}")]
    Sealed {
        file: String,
        source: sextant_sops::SopsError,
    },
    #[error("{file}: the new value cannot be written encrypted: {why}")]
    NoKeys { file: String, why: String },
}

/// What the edits of SOPS-encrypted values files are encrypted with: the renderer's age keys
/// (which open each file's own data key) and the new `lastmodified` of the MAC.
pub struct Sealing {
    pub keys: Result<std::sync::Arc<sextant_sops::Keys>, String>,
    pub lastmodified: String,
}

impl Sealing {
    /// The renderer's keys, and now (to the second, as sops writes it).
    pub fn of(renderer: &crate::render::Renderer) -> Sealing {
        use k8s_openapi::jiff::Timestamp;
        Sealing {
            keys: renderer.sops_keys().map_err(|e| e.to_string()),
            lastmodified: Timestamp::from_second(Timestamp::now().as_second())
                .map(|t| t.to_string())
                .unwrap_or_default(),
        }
    }
}

fn is_sops(text: &str) -> bool {
    text.contains("sops:")
        && serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
            .is_ok_and(|d| sextant_sops::is_encrypted(&d))
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

/// Edits of keys encrypted in a SOPS file that `opens` cannot decrypt (it says why): they go
/// to the not-mapped table, naming the key and the file, so the request becomes an issue
/// rather than one that would write the value in the clear.
pub fn without_unsealable(
    root: &Path,
    mapping: &mut Mapping,
    drifts: &[ObjectDrift],
    opens: impl Fn(&Path) -> Result<(), String>,
) {
    let mut kept = Vec::new();
    for e in std::mem::take(&mut mapping.edits) {
        let why = if e.encrypted {
            opens(&e.file).err()
        } else {
            None
        };
        let Some(why) = why else {
            kept.push(e);
            continue;
        };
        let file = e
            .file
            .strip_prefix(root)
            .unwrap_or(&e.file)
            .display()
            .to_string();
        for (object, pointer) in &e.fields {
            let field = drifts
                .iter()
                .filter(|d| d.reference.to_string() == object.to_string())
                .flat_map(|d| &d.fields)
                .find(|f| f.path == *pointer);
            mapping.unmapped.push(Unmapped {
                object: object.clone(),
                pointer: pointer.clone(),
                git: field.map_or(Value::Null, |f| f.git.clone()),
                live: field.and_then(|f| f.live.clone()),
                reason: Reason::Sealed {
                    key: e.dotted.clone(),
                    file: file.clone(),
                    why: why.clone(),
                },
            });
        }
    }
    mapping.edits = kept;
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
/// A SOPS-encrypted file is edited as `sops set` would: its new values encrypted with its own
/// data key, its MAC written again.
pub fn edit_files(
    root: &Path,
    edits: &[ValuesEdit],
    read: impl Fn(&str) -> Option<String>,
    sealing: &Sealing,
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
            let after = if is_sops(&before) {
                let keys = sealing.keys.as_ref().map_err(|why| Error::NoKeys {
                    file: path.clone(),
                    why: why.clone(),
                })?;
                sextant_sops::edit(&before, &changes, keys, &sealing.lastmodified).map_err(
                    |source| Error::Sealed {
                        file: path.clone(),
                        source,
                    },
                )?
            } else {
                sextant_yamledit::apply(&before, &changes).map_err(|source| Error::Edit {
                    file: path.clone(),
                    source,
                })?
            };
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
    sealed: &Sealed,
) -> String {
    let head = format!("drift({environment}/{release})");
    match mapping.edits.as_slice() {
        [] => {
            let n: usize = drifts.iter().map(|d| d.fields.len().max(1)).sum();
            let s = if n == 1 { "" } else { "s" };
            format!("{head}: {n} field{s} changed live, not mapped to values")
        }
        [one] => format!("{head}: {}", edit_line(one, sealed)),
        [first, rest @ ..] => format!(
            "{head}: {} and {} more",
            edit_line(first, sealed),
            rest.len()
        ),
    }
}

/// `key old → new`; a key encrypted in its file (or a value decrypted from one) reads
/// `key (encrypted value changed)`.
fn edit_line(e: &ValuesEdit, sealed: &Sealed) -> String {
    let shows_sealed =
        e.old.as_ref().is_some_and(|o| sealed.in_value(o)) || sealed.in_value(&e.new);
    if e.encrypted || shows_sealed {
        return format!("{} {ENCRYPTED_CHANGED}", e.dotted);
    }
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
    match v {
        None => "(absent)".to_string(),
        Some(Value::String(s)) if s == ENCRYPTED || s == ENCRYPTED_CHANGED => s.clone(),
        Some(v) => format!("`{}`", cell(&short(v))),
    }
}

/// The body: the drift table, the values diff, the proof, what is not mapped, how to accept or
/// reject, and the hidden marker.
pub fn body(
    marker: &Marker,
    drifts: &[ObjectDrift],
    mapping: &Mapping,
    files: &[FileEdit],
    sealed: &Sealed,
) -> String {
    // The fields an encrypted key feeds show no value, even one too short to be found.
    let encrypted_fields: Vec<(String, String)> = mapping
        .edits
        .iter()
        .filter(|e| e.encrypted)
        .flat_map(|e| &e.fields)
        .map(|(r, p)| (r.to_string(), p.clone()))
        .collect();
    let drifts: Vec<ObjectDrift> = drifts
        .iter()
        .map(|d| {
            let mut d = d.sealed(sealed);
            for f in &mut d.fields {
                if encrypted_fields.contains(&(d.object.clone(), f.path.clone())) {
                    f.git = Value::String(ENCRYPTED.into());
                    f.live = f
                        .live
                        .as_ref()
                        .map(|_| Value::String(ENCRYPTED_CHANGED.into()));
                }
            }
            d
        })
        .collect();
    let drifts = drifts.as_slice();
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
            b.push_str(&format!("- `{}`{whence}\n", edit_line(e, sealed)));
        }
        for f in files {
            b.push_str(&format!(
                "\n```diff\n{}```\n",
                unified(&f.path, &f.before, &f.after)
            ));
        }
        b.push_str("\n## Proof\n\nThe release rendered with this change equals the live cluster on every drifted field above, and changes nothing else that is not also live.\n");
    }
    not_mapped(&mut b, drifts, mapping, sealed);
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
fn not_mapped(b: &mut String, drifts: &[ObjectDrift], mapping: &Mapping, sealed: &Sealed) {
    let unmapped: Vec<&Unmapped> = mapping.unmapped.iter().collect();
    if !unmapped.is_empty() {
        b.push_str("\n## Not mapped to values\n\n| object | path | Git | live | why |\n|---|---|---|---|---|\n");
        for u in unmapped {
            let d = drifts
                .iter()
                .find(|d| d.reference.to_string() == u.object.to_string());
            let secret = d.is_some_and(is_secret);
            let encrypted =
                sealed.in_value(&u.git) || u.live.as_ref().is_some_and(|l| sealed.in_value(l));
            let (git, live) = if secret {
                (
                    "(Secret value changed)".to_string(),
                    "(Secret value changed)".to_string(),
                )
            } else if encrypted || matches!(u.reason, Reason::Sealed { .. }) {
                (ENCRYPTED.to_string(), ENCRYPTED_CHANGED.to_string())
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
                sealed.scrub(&u.reason.to_string())
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
            encrypted: false,
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
        let files = edit_files(
            root,
            &mapping.edits,
            |p| (p == "environments/prod/values/web.yaml").then(|| text.to_string()),
            &no_keys(),
        )
        .unwrap();
        assert_eq!(
            files[0].after,
            "# Web in prod.\nreplicaCount: 5   # three is plenty\n\nimage:\n  tag: '1.0'\n"
        );
        let drifts = [drift("Deployment", "/spec/replicas", 3.into(), 5.into())];
        assert_eq!(
            title("prod", "web", &mapping, &drifts, &Sealed::default()),
            "drift(prod/web): replicaCount 3 → 5"
        );
        let marker = Marker {
            environment: "prod".into(),
            release: "web".into(),
            fingerprint: "sha256:x".into(),
            resolved: false,
        };
        let body = body(&marker, &drifts, &mapping, &files, &Sealed::default());
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
        let body = body(&marker, &drifts, &mapping, &[], &Sealed::default());
        let title = title("prod", "web", &mapping, &drifts, &Sealed::default());
        for text in [&body, &title] {
            assert!(!text.contains("aHVudGVyMg"), "{text}");
            assert!(!text.contains("czNjcjN0"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert!(body.contains("(Secret value changed)"));
    }

    fn no_keys() -> Sealing {
        Sealing {
            keys: Err("no age key is configured".into()),
            lastmodified: "2026-12-07T23:00:00Z".into(),
        }
    }

    fn marker() -> Marker {
        Marker {
            environment: "prod".into(),
            release: "web".into(),
            fingerprint: "sha256:x".into(),
            resolved: false,
        }
    }

    /// A ConfigMap field fed by `database.password`, encrypted in its file.
    fn encrypted_case(root: &Path) -> (Vec<ObjectDrift>, Mapping) {
        let drifts = vec![drift(
            "ConfigMap",
            "/data/url",
            "postgres://app:s3cr3t-sentinel@db".into(),
            "postgres://app:rotated-sentinel@db".into(),
        )];
        let mapping = Mapping {
            edits: vec![ValuesEdit {
                key: vec![
                    Segment::Key("database".into()),
                    Segment::Key("password".into()),
                ],
                dotted: "database.password".into(),
                old: Some("s3cr3t-sentinel".into()),
                encrypted: true,
                fields: vec![(reference("ConfigMap"), "/data/url".into())],
                ..edit(root, "rotated-sentinel".into())
            }],
            unmapped: Vec::new(),
            renders: 1,
            proof: Proof::default(),
        };
        (drifts, mapping)
    }

    #[test]
    fn a_field_an_encrypted_key_feeds_shows_no_value_in_the_title_or_body() {
        let root = Path::new("/snap");
        let sealed = Sealed::new(["s3cr3t-sentinel".to_string()]);
        let (drifts, mapping) = encrypted_case(root);
        // By the key's flag, and by the decrypted value alone (a key not flagged).
        let mut unflagged = mapping.clone();
        unflagged.edits[0].encrypted = false;
        for (m, sealed) in [(&mapping, &Sealed::default()), (&unflagged, &sealed)] {
            let title = title("prod", "web", m, &drifts, sealed);
            let body = body(&marker(), &drifts, m, &[], sealed);
            assert_eq!(
                title,
                "drift(prod/web): database.password (encrypted value changed)"
            );
            for text in [&title, &body] {
                assert!(!text.contains("sentinel"), "{text}");
            }
            assert!(
                body.contains("| `/data/url` | (encrypted value) | (encrypted value changed) |"),
                "{body}"
            );
        }
    }

    #[test]
    fn an_encrypted_key_no_key_here_opens_is_not_mapped_and_names_the_file() {
        let root = Path::new("/snap");
        let sealed = Sealed::new(["s3cr3t-sentinel".to_string()]);
        let (drifts, mut mapping) = encrypted_case(root);
        without_unsealable(root, &mut mapping, &drifts, |_| Ok(()));
        assert_eq!(
            mapping.edits.len(),
            1,
            "a file the agent opens keeps its edit"
        );
        without_unsealable(root, &mut mapping, &drifts, |f| {
            Err(format!("no age key here opens {}", f.display()))
        });
        assert!(mapping.edits.is_empty());
        assert_eq!(mapping.unmapped.len(), 1);
        let body = body(&marker(), &drifts, &mapping, &[], &sealed);
        assert!(body.contains("key database.password is encrypted in environments/prod/values/web.yaml, and the agent cannot write it encrypted: no age key here opens /snap/environments/prod/values/web.yaml"), "{body}");
        assert!(!body.contains("sentinel"), "{body}");
        assert!(title("prod", "web", &mapping, &drifts, &sealed)
            .ends_with("1 field changed live, not mapped to values"));
    }

    #[test]
    fn an_encrypted_file_is_not_edited_without_a_key() {
        let root = Path::new("/snap");
        let (_, mapping) = encrypted_case(root);
        let sops = "database:\n  password: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n  mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n  version: 3.11.0\n";
        let e =
            edit_files(root, &mapping.edits, |_| Some(sops.to_string()), &no_keys()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environments/prod/values/web.yaml: the new value cannot be written encrypted: no age key is configured"
        );
    }
}
