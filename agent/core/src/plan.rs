//! Sync-waves: the order in which an environment's objects are applied — pure.
//!
//! One sort carries the whole policy (as gitops-engine's `sync_tasks.go` does): waves ascending;
//! inside a wave PreSync hooks (by weight), then objects in Helm's kind order, then PostSync
//! hooks; a CustomResourceDefinition is pulled into the wave of the first custom resource of its
//! kind, and a Namespace into the wave of the first object in it, even across releases.

use crate::environment::Wave;
use crate::kinds;
use crate::object::{HookPhase, Object, ObjectRef};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{object} is declared twice in environment {environment}: by release {first_release} ({first_source}) and by release {second_release} ({second_source})")]
    Duplicate {
        environment: String,
        object: ObjectRef,
        first_release: String,
        first_source: String,
        second_release: String,
        second_source: String,
    },
    #[error("environment {environment}, release {release}, template {source_template}: {object}: field `{}`: {error}", error.field)]
    InvalidName {
        environment: String,
        release: String,
        source_template: String,
        object: ObjectRef,
        error: crate::names::NameError,
    },
}

/// The objects of one wave, in apply order.
#[derive(Debug, Clone, PartialEq)]
pub struct WavePlan {
    pub wave: Wave,
    pub objects: Vec<Object>,
}

/// An environment's objects in the order they are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub environment: String,
    pub revision: Option<String>,
    pub waves: Vec<WavePlan>,
}

impl Plan {
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.waves.iter().flat_map(|w| w.objects.iter())
    }
}

/// Orders objects into waves; two objects with one identity are an error naming both releases.
pub fn build(
    environment: &str,
    revision: Option<String>,
    mut objects: Vec<Object>,
) -> Result<Plan, Error> {
    check_names(environment, &objects)?;
    check_duplicates(environment, &objects)?;
    pull_forward(&mut objects);
    let mut waves: BTreeMap<Wave, Vec<Object>> = BTreeMap::new();
    for o in objects {
        waves.entry(o.wave).or_default().push(o);
    }
    let waves = waves
        .into_iter()
        .map(|(wave, mut objects)| {
            objects.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
            WavePlan { wave, objects }
        })
        .collect();
    Ok(Plan {
        environment: environment.to_string(),
        revision,
        waves,
    })
}

/// What two releases may not share: group, kind, namespace and name (not the version).
fn identity(r: &ObjectRef) -> (&str, &str, Option<&str>, &str) {
    (&r.group, &r.kind, r.namespace.as_deref(), &r.name)
}

/// Names the API server would refuse, caught before anything is written.
fn check_names(environment: &str, objects: &[Object]) -> Result<(), Error> {
    for o in objects {
        let r = &o.reference;
        crate::names::check(&r.group, &r.kind, &o.manifest).map_err(|error| {
            Error::InvalidName {
                environment: environment.to_string(),
                release: o.release.clone(),
                source_template: o.source.clone(),
                object: r.clone(),
                error,
            }
        })?;
    }
    Ok(())
}

fn check_duplicates(environment: &str, objects: &[Object]) -> Result<(), Error> {
    let mut seen: HashMap<_, &Object> = HashMap::new();
    for o in objects {
        if let Some(first) = seen.insert(identity(&o.reference), o) {
            return Err(Error::Duplicate {
                environment: environment.to_string(),
                object: o.reference.clone(),
                first_release: first.release.clone(),
                first_source: first.source.clone(),
                second_release: o.release.clone(),
                second_source: o.source.clone(),
            });
        }
    }
    Ok(())
}

