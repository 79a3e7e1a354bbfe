//! Provenance against real helm: a field changed live is traced to the values key that renders
//! it, the new value is proved by a render, and the fields no key can explain say why.
//! hash-service in this repository's prod environment, and a kube-prometheus-stack-shaped chart
//! (`fixtures/provenance/stack`).

mod support;

use serde_json::{json, Value};
use sextant::drift::provenance::{self, Limits, Mapping, Reason, Segment, ValuesEdit};
use sextant::drift::{self, ObjectDrift};
use sextant::environment::{self, Environment, Release};
use sextant::object::Object;
use sextant::render::{objects, Renderer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use support::TempRepo;

/// One release of one environment, rendered once: Git's objects, and live copies to change.
struct Case {
    _cache: tempfile::TempDir,
    renderer: Renderer,
    env: Environment,
    release: Release,
    git: Vec<Object>,
}

impl Case {
    fn new(repo: &Path, env: &str, release: &str) -> Case {
        let cache = tempfile::tempdir().expect("cache folder");
        let renderer = support::renderer(cache.path());
        let env = environment::load(repo, env).expect("environment loads");
        let release = env.release(release).expect("release exists").clone();
        let rendered = renderer
            .render_release(&env, &release)
            .expect("Git's render");
        let ctx = objects::Context {
            environment: &env.name,
            release: &release.name,
            namespace: &release.namespace,
            wave: release.wave,
            cluster_scoped_crds: &HashSet::new(),
        };
        let git = rendered
            .documents
            .into_iter()
            .filter_map(|d| objects::finish(&ctx, d).expect("object"))
            .collect();
        Case {
            _cache: cache,
            renderer,
            env,
            release,
            git,
        }
    }

    /// The live objects after `change`, and the drift `sextant` sees in them.
    fn drift(&self, change: impl FnOnce(&mut Live)) -> (Vec<ObjectDrift>, Vec<Value>) {
        // As the API server stores them (`stringData` folded into `data`, quantities canonical).
        let mut live = Live(
            self.git
                .iter()
                .map(|o| sextant::compare::canonical(&o.manifest))
                .collect(),
        );
        change(&mut live);
        let drift = self
            .git
            .iter()
            .zip(&live.0)
            .filter_map(|(o, l)| drift::evaluate(&self.env, o, Some(l)))
            .collect();
        (drift, live.0)
    }

    fn map(&self, change: impl FnOnce(&mut Live)) -> Mapping {
        let (drift, live) = self.drift(change);
        assert!(!drift.is_empty(), "the change is drift");
        provenance::map(&self.renderer, &self.env, &self.release, &drift, &live)
            .expect("mapping runs")
    }
}

/// Live objects, changed by kind, name suffix and pointer.
struct Live(Vec<Value>);

impl Live {
    fn at(&mut self, kind: &str, name_suffix: &str, pointer: &str) -> &mut Value {
        self.0
            .iter_mut()
            .find(|o| {
                o["kind"] == kind
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(name_suffix))
            })
            .unwrap_or_else(|| panic!("no {kind} *{name_suffix}"))
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{kind} *{name_suffix} has no {pointer}"))
    }

    fn set(&mut self, kind: &str, name_suffix: &str, pointer: &str, v: Value) {
        *self.at(kind, name_suffix, pointer) = v;
    }
}

fn key(dotted: &str) -> Vec<Segment> {
    dotted
        .split('.')
        .flat_map(|part| {
            let mut out = Vec::new();
            let mut rest = part;
            if let Some(at) = part.find('[') {
                out.push(Segment::Key(part[..at].to_string()));
                rest = &part[at..];
                for idx in rest.split('[').filter(|s| !s.is_empty()) {
                    out.push(Segment::Index(idx.trim_end_matches(']').parse().unwrap()));
                }
            } else {
                out.push(Segment::Key(rest.to_string()));
            }
            out
        })
        .collect()
}

fn only_edit(m: &Mapping) -> &ValuesEdit {
    assert!(m.unmapped.is_empty(), "nothing unmapped: {:#?}", m.unmapped);
    assert_eq!(m.edits.len(), 1, "one edit: {:#?}", m.edits);
    assert!(m.proof.holds(), "the proof holds: {:#?}", m.proof.failures);
    &m.edits[0]
}

fn only_reason(m: &Mapping) -> &Reason {
    assert!(m.edits.is_empty(), "no edit: {:#?}", m.edits);
    assert_eq!(m.unmapped.len(), 1, "one unmapped field: {:#?}", m.unmapped);
    &m.unmapped[0].reason
}

fn prod_values() -> PathBuf {
    support::workspace().join("environments/prod/values/hash-service.yaml")
}

