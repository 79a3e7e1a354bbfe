//! What a release needs served before its wave applies, checked at plan time — pure.
//!
//! Two rules, both answered by [`creators::verdict`] (who in the plan makes a kind served, the
//! same answer the sync acts on):
//! - each kind of a release's `requires` is built in, marked `from: cluster`, or created by a
//!   CustomResourceDefinition or Gatekeeper ConstraintTemplate of an **earlier** wave than the
//!   release's first;
//! - each custom-resource kind a rendered object uses is created in an earlier wave or in the
//!   object's own wave (whose CRD step runs first), or is built in, or is one of its release's
//!   `requires` marked `from: cluster`.
//!
//! Either way, a kind nothing provides would stall or fail the sync on a fresh cluster; the plan
//! says so first, naming the release and the kind.

use crate::creators::{self, Verdict};
use crate::environment::{Environment, Release};
use crate::kinds;
use crate::plan::Plan;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("environment {environment}, release {release}, field `requires`: {kind}: {why}")]
    Required {
        environment: String,
        release: String,
        kind: String,
        why: String,
    },
    #[error("environment {environment}, release {release}, template {source_template}: {object} is a {kind}, and {why}")]
    Used {
        environment: String,
        release: String,
        source_template: String,
        object: String,
        kind: String,
        why: String,
    },
}

/// The wave a release starts in: its earliest object's (an annotation may move one before the
/// release's `wave`), else its `wave`.
pub fn start_wave(release: &Release, plan: &Plan) -> i32 {
    plan.objects()
        .filter(|o| o.release == release.name)
        .map(|o| o.wave.0)
        .min()
        .unwrap_or(release.wave.0)
}

/// Checks both rules; the first kind nothing provides in time is the error.
pub fn check(env: &Environment, plan: &Plan) -> Result<(), Error> {
    for release in &env.releases {
        required(env, plan, release)?;
    }
    used(env, plan)
}

fn required(env: &Environment, plan: &Plan, release: &Release) -> Result<(), Error> {
    let start = start_wave(release, plan);
    for r in &release.requires {
        if r.from_cluster || kinds::is_builtin_group(&r.group) {
            continue;
        }
        let why = match creators::verdict(plan.objects(), &r.group, &r.version, &r.kind, start - 1)
        {
            Verdict::Wait(_) => continue,
            Verdict::Later(c) => format!(
                "only {c} creates it, not before the release's wave {start}: move it to wave {} or earlier",
                start - 1
            ),
            Verdict::Nobody => format!(
                "no CustomResourceDefinition or Gatekeeper ConstraintTemplate in an earlier wave creates it, and it is not a built-in kind: add the release that installs its CRD in an earlier wave, or write {{kind: {r}, from: cluster}} if the cluster provides it"
            ),
        };
        return Err(Error::Required {
            environment: env.name.clone(),
            release: release.name.clone(),
            kind: r.to_string(),
            why,
        });
    }
    Ok(())
}