/// Moves each CRD to the earliest wave of its custom resources, and each Namespace to the
/// earliest wave of the objects in it, so that nothing is applied before what it needs.
fn pull_forward(objects: &mut [Object]) {
    let mut first_of_kind: HashMap<(String, String), Wave> = HashMap::new();
    let mut first_in_namespace: HashMap<String, Wave> = HashMap::new();
    for o in objects.iter() {
        let r = &o.reference;
        let kind_key = (r.group.clone(), r.kind.clone());
        let w = first_of_kind.entry(kind_key).or_insert(o.wave);
        *w = (*w).min(o.wave);
        if let Some(ns) = &r.namespace {
            let w = first_in_namespace.entry(ns.clone()).or_insert(o.wave);
            *w = (*w).min(o.wave);
        }
    }
    for o in objects.iter_mut() {
        let earliest = match o.reference.kind.as_str() {
            "CustomResourceDefinition" if o.reference.group == "apiextensions.k8s.io" => {
                crd_kind(o).and_then(|k| first_of_kind.get(&k).copied())
            }
            "Namespace" if o.reference.group.is_empty() => {
                first_in_namespace.get(&o.reference.name).copied()
            }
            _ => None,
        };
        if let Some(w) = earliest {
            o.wave = o.wave.min(w);
        }
    }
}

/// The (group, kind) a CRD serves.
fn crd_kind(crd: &Object) -> Option<(String, String)> {
    let spec = crd.manifest.get("spec")?;
    Some((
        spec.get("group")?.as_str()?.to_string(),
        spec.pointer("/names/kind")?.as_str()?.to_string(),
    ))
}

type SortKey<'a> = (u8, i32, usize, &'a str, &'a str, Option<&'a str>, &'a str);

fn sort_key(o: &Object) -> SortKey<'_> {
    let (phase, weight) = match &o.hook {
        Some(h) if h.phase == HookPhase::PreSync => (0, h.weight),
        None => (1, 0),
        Some(h) => (2, h.weight),
    };
    let r = &o.reference;
    (
        phase,
        weight,
        kinds::install_rank(&r.kind),
        &r.kind,
        &r.group,
        r.namespace.as_deref(),
        &r.name,
    )
}

/// The documented JSON contract of `sextant plan --output json`.
#[derive(Debug, Serialize)]
pub struct PlanJson<'a> {
    pub environment: &'a str,
    pub revision: Option<&'a str>,
    pub waves: Vec<WaveJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct WaveJson<'a> {
    pub wave: i32,
    pub objects: Vec<ObjectJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ObjectJson<'a> {
    pub release: &'a str,
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: &'a str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub hash: &'a str,
    pub hook: Option<String>,
}