const DEPLOYMENT_IMAGE: &str = "/spec/template/spec/containers/0/image";
const PROD_IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hash-service";
const PROD_DIGEST: &str = "sha256:f25476cba5a0a0629c26e808206428b2ec0b9b8c03a37a410a921aa3efea0ef2";

/// This repository's prod, as it is (autoscaling on: the HPA owns the replicas).
fn prod() -> Case {
    Case::new(&support::workspace(), "prod", "hash-service")
}

/// A copy of this repository's hash-service chart with an environment `prod` of one release,
/// whose values files are `files` (name, content) under `environments/prod/values/`.
fn hash_service_repo(files: &[(&str, &str)]) -> TempRepo {
    let repo = TempRepo::new();
    support::copy_dir(
        &support::workspace().join("helm/hash-service"),
        &repo.path().join("helm/hash-service"),
    );
    let names: Vec<String> = files.iter().map(|(n, _)| format!("values/{n}")).collect();
    repo.write(
        "environments/prod/environment.yaml",
        &support::environment(
            "prod",
            &format!(
                "    - name: hash-service\n      namespace: hash-service\n      chart: helm/hash-service\n      values: [{}]\n",
                names.join(", ")
            ),
        ),
    );
    for (name, content) in files {
        repo.write(&format!("environments/prod/values/{name}"), content);
    }
    repo
}

/// prod's hash-service values with autoscaling off and three replicas.
fn prod_values_fixed_replicas() -> String {
    std::fs::read_to_string(prod_values()).unwrap().replace(
        "autoscaling:\n  minReplicas: 3",
        "replicaCount: 3\nautoscaling:\n  enabled: false\n  minReplicas: 3",
    )
}

#[test]
fn replicas_scaled_live_map_to_replica_count_in_the_prod_values_file() {
    let repo = hash_service_repo(&[("hash-service.yaml", &prod_values_fixed_replicas())]);
    let case = Case::new(repo.path(), "prod", "hash-service");
    let m = case.map(|l| l.set("Deployment", "hash-service", "/spec/replicas", json!(5)));
    let e = only_edit(&m);
    assert_eq!(e.key, key("replicaCount"));
    assert_eq!(e.dotted, "replicaCount");
    assert!(e
        .file
        .ends_with("environments/prod/values/hash-service.yaml"));
    assert_eq!((e.old.clone(), e.new.clone()), (Some(json!(3)), json!(5)));
    assert!(!e.from_defaults);
    assert!(e
        .fields
        .iter()
        .any(|(r, p)| r.kind == "Deployment" && p == "/spec/replicas"));
    assert!(m.renders <= 4, "{} renders", m.renders);
}

#[test]
fn hpa_min_replicas_changed_live_map_to_the_prod_values_file() {
    let case = prod();
    let m = case.map(|l| {
        l.set(
            "HorizontalPodAutoscaler",
            "hash-service",
            "/spec/minReplicas",
            json!(4),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "autoscaling.minReplicas");
    assert_eq!(e.file, prod_values());
    assert_eq!((e.old.clone(), e.new.clone()), (Some(json!(3)), json!(4)));
}

#[test]
fn an_image_digest_set_live_maps_to_image_digest() {
    let case = prod();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            DEPLOYMENT_IMAGE,
            json!(format!("{PROD_IMAGE}:0.1.0@{digest}")),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "image.digest");
    assert_eq!(e.file, prod_values());
    assert_eq!(e.new, json!(digest));
    assert_eq!(e.old, Some(json!(PROD_DIGEST)));
}

#[test]
fn an_image_tag_set_live_is_not_proposed_as_the_tag_also_versions_the_labels() {
    let case = prod();
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            DEPLOYMENT_IMAGE,
            json!(format!("{PROD_IMAGE}:0.2.0@{PROD_DIGEST}")),
        )
    });
    match only_reason(&m) {
        Reason::MovesOtherFields { key, fields } => {
            assert_eq!(key, "image.tag");
            assert!(
                fields
                    .iter()
                    .any(|f| f.contains("app.kubernetes.io~1version")),
                "{fields:?}"
            );
            assert!(
                fields.iter().any(|f| f.contains("/env/")),
                "SERVICE_VERSION: {fields:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(m.proof.holds(), "no edit, nothing to disprove");
}

#[test]
fn an_image_tag_set_live_with_its_labels_and_version_maps_to_image_tag() {
    let case = prod();
    let (drift, live) = case.drift(|l| {
        for o in l.0.iter_mut() {
            for p in [
                "/metadata/labels/app.kubernetes.io~1version",
                "/spec/template/metadata/labels/app.kubernetes.io~1version",
            ] {
                if let Some(v) = o.pointer_mut(p) {
                    *v = json!("0.2.0");
                }
            }
        }
        l.set(
            "Deployment",
            "hash-service",
            DEPLOYMENT_IMAGE,
            json!(format!("{PROD_IMAGE}:0.2.0@{PROD_DIGEST}")),
        );
        l.set(
            "Deployment",
            "hash-service",
            "/spec/template/spec/containers/0/env/2/value",
            json!("0.2.0"),
        );
    });
    let m = provenance::map(&case.renderer, &case.env, &case.release, &drift, &live).unwrap();
    assert!(m.unmapped.is_empty(), "{:#?}", m.unmapped);
    assert_eq!(m.edits.len(), 1, "{:#?}", m.edits);
    assert_eq!(m.edits[0].dotted, "image.tag");
    assert_eq!(m.edits[0].new, json!("0.2.0"));
    assert!(m.proof.holds());
    assert!(
        m.edits[0].fields.len() > 3,
        "the tag moves many fields, all live"
    );
}

#[test]
fn an_env_var_added_live_is_not_drift_and_one_changed_live_names_no_key() {
    let case = prod();
    let (drift, _) = case.drift(|l| {
        l.at(
            "Deployment",
            "hash-service",
            "/spec/template/spec/containers/0/env",
        )
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "EXTRA", "value": "1"}));
    });
    // env is a list-map keyed by name: an added variable leaves every field Git sets as it is.
    assert!(drift.is_empty(), "{drift:#?}");
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            "/spec/template/spec/containers/0/env/0/value",
            json!("0.0.0.0:9090"),
        )
    });
    assert_eq!(only_reason(&m), &Reason::NoValuesKey);
}