fn used(env: &Environment, plan: &Plan) -> Result<(), Error> {
    for o in plan.objects() {
        let r = &o.reference;
        let from_cluster = || {
            env.release(&o.release).is_some_and(|rel| {
                rel.requires.iter().any(|q| {
                    q.from_cluster
                        && q.group == r.group
                        && q.version == r.version
                        && q.kind == r.kind
                })
            })
        };
        if kinds::is_builtin_group(&r.group) || from_cluster() {
            continue;
        }
        let why = match creators::verdict(plan.objects(), &r.group, &r.version, &r.kind, o.wave.0) {
            Verdict::Wait(_) => continue,
            Verdict::Later(c) => format!(
                "only {c} creates its kind, after the object's wave {}: move it to wave {} or earlier",
                o.wave, o.wave
            ),
            Verdict::Nobody => format!(
                "no CustomResourceDefinition or Gatekeeper ConstraintTemplate in environment {} creates it, and it is not a built-in kind: install its CRD in this wave or an earlier one, or add {{kind: {}/{}, from: cluster}} to release {}'s requires if the cluster provides it",
                env.name,
                r.api_version(),
                r.kind,
                o.release
            ),
        };
        return Err(Error::Used {
            environment: env.name.clone(),
            release: o.release.clone(),
            source_template: o.source.clone(),
            object: r.to_string(),
            kind: format!("{}/{}", r.api_version(), r.kind),
            why,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::{Chart, Requirement, Wave};
    use crate::object::{Object, ObjectRef};
    use crate::plan::WavePlan;
    use serde_json::{json, Value};

    fn object(release: &str, wave: i32, api: (&str, &str, &str), name: &str, m: Value) -> Object {
        Object {
            reference: ObjectRef {
                group: api.0.into(),
                version: api.1.into(),
                kind: api.2.into(),
                namespace: None,
                name: name.into(),
            },
            release: release.into(),
            source: format!("{release}/templates/{name}.yaml"),
            wave: Wave(wave),
            hook: None,
            hash: String::new(),
            manifest: m,
        }
    }

    const CRD: (&str, &str, &str) = ("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    const GATEWAY: (&str, &str, &str) = ("gateway.networking.k8s.io", "v1", "Gateway");

    /// The Gateway CRD, from release `crds`.
    fn gateway_crd(wave: i32) -> Object {
        let spec = json!({"spec": {"group": "gateway.networking.k8s.io", "names": {"kind": "Gateway"},
            "versions": [{"name": "v1", "served": true}]}});
        object(
            "crds",
            wave,
            CRD,
            "gateways.gateway.networking.k8s.io",
            spec,
        )
    }

    fn template(wave: i32) -> Object {
        let spec = json!({"spec": {"crd": {"spec": {"names": {"kind": "K8sAllowedRepos"}}}}});
        let api = ("templates.gatekeeper.sh", "v1", "ConstraintTemplate");
        object("gatekeeper", wave, api, "k8sallowedrepos", spec)
    }

    fn deployment(release: &str, wave: i32) -> Object {
        object(
            release,
            wave,
            ("apps", "v1", "Deployment"),
            release,
            json!({}),
        )
    }

    fn gateway(release: &str, wave: i32) -> Object {
        object(release, wave, GATEWAY, "public", json!({}))
    }

    fn release(name: &str, wave: i32, requires: &[(&str, bool)]) -> Release {
        Release {
            name: name.into(),
            namespace: name.into(),
            chart: Chart::Local("charts/x".into()),
            wave: Wave(wave),
            values: vec![],
            drift: Default::default(),
            requires: requires
                .iter()
                .map(|(k, cluster)| Requirement::parse(k, *cluster).expect(k))
                .collect(),
        }
    }

    fn environment(releases: Vec<Release>) -> Environment {
        Environment {
            name: "dev".into(),
            repo: "/r".into(),
            dir: "/r/environments/dev".into(),
            file: "/r/environments/dev/environment.yaml".into(),
            releases,
            drift: Default::default(),
            promotion: None,
            sync: Default::default(),
            preview: Default::default(),
        }
    }

    /// What, the releases, the plan's objects, what the error must say (none: the plan is fine).
    type Case = (
        &'static str,
        Vec<Release>,
        Vec<Object>,
        &'static [&'static str],
    );

    #[test]
    fn each_required_and_used_kind_is_provided_in_time() {
        const GW: &str = "gateway.networking.k8s.io/v1/Gateway";
        let dns = |wave| release("external-dns", wave, &[(GW, false)]);
        let crds = |wave| release("crds", wave, &[]);
        let cases: Vec<Case> = vec![
            (
                "required, its CRD in an earlier wave",
                vec![crds(-4), dns(-2)],
                vec![gateway_crd(-4), deployment("external-dns", -2)],
                &[],
            ),
            (
                "required, its CRD only in the same wave",
                vec![crds(-2), dns(-2)],
                vec![gateway_crd(-2), deployment("external-dns", -2)],
                &["release external-dns, field `requires`", GW, "not before the release's wave -2"],
            ),
            (
                "required, its CRD in a later wave",
                vec![crds(0), dns(-2)],
                vec![gateway_crd(0), deployment("external-dns", -2)],
                &["release external-dns", GW, "(wave 0)", "move it to wave -3 or earlier"],
            ),
            (
                "required, nothing provides it",
                vec![dns(-2)],
                vec![deployment("external-dns", -2)],
                &["environment dev, release external-dns, field `requires`", GW, "from: cluster"],
            ),
            (
                "required, an annotation moves the release's first object before the CRD",
                vec![crds(-4), dns(-2)],
                vec![gateway_crd(-4), deployment("external-dns", -4)],
                &["release external-dns", "not before the release's wave -4"],
            ),
            (
                "required, from the cluster",
                vec![release("external-dns", -2, &[(GW, true)])],
                vec![deployment("external-dns", -2)],
                &[],
            ),
            (
                "required, a built-in kind",
                vec![release("app", 0, &[("v1/ConfigMap", false), ("policy/v1/PodDisruptionBudget", false)])],
                vec![deployment("app", 0)],
                &[],
            ),
            (
                "required, a constraint kind whose template comes earlier",
                vec![release("gatekeeper", -2, &[("templates.gatekeeper.sh/v1/ConstraintTemplate", true)]), release("policies", 1, &[("constraints.gatekeeper.sh/v1beta1/K8sAllowedRepos", false)])],
                vec![template(-2), deployment("policies", 1)],
                &[],
            ),
            (
                "used, its CRD in the same wave",
                vec![crds(0), release("gw", 0, &[])],
                vec![gateway_crd(0), gateway("gw", 0)],
                &[],
            ),
            (
                "used, its CRD in a later wave",
                vec![crds(1), release("gw", 0, &[])],
                vec![gateway_crd(1), gateway("gw", 0)],
                &["release gw, template gw/templates/public.yaml", "Gateway.gateway.networking.k8s.io public", "(wave 1)"],
            ),
            (
                "used, nothing provides it",
                vec![release("gw", 0, &[])],
                vec![gateway("gw", 0)],
                &["release gw", GW, "add {kind: gateway.networking.k8s.io/v1/Gateway, from: cluster} to release gw's requires"],
            ),
            (
                "used, its release requires it from the cluster",
                vec![release("gw", 0, &[(GW, true)])],
                vec![gateway("gw", 0)],
                &[],
            ),
            (
                "used, built in",
                vec![release("app", 0, &[])],
                vec![deployment("app", 0)],
                &[],
            ),
        ];
        for (what, releases, objects, want) in cases {
            let plan = Plan {
                environment: "dev".into(),
                revision: None,
                waves: objects
                    .into_iter()
                    .map(|o| WavePlan {
                        wave: o.wave,
                        objects: vec![o],
                    })
                    .collect(),
            };
            let got = check(&environment(releases), &plan);
            match (got, want.is_empty()) {
                (Ok(()), true) => {}
                (Ok(()), false) => panic!("{what}: passed, wanted an error saying {want:?}"),
                (Err(e), true) => panic!("{what}: {e}"),
                (Err(e), false) => {
                    let message = e.to_string();
                    for part in want {
                        assert!(message.contains(part), "{what}: {message:?} lacks {part:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_required_kind_is_written_group_version_kind() {
        let ok = [
            (
                "gateway.networking.k8s.io/v1/Gateway",
                ("gateway.networking.k8s.io", "v1", "Gateway"),
            ),
            ("v1/ConfigMap", ("", "v1", "ConfigMap")),
            (
                "cert-manager.io/v1beta1/Issuer",
                ("cert-manager.io", "v1beta1", "Issuer"),
            ),
        ];
        for (text, (g, v, k)) in ok {
            let r = Requirement::parse(text, false).expect(text);
            assert_eq!(
                (r.group.as_str(), r.version.as_str(), r.kind.as_str()),
                (g, v, k)
            );
            assert_eq!(r.to_string(), text);
        }
        for bad in [
            "Gateway",
            "gateway.networking.k8s.io/Gateway",
            "gateway.networking.k8s.io/v1/gateway",
            "a/b/c/D",
            "Gateway.networking.k8s.io/v1/Gateway",
            "x/v/K",
            "apps/v1/",
        ] {
            assert!(Requirement::parse(bad, false).is_none(), "{bad}");
        }
    }
}
