//! Our values merge equals Helm's: helm itself computes `.Values` through the values-echo chart
//! (`{{ toYaml .Values }}`), and a property test compares it with `values::coalesce`.

mod support;

use proptest::prelude::*;
use serde_json::{Map, Value};
use sextant::values;
use std::process::Command;
use support::*;

/// What helm renders as `.Values` for the values-echo chart with these files.
fn helm_values(files: &[std::path::PathBuf]) -> Value {
    let mut cmd = Command::new(helm());
    cmd.args(["template", "echo"])
        .arg(fixture_chart("values-echo"));
    for f in files {
        cmd.arg("--values").arg(f);
    }
    let out = cmd.output().expect("run helm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = documents(&String::from_utf8_lossy(&out.stdout));
    let text = docs[0]["data"]["values.yaml"]
        .as_str()
        .expect("values.yaml key")
        .to_string();
    sextant::yaml::parse(&text).expect("helm prints YAML")
}

fn ours(files: &[std::path::PathBuf]) -> Value {
    let defaults = values::chart_defaults(&fixture_chart("values-echo")).unwrap();
    let layers: Vec<_> = files
        .iter()
        .map(|f| values::read_file(f).unwrap())
        .collect();
    Value::Object(values::coalesce(&defaults, values::merge_layers(layers)))
}

/// Keys that overlap the chart's defaults (maps, lists, scalars) and some that do not. None is a
/// YAML 1.1 boolean word (`y`, `on`…), which Helm's reader would turn into a boolean.
const KEYS: &[&str] = &[
    "replicaCount",
    "image",
    "tag",
    "repository",
    "config",
    "server",
    "port",
    "tls",
    "enabled",
    "logging",
    "level",
    "args",
    "nodeSelector",
    "podAnnotations",
    "extraEnv",
    "fresh",
    "extra",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u32..1000).prop_map(Value::from),
        "s[a-z]{0,5}".prop_map(Value::String),
        prop::collection::vec((0u32..9).prop_map(Value::from), 0..3).prop_map(Value::Array),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
    })
}

fn layer() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(prop::sample::select(KEYS), tree(), 0..5)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn effective_values_equal_helms(layers in prop::collection::vec(layer(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = layers.iter().enumerate().map(|(i, l)| {
            let p = dir.path().join(format!("{i}.yaml"));
            std::fs::write(&p, serde_json::to_string(l).unwrap()).unwrap();
            p
        }).collect();
        prop_assert_eq!(ours(&files), helm_values(&files));
    }
}

#[test]
fn null_removes_defaults_and_lists_replace_as_helm_does() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(
        &a,
        "nodeSelector: null\nargs: [--quiet]\nconfig:\n  server:\n    port: 9090\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "podAnnotations:\n  example.com/tier: null\nconfig:\n  logging: {level: debug}\n",
    )
    .unwrap();
    let helm = helm_values(&[a.clone(), b.clone()]);
    assert_eq!(ours(&[a, b]), helm);
    assert!(helm.get("nodeSelector").is_none());
    assert_eq!(helm["args"], serde_json::json!(["--quiet"]));
    assert_eq!(helm["config"]["server"]["port"], 9090);
    assert_eq!(helm["config"]["server"]["tls"]["minVersion"], "1.2");
    assert_eq!(
        helm["podAnnotations"],
        serde_json::json!({"example.com/owner": "team-a"})
    );
}

#[test]
fn values_command_prints_the_effective_values() {
    let repo = TempRepo::new();
    repo.chart("values-echo")
        .write("environments/dev/v.yaml", "replicaCount: 3\nnodeSelector: null\n")
        .write(
            "environments/dev/environment.yaml",
            &environment("dev", "    - {name: echo, namespace: echo, chart: charts/values-echo, values: [v.yaml]}\n"),
        );
    let cache = tempfile::tempdir().unwrap();
    let out = sextant_ok(
        cache.path(),
        &[
            "values",
            "--env",
            "dev",
            "--release",
            "echo",
            "--repo",
            repo.path().to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["replicaCount"], 3);
    assert!(v.get("nodeSelector").is_none());
    assert_eq!(v["image"]["tag"], "1.0.0");
}
