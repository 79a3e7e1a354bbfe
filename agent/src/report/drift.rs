//! `sextant drift`: the drift of an environment read from the live cluster, and the values
//! patch a drift pull request would propose, opening nothing. Secret values are masked and
//! never mapped, as in a pull request.

use crate::apply::cluster::{Cluster, ClusterError};
use crate::drift::proposal::{self, FileEdit};
use crate::drift::provenance::{self, Mapping};
use crate::drift::ObjectDrift;
use crate::environment::Environment;
use crate::plan::Plan;
use crate::render::Renderer;
use crate::secrets::{ENCRYPTED, ENCRYPTED_CHANGED};
use serde::Serialize;
use std::collections::BTreeMap;

/// One release's drift and what would be proposed for it.
#[derive(Debug, Serialize)]
pub struct ReleaseReport {
    pub release: String,
    pub objects: Vec<ObjectDrift>,
    pub edits: Vec<Edit>,
    pub unmapped: Vec<NotMapped>,
    #[serde(skip)]
    pub files: Vec<FileEdit>,
    /// Why nothing could be proposed (a render failed, say), if so.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Edit {
    pub file: String,
    pub key: String,
    pub old: Option<serde_json::Value>,
    pub new: serde_json::Value,
    pub from_defaults: bool,
}

#[derive(Debug, Serialize)]
pub struct NotMapped {
    pub object: String,
    pub path: String,
    pub reason: String,
}

/// Reads every object of the plan, compares, and maps each drifted release's fields to values.
pub async fn report(
    renderer: &Renderer,
    cluster: &impl Cluster,
    env: &Environment,
    plan: &Plan,
) -> Result<Vec<ReleaseReport>, ClusterError> {
    let drifted = crate::apply::diff::drift(cluster, env, plan, 8).await?;
    let mut by_release: BTreeMap<String, Vec<ObjectDrift>> = BTreeMap::new();
    for d in drifted {
        by_release.entry(d.release.clone()).or_default().push(d);
    }
    let mut out = Vec::new();
    for (release, objects) in by_release {
        let mut live = Vec::new();
        for o in plan
            .objects()
            .filter(|o| o.release == release && o.hook.is_none())
        {
            if let Ok(Some(v)) = cluster.get(&o.reference).await {
                live.push(v);
            }
        }
        out.push(map_release(renderer, env, release, objects, &live));
    }
    Ok(out)
}

fn map_release(
    renderer: &Renderer,
    env: &Environment,
    release: String,
    objects: Vec<ObjectDrift>,
    live: &[serde_json::Value],
) -> ReleaseReport {
    let mut r = ReleaseReport {
        release,
        objects,
        edits: Vec::new(),
        unmapped: Vec::new(),
        files: Vec::new(),
        error: None,
    };
    let Some(rel) = env.release(&r.release) else {
        r.error = Some("not in the environment".into());
        return r;
    };
    let mut mapping: Mapping = match provenance::map(renderer, env, rel, &r.objects, live) {
        Ok(m) => m,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    proposal::without_secrets(&mut mapping, &r.objects);
    proposal::without_unsealable(&env.repo, &mut mapping, &r.objects, |f| renderer.opens(f));
    let read = |p: &str| std::fs::read_to_string(env.repo.join(p)).ok();
    let sealing = proposal::Sealing::of(renderer);
    match proposal::edit_files(&env.repo, &mapping.edits, read, &sealing) {
        Ok(files) => r.files = files,
        Err(e) => r.error = Some(e.to_string()),
    }
    // Nothing decrypted shows: the fields an encrypted value feeds, and the encrypted keys.
    let sealed = renderer.sealed();
    r.objects = r.objects.iter().map(|d| d.sealed(&sealed)).collect();
    r.edits = mapping
        .edits
        .iter()
        .map(|e| Edit {
            file: e
                .file
                .strip_prefix(&env.repo)
                .unwrap_or(&e.file)
                .display()
                .to_string(),
            key: e.dotted.clone(),
            old: if e.encrypted || e.old.as_ref().is_some_and(|o| sealed.in_value(o)) {
                e.old.as_ref().map(|_| ENCRYPTED.into())
            } else {
                e.old.clone()
            },
            new: if e.encrypted || sealed.in_value(&e.new) {
                ENCRYPTED_CHANGED.into()
            } else {
                e.new.clone()
            },
            from_defaults: e.from_defaults,
        })
        .collect();
    let secret = |object: &str| {
        r.objects
            .iter()
            .any(|d| crate::drift::pr::is_secret(d) && d.reference.to_string() == object)
    };
    r.unmapped = mapping
        .unmapped
        .iter()
        .map(|u| {
            let object = u.object.to_string();
            NotMapped {
                reason: if secret(&object) {
                    "a Secret's values are never written to Git".into()
                } else {
                    sealed.scrub(&u.reason.to_string())
                },
                object,
                path: u.pointer.clone(),
            }
        })
        .collect();
    // Secret fields provenance left unmapped are listed once; mapped ones it found are not
    // proposed (`without_secrets`), so they appear here too.
    for d in r.objects.iter().filter(|d| crate::drift::pr::is_secret(d)) {
        for f in &d.fields {
            if !r
                .unmapped
                .iter()
                .any(|u| u.object == d.object && u.path == f.path)
            {
                r.unmapped.push(NotMapped {
                    object: d.object.clone(),
                    path: f.path.clone(),
                    reason: "a Secret's values are never written to Git".into(),
                });
            }
        }
    }
    r
}

/// The table `sextant drift` prints.
pub fn table(reports: &[ReleaseReport]) -> String {
    if reports.is_empty() {
        return "in sync: no drift\n".into();
    }
    let mut t = String::new();
    for r in reports {
        t.push_str(&format!("release {}\n", r.release));
        for d in &r.objects {
            if d.deleted {
                t.push_str(&format!("  {}: deleted\n", d.object));
            }
            for f in &d.fields {
                let live = f
                    .live
                    .as_ref()
                    .map_or("(absent)".to_string(), |v| v.to_string());
                let by = f.manager.as_deref().unwrap_or("?");
                t.push_str(&format!(
                    "  {} {}: git {} live {live} (by {by})\n",
                    d.object, f.path, f.git
                ));
            }
        }
        for e in &r.edits {
            let old = e.old.as_ref().map_or("(unset)".into(), |v| v.to_string());
            t.push_str(&format!("  → {}: {} {old} → {}\n", e.file, e.key, e.new));
        }
        for u in &r.unmapped {
            t.push_str(&format!(
                "  not mapped: {} {}: {}\n",
                u.object, u.path, u.reason
            ));
        }
        if let Some(e) = &r.error {
            t.push_str(&format!("  cannot propose: {e}\n"));
        }
    }
    t
}

/// The values patch (`git apply`-able), every release's files in turn.
pub fn patch(reports: &[ReleaseReport]) -> String {
    reports
        .iter()
        .flat_map(|r| &r.files)
        .map(|f| proposal::unified(&f.path, &f.before, &f.after))
        .collect()
}