#[test]
fn a_value_only_the_chart_defaults_set_goes_in_the_environment_values_file() {
    let case = prod();
    // 10 is also autoscaling.maxReplicas in prod: the perturbation tells them apart.
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            "/spec/template/spec/containers/0/livenessProbe/periodSeconds",
            json!(20),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "probes.liveness.periodSeconds");
    assert_eq!(e.file, prod_values());
    assert!(e.from_defaults);
    assert_eq!((e.old.clone(), e.new.clone()), (Some(json!(10)), json!(20)));
}

#[test]
fn a_key_set_in_two_values_files_is_edited_in_the_one_that_wins() {
    let prod_text = std::fs::read_to_string(prod_values()).unwrap();
    let repo = hash_service_repo(&[
        ("hash-service.yaml", &prod_text),
        ("hash-service-debug.yaml", "logLevel: debug\n"),
    ]);
    let case = Case::new(repo.path(), "prod", "hash-service");
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            "/spec/template/spec/containers/0/env/1/value",
            json!("trace"),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "logLevel");
    assert!(
        e.file.ends_with("values/hash-service-debug.yaml"),
        "{}",
        e.file.display()
    );
    assert_eq!(
        (e.old.clone(), e.new.clone()),
        (Some(json!("debug")), json!("trace"))
    );
    // A key only the first file sets goes there (requests.memory is 64Mi too).
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            "/spec/template/spec/containers/0/resources/limits/memory",
            json!("128Mi"),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "resources.limits.memory");
    assert!(e.file.ends_with("values/hash-service.yaml"));
}

#[test]
fn a_field_computed_from_two_keys_is_unmapped_naming_them() {
    let case = prod();
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            "/spec/template/spec/terminationGracePeriodSeconds",
            json!(40),
        )
    });
    match only_reason(&m) {
        Reason::Computed { keys } => assert_eq!(
            keys,
            &["shutdown.delaySeconds", "shutdown.drainTimeoutSeconds"]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_field_no_key_controls_is_unmapped() {
    let case = prod();
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            "/spec/revisionHistoryLimit",
            json!(10),
        )
    });
    assert_eq!(only_reason(&m), &Reason::NoValuesKey);
    assert_eq!(
        m.unmapped[0].reason.to_string(),
        "no values key controls it"
    );
}

#[test]
fn a_cpu_limit_of_500m_raised_to_1_live_maps_as_a_quantity() {
    let repo = hash_service_repo(&[(
        "hash-service.yaml",
        &format!("image:\n  tag: \"0.1.0\"\n  digest: {PROD_DIGEST}\n"),
    )]);
    let case = Case::new(repo.path(), "prod", "hash-service");
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "hash-service",
            "/spec/template/spec/containers/0/resources/limits/cpu",
            json!("1"),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "resources.limits.cpu");
    assert!(e.from_defaults);
    assert_eq!(
        (e.old.clone(), e.new.clone()),
        (Some(json!("500m")), json!("1"))
    );
}

