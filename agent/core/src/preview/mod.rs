//! What a change to the repository will do, before it is merged (docs/preview.md): the objects
//! Git changes between two renderings of one environment, what the cluster would be written
//! for each, what would be pruned and whether the mass-prune guard stops it, and the report a
//! person reads. Everything here is pure; the agent reads the cluster and calls it.

pub mod pulls;
mod report;

pub use report::{markdown, MAX_REPORT};

use crate::object::{Object, ObjectKey};
use crate::plan::Plan;
use serde::Serialize;
use std::collections::BTreeMap;

/// How one object differs between the base's rendering and the head's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Added,
    Changed,
    Removed,
}

/// One object Git changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectChange {
    pub release: String,
    pub wave: i32,
    /// `Kind.group namespace/name`, as the agent names objects.
    pub object: String,
    pub change: Change,
    /// A hook: it runs when its release changes, it is not applied as an object.
    pub hook: bool,
    /// The object's identity, for matching it with the cluster's side.
    #[serde(skip)]
    pub key: ObjectKey,
}

/// The objects that differ between `base` and `head`, by identity and content hash, in wave
/// order (removed ones at the wave they had), then release, then object.
pub fn git_changes(base: &Plan, head: &Plan) -> Vec<ObjectChange> {
    let index = |p: &Plan| -> BTreeMap<ObjectKey, Object> {
        p.objects()
            .map(|o| (o.reference.key(), o.clone()))
            .collect()
    };
    let (before, after) = (index(base), index(head));
    let mut out = Vec::new();
    for (key, o) in &after {
        let change = match before.get(key) {
            None => Change::Added,
            Some(b) if b.hash != o.hash => Change::Changed,
            Some(_) => continue,
        };
        out.push(change_of(o, change));
    }
    for (key, o) in &before {
        if !after.contains_key(key) {
            out.push(change_of(o, Change::Removed));
        }
    }
    out.sort_by(|a, b| {
        (a.wave, &a.release, &a.object, a.change).cmp(&(b.wave, &b.release, &b.object, b.change))
    });
    out
}

fn change_of(o: &Object, change: Change) -> ObjectChange {
    ObjectChange {
        release: o.release.clone(),
        wave: o.wave.0,
        object: o.reference.to_string(),
        change,
        hook: o.hook.is_some(),
        key: o.reference.key(),
    }
}

/// The verdict a preview gives the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// It renders, and the cluster would take it.
    Success,
    /// It would fail: it does not render or plan, or the sync would stop (a blocked prune).
    Failure,
    /// The preview could not tell (the cluster could not be read).
    Error,
}

/// What the cluster would be written for one object, as `sextant diff` shows it (Secret values
/// masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterChange {
    pub release: String,
    pub object: String,
    pub diff: String,
}

/// A Gatekeeper constraint's verdict on an object the change adds or changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyFinding {
    /// `Kind.group namespace/name`.
    pub object: String,
    /// The constraint, `Kind/name`.
    pub constraint: String,
    /// Its `enforcementAction`: `deny` fails the preview; `warn` and `dryrun` are reported.
    pub action: String,
    pub message: String,
}

/// A values key the change moves, and the rendered fields it moves (provenance, forwards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValuesChange {
    pub release: String,
    /// `replicaCount`, `image.tag`, `labels["a.b/c"]`.
    pub key: String,
    /// The value at the base and at the head, as YAML flow text; `None` where the key is absent,
    /// and both masked when a field the key moves is in a Secret.
    pub before: Option<String>,
    pub after: Option<String>,
    /// `Kind.group namespace/name` and a JSON pointer, each field the key alone moves.
    pub fields: Vec<String>,
}

/// A promoted image's digest the change moves (`spec.promotion.images`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestChange {
    pub release: String,
    /// The environment promotions bring this digest from.
    pub from: String,
    pub before: Option<String>,
    pub after: String,
    /// Why the environment rolled this digest back, when `rejected.yaml` lists it.
    pub rejected: Option<String>,
}

/// The promoted digests `head` moves from `base`, each marked when the head's `rejected.yaml`
/// lists it (a change that also deletes the entry clears it, as the file documents).
pub fn digest_changes(
    from: &str,
    base: &BTreeMap<String, String>,
    head: &BTreeMap<String, String>,
    rejected: &[crate::promotion::rejected::Rejection],
) -> Vec<DigestChange> {
    head.iter()
        .filter(|(release, digest)| base.get(*release) != Some(*digest))
        .map(|(release, digest)| DigestChange {
            release: release.clone(),
            from: from.to_string(),
            before: base.get(release).cloned(),
            after: digest.clone(),
            rejected: rejected
                .iter()
                .find(|r| &r.release == release && &r.digest == digest)
                .map(|r| r.reason.clone()),
        })
        .collect()
}

