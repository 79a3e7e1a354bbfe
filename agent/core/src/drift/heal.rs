//! What a heal writes for one drifted object, from what reading it live gave: pure, so the heal
//! loop only reads, asks here, and applies.

use crate::compare::{Comparison, Keep};
use crate::environment::Environment;
use crate::object::Object;
use serde_json::Value;

/// The heal of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The live object could not be read. That is not "no object": forcing Git then would
    /// overwrite the fields drift ignores (an HPA's replicas beside a healed image), so the heal
    /// waits for the next change to ask again.
    Skip,
    /// Apply `manifest` with force: Git, with the fields drift ignores as live holds them.
    /// `recreate`: the object is gone, so its release's namespace may be gone too.
    Apply { manifest: Value, recreate: bool },
}

/// The step for `o`, given how reading it live went (`Err`: it could not be read).
pub fn step<E>(env: &Environment, o: &Object, live: Result<Option<&Value>, E>) -> Step {
    let Ok(live) = live else {
        return Step::Skip;
    };
    let manifest = Comparison::of(env, o, live)
        .respecting(Keep::Ignored)
        .map_or_else(|| o.manifest.clone(), |r| r.manifest);
    Step::Apply {
        manifest,
        recreate: live.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectRef;
    use serde_json::json;

    fn environment() -> Environment {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("charts/web/templates")).unwrap();
        std::fs::write(
            dir.path().join("charts/web/Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        )
        .unwrap();
        let env = dir.path().join("environments/e");
        std::fs::create_dir_all(&env).unwrap();
        let text = "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: e\nspec:\n  releases:\n    - {name: web, namespace: app, chart: charts/web}\n  drift:\n    policy: heal\n    ignore: [{kind: Deployment, paths: [/spec/replicas]}]\n";
        crate::environment::parse(
            dir.path(),
            &env,
            &env.join("environment.yaml"),
            text,
            &["e".into()],
        )
        .unwrap()
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "app"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}
        })
    }

    #[test]
    fn a_heal_restores_git_keeps_what_drift_ignores_and_waits_when_it_cannot_read() {
        let env = environment();
        let git = deployment(2, "web:1");
        let o = Object {
            reference: ObjectRef {
                group: "apps".into(),
                version: "v1".into(),
                kind: "Deployment".into(),
                namespace: Some("app".into()),
                name: "web".into(),
            },
            release: "web".into(),
            source: "web/templates/deployment.yaml".into(),
            wave: crate::environment::Wave(0),
            hook: None,
            hash: String::new(),
            manifest: git.clone(),
        };
        // (how reading it live went, the step)
        let scaled_and_patched = deployment(5, "web:evil");
        let table: Vec<(Result<Option<&Value>, &str>, Step)> = vec![
            (Err("503 Service Unavailable"), Step::Skip),
            (
                Ok(None),
                Step::Apply {
                    manifest: git.clone(),
                    recreate: true,
                },
            ),
            (
                Ok(Some(&scaled_and_patched)),
                Step::Apply {
                    manifest: deployment(5, "web:1"),
                    recreate: false,
                },
            ),
            (
                Ok(Some(&git)),
                Step::Apply {
                    manifest: git.clone(),
                    recreate: false,
                },
            ),
        ];
        for (live, want) in table {
            let label = format!("{live:?}");
            assert_eq!(step(&env, &o, live), want, "{label}");
        }
    }
}