#[test]
fn the_search_stops_at_its_render_bound() {
    let case = prod();
    let (drift, live) = case.drift(|l| {
        l.set(
            "Deployment",
            "hash-service",
            "/spec/revisionHistoryLimit",
            json!(10),
        )
    });
    let m = provenance::map_limited(
        &case.renderer,
        &case.env,
        &case.release,
        &drift,
        &live,
        Limits { renders: 2 },
    )
    .unwrap();
    assert!(
        matches!(only_reason(&m), Reason::Bound { .. }),
        "{:?}",
        m.unmapped
    );
    assert!(m.renders <= 2);
}

#[test]
fn edited_values_files_are_proved_with_their_real_contents() {
    let repo = hash_service_repo(&[("hash-service.yaml", &prod_values_fixed_replicas())]);
    let case = Case::new(repo.path(), "prod", "hash-service");
    let (drift, live) =
        case.drift(|l| l.set("Deployment", "hash-service", "/spec/replicas", json!(5)));
    let m = provenance::map(&case.renderer, &case.env, &case.release, &drift, &live).unwrap();
    let file = m.edits[0].file.clone();
    let text = std::fs::read_to_string(&file).unwrap();
    let prove = |content: String| {
        provenance::prove_with_files(
            &case.renderer,
            &case.env,
            &case.release,
            &[(file.clone(), content)],
            &m.targets(),
            &live,
        )
        .unwrap()
    };
    assert!(prove(text.replace("replicaCount: 3", "replicaCount: 5")).holds());
    let wrong = prove(text.replace("replicaCount: 3", "replicaCount: 4"));
    assert!(!wrong.holds());
    assert!(wrong.failures.iter().any(|f| f.pointer == "/spec/replicas"));
}

// --- the kube-prometheus-stack-shaped chart ---

fn stack() -> (TempRepo, Case) {
    let repo = TempRepo::new();
    support::copy_dir(
        &support::workspace().join("agent/tests/fixtures/provenance/stack"),
        &repo.path().join("charts/stack"),
    );
    repo.write(
        "environments/obs/environment.yaml",
        &support::environment(
            "obs",
            "    - name: demo\n      namespace: monitoring\n      chart: charts/stack\n      values: [values/stack.yaml]\n",
        ),
    );
    repo.write(
        "environments/obs/values/stack.yaml",
        "# obs overrides\nprometheus:\n  prometheusSpec:\n    retention: 15d\n    replicas: 2\ngrafana:\n  adminUser: root\n",
    );
    let case = Case::new(repo.path(), "obs", "demo");
    (repo, case)
}

#[test]
fn stack_several_fields_changed_live_map_to_their_keys_in_few_renders() {
    let (_repo, case) = stack();
    let change = |l: &mut Live| {
        l.set("Prometheus", "-prometheus", "/spec/retention", json!("30d"));
        l.set(
            "Deployment",
            "-operator",
            "/spec/template/spec/containers/0/args/0",
            json!("--log-level=debug"),
        );
        l.set(
            "Deployment",
            "-grafana",
            "/spec/template/spec/containers/0/env/1/value",
            json!("warn"),
        );
        l.set(
            "Deployment",
            "-grafana",
            "/spec/template/spec/containers/0/image",
            json!("grafana/grafana:11.2.0"),
        );
    };
    let m = case.map(change);
    assert!(m.unmapped.is_empty(), "{:#?}", m.unmapped);
    assert!(m.proof.holds(), "{:#?}", m.proof.failures);
    let by_key = |k: &str| {
        m.edits
            .iter()
            .find(|e| e.dotted == k)
            .unwrap_or_else(|| panic!("no edit of {k}: {:#?}", m.edits))
    };
    let retention = by_key("prometheus.prometheusSpec.retention");
    assert!(retention.file.ends_with("values/stack.yaml") && !retention.from_defaults);
    assert_eq!(retention.new, json!("30d"));
    let log = by_key("prometheusOperator.logLevel");
    assert!(log.from_defaults);
    assert_eq!(log.new, json!("debug"));
    // A list only the chart's defaults set is written whole (Helm replaces lists).
    let env = by_key("grafana.env");
    assert!(env.from_defaults);
    assert_eq!(
        env.new,
        json!([{"name": "GF_LOG_LEVEL", "value": "warn"}, {"name": "GF_ANALYTICS_REPORTING_ENABLED", "value": "false"}])
    );
    assert_eq!(by_key("grafana.image.tag").new, json!("11.2.0"));
    assert_eq!(m.edits.len(), 4);
    // One render of all the distinctive sentinels, one proof (Git's own render is cached).
    assert!(m.renders <= 2, "{} renders", m.renders);
    // The same drift again: every render comes from the cache.
    assert_eq!(case.map(change).renders, 0);
}