/// Why the change fails its promotions: the first digest it sets that the environment rolled
/// back.
pub fn rejected(changes: &[DigestChange]) -> Option<String> {
    let c = changes.iter().find(|c| c.rejected.is_some())?;
    Some(format!(
        "release {}: {} was rolled back here before (rejected.yaml); delete its entry to allow it again",
        c.release, c.after
    ))
}

/// Why the change fails Gatekeeper, when a constraint with `enforcementAction: deny` denies
/// an object: the first finding, and how many more deny.
pub fn denied(findings: &[PolicyFinding]) -> Option<String> {
    let denied: Vec<&PolicyFinding> = findings.iter().filter(|f| f.action == "deny").collect();
    let first = denied.first()?;
    let more = match denied.len() - 1 {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    };
    Some(format!(
        "{} denies {}: {}{more}",
        first.constraint, first.object, first.message
    ))
}

/// A preview of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub environment: String,
    pub base: String,
    pub head: String,
    pub verdict: Verdict,
    /// Why the verdict is not success (the render error with its file and line, the blocked
    /// prune, the cluster that could not be read).
    pub reason: Option<String>,
    pub git: Vec<ObjectChange>,
    /// For each object Git adds or changes, what a sync would write, when it would write
    /// anything (the live object may already be as the head says).
    pub cluster: Vec<ClusterChange>,
    /// What a sync of the head would delete.
    pub prunes: Vec<String>,
    /// The mass-prune guard's refusal, when it would stop the sync.
    pub prune_blocked: Option<String>,
    /// The tracked branch's Gatekeeper constraints on the objects the change adds or changes.
    pub policy: Vec<PolicyFinding>,
    /// The values keys the change moves, each with the fields it moves.
    pub values: Vec<ValuesChange>,
    /// The promoted digests it moves.
    pub digests: Vec<DigestChange>,
}

