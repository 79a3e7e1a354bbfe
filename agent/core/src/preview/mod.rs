//! What a change to the repository will do, before it is merged (docs/preview.md): the objects
//! Git changes between two renderings of one environment, what the cluster would be written
//! for each, what would be pruned and whether the mass-prune guard stops it, and the report a
//! person reads. Everything here is pure; the agent reads the cluster and calls it.

mod digests;
pub mod pulls;
mod report;

pub use digests::{digest_changes, rejected, DigestChange};
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

/// How the object a sync would write was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Seen {
    /// The API server's answer to a server-side dry-run apply of it, as the sync would send it:
    /// defaults, mutating admission and the other managers' fields included.
    DryRun,
    /// Git's fields merged over the live object by the agent: the server cannot be asked yet
    /// (the change creates its kind's CRD or its namespace).
    Merged,
}

/// What the cluster would be written for one object, as `sextant diff` shows it (Secret values
/// masked), or why the API server would refuse the write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterChange {
    pub release: String,
    pub object: String,
    /// The live object against what it would become, as a unified diff (empty when refused).
    pub diff: String,
    pub seen: Seen,
    /// The API server's refusal of the dry-run (a field-manager conflict, an invalid object, an
    /// admission webhook's denial): the sync would fail on this object.
    pub refused: Option<String>,
}

/// Why the change would fail in the cluster: the first object the API server would refuse,
/// and how many more.
pub fn refused(changes: &[ClusterChange]) -> Option<String> {
    let refused: Vec<&ClusterChange> = changes.iter().filter(|c| c.refused.is_some()).collect();
    let first = refused.first()?;
    let more = match refused.len() - 1 {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    };
    Some(format!(
        "the API server would refuse {}: {}{more}",
        first.object,
        first.refused.as_deref().unwrap_or_default()
    ))
}

/// A hook a sync of the change would run: its release's objects changed since its inventory
/// was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookRun {
    pub release: String,
    pub object: String,
    /// `pre-sync`, `post-sync`, as the plan names the phase.
    pub phase: String,
}

/// The CustomResourceDefinitions the change adds, changes or removes: each changes an API
/// every namespace shares, so the report lists them apart.
pub fn crds(git: &[ObjectChange]) -> Vec<ObjectChange> {
    git.iter()
        .filter(|g| {
            g.key.group == "apiextensions.k8s.io" && g.key.kind == "CustomResourceDefinition"
        })
        .cloned()
        .collect()
}

/// Why the head may not render: a remote chart whose repository the tracked branch does not
/// already pull from (`allowed`, its environments' repositories) and no mirror serves
/// (`mirrored`). A pull request is untrusted: rendering it must not make the agent contact a
/// host the reviewed configuration never named.
pub fn new_chart_source(
    allowed: &std::collections::BTreeSet<String>,
    head: &[(String, String)],
    mirrored: impl Fn(&str) -> bool,
) -> Option<String> {
    let norm = |r: &str| r.trim_end_matches('/').to_string();
    let allowed: std::collections::BTreeSet<String> = allowed.iter().map(|r| norm(r)).collect();
    let (release, repository) = head
        .iter()
        .find(|(_, repo)| !allowed.contains(&norm(repo)) && !mirrored(repo))?;
    Some(format!(
        "release {release}: chart repository {repository} is not one the tracked branch pulls from, nor mirrored: a pull request cannot make the agent contact a new host (merge the repository in a reviewed change first, or mirror it)"
    ))
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
    /// The hooks a sync of the head would run.
    pub hooks: Vec<HookRun>,
    /// The CustomResourceDefinitions it changes.
    pub crds: Vec<ObjectChange>,
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
            hooks: Vec::new(),
            crds: Vec::new(),
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
            hooks: Vec::new(),
            crds: Vec::new(),
        }
    }

    #[test]
    fn the_report_shows_the_verdict_the_changes_and_each_diff_collapsed() {
        let mut p = preview(vec![ClusterChange {
            release: "web".into(),
            object: "Deployment.apps app/web".into(),
            diff: "-  replicas: 3\n+  replicas: 5\n".into(),
            seen: Seen::DryRun,
            refused: None,
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
                seen: Seen::DryRun,
                refused: None,
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
    fn a_refused_write_fails_naming_the_first_object_and_counting_the_rest() {
        let change = |object: &str, refused: Option<&str>| ClusterChange {
            release: "web".into(),
            object: object.into(),
            diff: String::new(),
            seen: Seen::DryRun,
            refused: refused.map(str::to_string),
        };
        let cases = [
            ("none refused", vec![change("ConfigMap app/a", None)], None),
            (
                "one conflict",
                vec![
                    change("ConfigMap app/a", None),
                    change("Deployment.apps app/web", Some("conflict with \"kubectl\": .spec.replicas")),
                ],
                Some("the API server would refuse Deployment.apps app/web: conflict with \"kubectl\": .spec.replicas"),
            ),
            (
                "two refused",
                vec![
                    change("ConfigMap app/a", Some("invalid: data: must be a map")),
                    change("ConfigMap app/b", Some("admission webhook denied")),
                ],
                Some("the API server would refuse ConfigMap app/a: invalid: data: must be a map (and 1 more)"),
            ),
        ];
        for (what, changes, want) in cases {
            assert_eq!(refused(&changes).as_deref(), want, "{what}");
        }
    }

    #[test]
    fn only_crds_are_listed_as_crds() {
        let change = |group: &str, kind: &str, name: &str| ObjectChange {
            release: "platform".into(),
            wave: 0,
            object: format!("{kind} {name}"),
            change: Change::Changed,
            hook: false,
            key: ObjectKey::new(group, kind, None, name),
        };
        let git = vec![
            change(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                "widgets.example.com",
            ),
            change("example.com", "Widget", "one"),
            change("", "CustomResourceDefinition", "not-a-crd"),
        ];
        let found: Vec<String> = crds(&git).into_iter().map(|c| c.object).collect();
        assert_eq!(found, ["CustomResourceDefinition widgets.example.com"]);
    }

    #[test]
    fn a_head_may_pull_charts_only_from_repositories_the_tracked_branch_uses_or_mirrors() {
        let allowed: std::collections::BTreeSet<String> = [
            "https://charts.example.com/stable/".to_string(),
            "oci://registry.example.com/charts".to_string(),
        ]
        .into();
        let mirrored = |r: &str| r.starts_with("https://mirrored.example.com");
        let head = |repos: &[&str]| -> Vec<(String, String)> {
            repos
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("r{i}"), r.to_string()))
                .collect()
        };
        let cases = [
            (
                "the same repositories",
                head(&[
                    "https://charts.example.com/stable",
                    "oci://registry.example.com/charts",
                ]),
                None,
            ),
            (
                "a mirrored one",
                head(&["https://mirrored.example.com/x"]),
                None,
            ),
            ("no remote chart", head(&[]), Some(false)),
            (
                "a new host",
                head(&[
                    "https://charts.example.com/stable",
                    "https://evil.example.net/charts",
                ]),
                Some(true),
            ),
            (
                "another path on a known host",
                head(&["https://charts.example.com/other"]),
                Some(true),
            ),
        ];
        for (what, head, refused) in cases {
            let got = new_chart_source(&allowed, &head, mirrored);
            match refused {
                Some(true) => {
                    let why = got.unwrap_or_else(|| panic!("{what}: not refused"));
                    assert!(
                        why.contains("is not one the tracked branch pulls from"),
                        "{what}: {why}"
                    );
                    assert!(why.starts_with("release r"), "{what}: {why}");
                }
                _ => assert_eq!(got, None, "{what}"),
            }
        }
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
}