#[test]
fn stack_a_key_that_moves_two_fields_is_proposed_only_when_both_are_live() {
    let (_repo, case) = stack();
    let m = case.map(|l| {
        l.set(
            "Service",
            "-operator",
            "/spec/ports/0/targetPort",
            json!(9090),
        )
    });
    match only_reason(&m) {
        Reason::MovesOtherFields { key, fields } => {
            assert_eq!(key, "prometheusOperator.port");
            assert!(
                fields.iter().any(|f| f.contains("containerPort")),
                "{fields:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let m = case.map(|l| {
        l.set(
            "Service",
            "-operator",
            "/spec/ports/0/targetPort",
            json!(9090),
        );
        l.set(
            "Deployment",
            "-operator",
            "/spec/template/spec/containers/0/ports/0/containerPort",
            json!(9090),
        );
    });
    let e = only_edit(&m);
    assert_eq!(
        (e.dotted.as_str(), e.new.clone()),
        ("prometheusOperator.port", json!(9090))
    );
    let has =
        |kind: &str, pointer: &str| e.fields.iter().any(|(r, p)| r.kind == kind && p == pointer);
    assert!(has("Service", "/spec/ports/0/targetPort"), "{:?}", e.fields);
    assert!(
        has(
            "Deployment",
            "/spec/template/spec/containers/0/ports/0/containerPort"
        ),
        "{:?}",
        e.fields
    );
}

#[test]
fn stack_a_field_offset_from_a_key_maps_through_the_offset() {
    let (_repo, case) = stack();
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "-grafana",
            "/spec/template/spec/terminationGracePeriodSeconds",
            json!(65),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "grafana.shutdownSeconds");
    assert_eq!((e.old.clone(), e.new.clone()), (Some(json!(30)), json!(60)));
}

#[test]
fn stack_a_field_multiplied_from_a_key_is_unmapped_as_computed() {
    let (_repo, case) = stack();
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "-operator",
            "/spec/progressDeadlineSeconds",
            json!(601),
        )
    });
    let r = only_reason(&m);
    assert_eq!(
        r,
        &Reason::Computed {
            keys: vec!["prometheusOperator.deadlineMinutes".into()]
        }
    );
    assert!(r.to_string().starts_with(
        "computed in a template from prometheusOperator.deadlineMinutes (the live value is not producible"
    ));
}

#[test]
fn stack_a_tpl_value_changed_live_maps_to_its_key_as_the_live_text() {
    let (_repo, case) = stack();
    let m = case.map(|l| {
        l.set(
            "Alertmanager",
            "-alertmanager",
            "/spec/externalUrl",
            json!("https://alerts.example.com"),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "alertmanager.alertmanagerSpec.externalUrl");
    assert!(
        m.renders <= 4,
        "a template is a candidate: {} renders",
        m.renders
    );
    assert_eq!(e.new, json!("https://alerts.example.com"));
}

#[test]
fn stack_list_items_joined_into_one_argument_map_by_index_or_say_why_not() {
    let (_repo, case) = stack();
    let pointer = "/spec/template/spec/containers/0/args/1";
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "-kube-state-metrics",
            pointer,
            json!("--resources=deployments,pods,services"),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "kube-state-metrics.collectors");
    assert!(e.from_defaults);
    assert_eq!(e.new, json!(["deployments", "pods", "services"]));
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "-kube-state-metrics",
            pointer,
            json!("--resources=deployments,pods"),
        )
    });
    match only_reason(&m) {
        Reason::NotProducible { keys, pattern } => {
            assert_eq!(keys.len(), 3);
            assert_eq!(
                pattern,
                "--resources={kube-state-metrics.collectors[0]},{kube-state-metrics.collectors[1]},{kube-state-metrics.collectors[2]}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stack_a_subchart_default_maps_under_the_subchart_key() {
    let (_repo, case) = stack();
    let m = case.map(|l| {
        l.set(
            "Deployment",
            "-pushgateway",
            "/spec/template/spec/containers/0/image",
            json!("quay.io/prometheus/pushgateway:v1.10.0"),
        )
    });
    let e = only_edit(&m);
    assert_eq!(e.dotted, "pushgateway.image.tag");
    assert!(e.from_defaults && e.file.ends_with("values/stack.yaml"));
    assert_eq!(
        (e.old.clone(), e.new.clone()),
        (Some(json!("v1.9.0")), json!("v1.10.0"))
    );
}