impl Plan {
    pub fn to_json(&self) -> PlanJson<'_> {
        PlanJson {
            environment: &self.environment,
            revision: self.revision.as_deref(),
            waves: self
                .waves
                .iter()
                .map(|w| WaveJson {
                    wave: w.wave.0,
                    objects: w
                        .objects
                        .iter()
                        .map(|o| ObjectJson {
                            release: &o.release,
                            api_version: o.reference.api_version(),
                            kind: &o.reference.kind,
                            namespace: o.reference.namespace.as_deref(),
                            name: &o.reference.name,
                            hash: &o.hash,
                            hook: o.hook.as_ref().map(|h| h.phase.to_string()),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The human table of `sextant plan`.
    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "WAVE".to_string(),
            "RELEASE".into(),
            "KIND".into(),
            "NAMESPACE/NAME".into(),
            "HOOK".into(),
            "HASH".into(),
        ]];
        for w in &self.waves {
            for o in &w.objects {
                let r = &o.reference;
                rows.push([
                    w.wave.to_string(),
                    o.release.clone(),
                    r.kind.clone(),
                    match &r.namespace {
                        Some(ns) => format!("{ns}/{}", r.name),
                        None => r.name.clone(),
                    },
                    o.hook
                        .as_ref()
                        .map_or("-".into(), |h| format!("{}({})", h.phase, h.weight)),
                    o.hash
                        .trim_start_matches("sha256:")
                        .chars()
                        .take(12)
                        .collect(),
                ]);
            }
        }
        let widths: Vec<usize> = (0..6)
            .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Hook;
    use serde_json::json;

    fn obj(
        release: &str,
        api: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        wave: i32,
    ) -> Object {
        let (g, v) = kinds::split_api_version(api);
        Object {
            reference: ObjectRef {
                group: g.into(),
                version: v.into(),
                kind: kind.into(),
                namespace: ns.map(Into::into),
                name: name.into(),
            },
            release: release.into(),
            source: format!("{release}/templates/{name}.yaml"),
            wave: Wave(wave),
            hook: None,
            hash: "sha256:0".into(),
            manifest: json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
        }
    }

    fn order(plan: &Plan) -> Vec<(i32, String)> {
        plan.waves
            .iter()
            .flat_map(|w| {
                w.objects
                    .iter()
                    .map(move |o| (w.wave.0, o.reference.name.clone()))
            })
            .collect()
    }

    #[test]
    fn waves_ascend_and_kinds_follow_helm_order_inside_a_wave() {
        let objects = vec![
            obj("a", "apps/v1", "Deployment", Some("n"), "deploy", 0),
            obj("a", "v1", "Service", Some("n"), "svc", 0),
            obj("a", "v1", "ConfigMap", Some("n"), "cm", 0),
            obj("b", "v1", "ConfigMap", Some("n"), "early", -1),
            obj("b", "example.io/v1", "Widget", Some("n"), "w", 0),
        ];
        let plan = build("dev", None, objects).unwrap();
        assert_eq!(
            order(&plan),
            [
                (-1, "early"),
                (0, "cm"),
                (0, "svc"),
                (0, "deploy"),
                (0, "w")
            ]
            .map(|(w, n)| (w, n.to_string()))
        );
    }

    #[test]
    fn a_crd_moves_before_its_first_custom_resource_across_releases() {
        let mut crd = obj(
            "crds",
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "widgets.example.io",
            5,
        );
        crd.manifest["spec"] = json!({"group": "example.io", "names": {"kind": "Widget"}});
        let objects = vec![
            crd,
            obj("app", "example.io/v1", "Widget", Some("n"), "w", 1),
        ];
        let plan = build("dev", None, objects).unwrap();
        assert_eq!(
            order(&plan),
            [(1, "widgets.example.io".to_string()), (1, "w".to_string())]
        );
    }

    #[test]
    fn a_namespace_moves_before_the_first_object_in_it() {
        let objects = vec![
            obj("a", "v1", "Namespace", None, "team", 3),
            obj("b", "v1", "ConfigMap", Some("team"), "cm", 0),
        ];
        let plan = build("dev", None, objects).unwrap();
        assert_eq!(
            order(&plan),
            [(0, "team".to_string()), (0, "cm".to_string())]
        );
    }

    #[test]
    fn hooks_wrap_the_objects_of_their_wave_by_weight() {
        let hook = |name: &str, phase, weight| {
            let mut o = obj("a", "batch/v1", "Job", Some("n"), name, 0);
            o.hook = Some(Hook {
                phase,
                weight,
                delete_policies: vec![],
            });
            o
        };
        let objects = vec![
            hook("post", HookPhase::PostSync, 0),
            obj("a", "apps/v1", "Deployment", Some("n"), "deploy", 0),
            hook("pre-late", HookPhase::PreSync, 5),
            hook("pre-early", HookPhase::PreSync, -5),
        ];
        let plan = build("dev", None, objects).unwrap();
        let names: Vec<String> = order(&plan).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["pre-early", "pre-late", "deploy", "post"]);
    }

    #[test]
    fn the_same_object_from_two_releases_is_an_error_naming_both() {
        let objects = vec![
            obj("one", "v1", "ConfigMap", Some("n"), "shared", 0),
            obj("two", "v1", "ConfigMap", Some("n"), "shared", 1),
        ];
        let err = build("prod", None, objects).unwrap_err().to_string();
        assert!(
            err.contains("release one") && err.contains("release two"),
            "{err}"
        );
        assert!(err.contains("ConfigMap n/shared"), "{err}");
    }

    #[test]
    fn json_contract_has_the_documented_fields() {
        let plan = build(
            "prod",
            Some("abc".into()),
            vec![obj("a", "v1", "ConfigMap", Some("n"), "cm", -1)],
        )
        .unwrap();
        let v = serde_json::to_value(plan.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"environment": "prod", "revision": "abc", "waves": [{"wave": -1, "objects": [
                {"release": "a", "apiVersion": "v1", "kind": "ConfigMap", "namespace": "n", "name": "cm", "hash": "sha256:0", "hook": null}
            ]}]})
        );
    }
}