impl Preview {
    /// A preview of `environment` from `base` to `head` with nothing found yet: a success.
    pub fn new(environment: &str, base: &str, head: &str) -> Preview {
        Preview {
            environment: environment.to_string(),
            base: base.to_string(),
            head: head.to_string(),
            verdict: Verdict::Success,
            reason: None,
            git: Vec::new(),
            cluster: Vec::new(),
            prunes: Vec::new(),
            prune_blocked: None,
            policy: Vec::new(),
            values: Vec::new(),
            digests: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::Wave;
    use crate::object::ObjectRef;

    fn object(release: &str, wave: i32, kind: &str, name: &str, hash: &str) -> Object {
        Object {
            reference: ObjectRef {
                group: String::new(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: Some("app".into()),
                name: name.into(),
            },
            release: release.into(),
            source: format!("{release}/templates/{name}.yaml"),
            wave: Wave(wave),
            hook: None,
            hash: hash.into(),
            manifest: serde_json::Value::Null,
        }
    }

    fn plan(objects: Vec<Object>) -> Plan {
        crate::plan::build("prod", None, objects).unwrap()
    }

    #[test]
    fn git_changes_are_the_objects_added_changed_or_removed_in_wave_order() {
        let base = plan(vec![
            object("web", 0, "ConfigMap", "same", "h1"),
            object("web", 0, "ConfigMap", "edited", "h2"),
            object("db", -1, "ConfigMap", "gone", "h3"),
        ]);
        let head = plan(vec![
            object("web", 0, "ConfigMap", "same", "h1"),
            object("web", 0, "ConfigMap", "edited", "h2b"),
            object("web", 1, "Service", "new", "h4"),
        ]);
        let changes = git_changes(&base, &head);
        let got: Vec<(i32, &str, Change)> = changes
            .iter()
            .map(|c| (c.wave, c.object.as_str(), c.change))
            .map(|(w, o, c)| (w, o.rsplit('/').next().unwrap(), c))
            .collect();
        assert_eq!(
            got,
            [
                (-1, "gone", Change::Removed),
                (0, "edited", Change::Changed),
                (1, "new", Change::Added),
            ]
        );
        assert!(
            git_changes(&head, &head).is_empty(),
            "nothing changes itself"
        );
    }

    fn preview(cluster: Vec<ClusterChange>) -> Preview {
        Preview {
            policy: Vec::new(),
            values: Vec::new(),
            digests: Vec::new(),
            environment: "prod".into(),
            base: "a".repeat(40),
            head: "b".repeat(40),
            verdict: Verdict::Success,
            reason: None,
            git: vec![ObjectChange {
                release: "web".into(),
                wave: 0,
                object: "Deployment.apps app/web".into(),
                change: Change::Changed,
                hook: false,
                key: ObjectKey::new("apps", "Deployment", Some("app"), "web"),
            }],
            cluster,
            prunes: Vec::new(),
            prune_blocked: None,
        }
    }

    #[test]
    fn the_report_shows_the_verdict_the_changes_and_each_diff_collapsed() {
        let mut p = preview(vec![ClusterChange {
            release: "web".into(),
            object: "Deployment.apps app/web".into(),
            diff: "-  replicas: 3\n+  replicas: 5\n".into(),
        }]);
        let text = markdown(&p);
        for part in [
            "`prod`, aaaaaaaaaaaa → bbbbbbbbbbbb",
            "Verdict: **success**",
            "1 object(s): 0 added, 1 changed, 0 removed",
            "| 0 | web | `Deployment.apps app/web` | changed |",
            "<details><summary><code>Deployment.apps app/web</code> (web)</summary>",
            "+  replicas: 5",
        ] {
            assert!(text.contains(part), "{part:?} in:\n{text}");
        }
        p.verdict = Verdict::Failure;
        p.reason = Some("the mass-prune guard would stop the sync".into());
        p.prunes = vec!["ConfigMap app/old".into()];
        p.prune_blocked = Some("prune blocked: 1 of 1".into());
        let text = markdown(&p);
        assert!(
            text.contains("Verdict: **failure**: the mass-prune guard"),
            "{text}"
        );
        assert!(text.contains("- `ConfigMap app/old`"), "{text}");
        assert!(
            text.contains("**The mass-prune guard would stop the sync**"),
            "{text}"
        );
    }

    #[test]
    fn a_report_past_githubs_limit_leaves_diffs_out_and_says_how_many() {
        let big = "+ x\n".repeat(5_000);
        let cluster: Vec<ClusterChange> = (0..10)
            .map(|i| ClusterChange {
                release: "web".into(),
                object: format!("ConfigMap app/c{i}"),
                diff: big.clone(),
            })
            .collect();
        let text = markdown(&preview(cluster));
        assert!(text.len() < 65_536, "{}", text.len());
        let shown = text.matches("<details>").count();
        assert!(shown < 10 && shown > 0, "{shown}");
        assert!(
            text.contains(&format!("{} object diff(s) left out", 10 - shown)),
            "{}",
            &text[text.len() - 300..]
        );
    }

    #[test]
    fn only_a_deny_fails_and_the_reason_names_the_first_constraint_and_counts_the_rest() {
        let finding = |constraint: &str, action: &str| PolicyFinding {
            object: "Deployment.apps prod/web".into(),
            constraint: constraint.into(),
            action: action.into(),
            message: "privileged".into(),
        };
        assert_eq!(denied(&[]), None);
        assert_eq!(
            denied(&[finding("K8sA/a", "warn"), finding("K8sB/b", "dryrun")]),
            None
        );
        assert_eq!(
            denied(&[finding("K8sA/a", "warn"), finding("K8sB/b", "deny")]).as_deref(),
            Some("K8sB/b denies Deployment.apps prod/web: privileged")
        );
        assert_eq!(
            denied(&[finding("K8sB/b", "deny"), finding("K8sC/c", "deny")]).as_deref(),
            Some("K8sB/b denies Deployment.apps prod/web: privileged (and 1 more)")
        );
    }

    #[test]
    fn a_moved_promoted_digest_is_marked_and_one_rolled_back_before_fails() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(r, d)| (r.to_string(), d.to_string()))
                .collect()
        };
        let rejection = crate::promotion::rejected::Rejection {
            release: "web".into(),
            digest: "sha256:bad".into(),
            revision: "r".into(),
            at: "t".into(),
            reason: "wave 0: degraded".into(),
        };
        let base = map(&[("web", "sha256:good"), ("api", "sha256:a1")]);
        let cases = [
            ("nothing moved", map(&[("web", "sha256:good"), ("api", "sha256:a1")]), vec![], None),
            (
                "a new digest",
                map(&[("web", "sha256:new"), ("api", "sha256:a1")]),
                vec![("web", Some("sha256:good"), "sha256:new", false)],
                None,
            ),
            (
                "a digest rolled back before",
                map(&[("web", "sha256:bad"), ("api", "sha256:a1")]),
                vec![("web", Some("sha256:good"), "sha256:bad", true)],
                Some("release web: sha256:bad was rolled back here before (rejected.yaml); delete its entry to allow it again"),
            ),
        ];
        for (what, head, want, fails) in cases {
            let got = digest_changes("dev", &base, &head, std::slice::from_ref(&rejection));
            let said: Vec<(&str, Option<&str>, &str, bool)> = got
                .iter()
                .map(|c| {
                    (
                        c.release.as_str(),
                        c.before.as_deref(),
                        c.after.as_str(),
                        c.rejected.is_some(),
                    )
                })
                .collect();
            assert_eq!(said, want, "{what}");
            assert_eq!(rejected(&got).as_deref(), fails, "{what}");
        }
    }
}
