//! Real-world fidelity on the `upstream-shaped` corpus (every null and zero-value pattern of
//! upstream charts, YAML 1.1 scalars, empty metadata, hook Jobs, Prometheus-Operator-sized CRDs,
//! quantities in every notation), through the real helm, the agent, the real kubectl and the
//! strict test API server.

mod support;

use serde_json::Value;
use sextant_testkit::RequestRecord;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::*;

fn kubectl(kubeconfig: Option<&Path>, args: &[&str], stdin: Option<&str>) -> Output {
    let bin = workspace().join(".tools/bin/kubectl");
    assert!(
        bin.is_file(),
        "{} is missing: run `make tools`",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    match kubeconfig {
        Some(k) => cmd.arg("--kubeconfig").arg(k),
        None => cmd.env("KUBECONFIG", "/dev/null"),
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    // Written from a thread: kubectl answers while it reads, and both pipes have a bound.
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.unwrap_or_default().to_string();
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("kubectl output");
    writer
        .join()
        .expect("stdin writer")
        .expect("write kubectl's stdin");
    out
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A repository with the corpus chart as the release `demo` of the environment `corpus`.
fn corpus_repo() -> TempRepo {
    let repo = TempRepo::new();
    repo.chart("upstream-shaped").write(
        "environments/corpus/environment.yaml",
        &environment(
            "corpus",
            "    - {name: demo, namespace: corpus, chart: charts/upstream-shaped}\n  sync:\n    createNamespace: true\n    waveTimeout: 60s\n",
        ),
    );
    repo
}

/// kubectl's own reading of YAML (sigs.k8s.io/yaml, YAML 1.1): every document as JSON.
fn as_kubectl_reads_it(yaml: &str) -> Vec<Value> {
    let json = ok(
        kubectl(
            None,
            &[
                "annotate",
                "--local",
                "-f",
                "-",
                "-o",
                "json",
                "sextant.io/probe=x",
            ],
            Some(yaml),
        ),
        "kubectl annotate --local",
    );
    // kubectl prints one JSON document per object, back to back.
    serde_json::Deserializer::from_str(&json)
        .into_iter::<Value>()
        .map(|v| v.expect("kubectl prints JSON"))
        .collect()
}

/// An object without what the agent adds (ownership labels, hash, namespace) or the probe, and
/// without nulls: what remains is what the chart said.
fn chart_part(mut o: Value) -> Value {
    kube_canonical::drop_nulls(&mut o);
    let meta = o["metadata"].as_object_mut().expect("metadata");
    meta.remove("namespace");
    for (field, keys) in [
        (
            "labels",
            &[
                "app.kubernetes.io/managed-by",
                "sextant.io/environment",
                "sextant.io/release",
            ][..],
        ),
        ("annotations", &["sextant.io/hash", "sextant.io/probe"][..]),
    ] {
        if let Some(Value::Object(m)) = meta.get_mut(field) {
            for k in keys {
                m.remove(*k);
            }
            if m.is_empty() {
                meta.remove(field);
            }
        }
    }
    o
}

fn by_identity(objects: Vec<Value>) -> BTreeMap<(String, String), Value> {
    objects
        .into_iter()
        .map(|o| {
            let kind = o["kind"].as_str().unwrap_or_default().to_string();
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            ((kind, name), o)
        })
        .collect()
}

fn helm_template(repo: &Path) -> String {
    let out = Command::new(helm())
        .args(["template", "demo"])
        .arg(repo.join("charts/upstream-shaped"))
        .args(["--namespace", "corpus"])
        .output()
        .expect("run helm");
    ok(out, "helm template")
}

#[test]
fn render_reads_helm_output_as_kubectl_does_and_writes_yaml_both_readers_agree_on() {
    let repo = corpus_repo();
    let cache = tempfile::tempdir().unwrap();
    let rendered = String::from_utf8(
        sextant_ok(
            cache.path(),
            &[
                "render",
                "--env",
                "corpus",
                "--repo",
                repo.path().to_str().unwrap(),
            ],
        )
        .stdout,
    )
    .unwrap();

    // Git's side, read by kubectl from helm's own output...
    let want = by_identity(
        as_kubectl_reads_it(&helm_template(repo.path()))
            .into_iter()
            .map(chart_part)
            .collect(),
    );
    // ...equals the agent's render, read by kubectl...
    let got = by_identity(
        as_kubectl_reads_it(&rendered)
            .into_iter()
            .map(chart_part)
            .collect(),
    );
    assert_eq!(want.len(), 53, "{:?}", want.keys().collect::<Vec<_>>());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (id, w) in &want {
        assert_eq!(&got[id], w, "{id:?}");
    }
    // ...and a YAML 1.2 reader gets the same values from the render as kubectl does.
    let as_yaml12 = by_identity(documents(&rendered).into_iter().map(chart_part).collect());
    for (id, w) in &want {
        assert_eq!(&as_yaml12[id], w, "YAML 1.2 reading of {id:?}");
    }
    // The YAML 1.1 readings that matter, spelled out.
    let d = &want[&("Deployment".into(), "demo-app".into())];
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["secret"]["defaultMode"], 493);
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert_eq!(pod["containers"][0]["args"][1], "on");
    assert_eq!(d["metadata"]["labels"]["enabled"], "yes");
    assert!(
        rendered.contains("enabled: \"yes\""),
        "ambiguous strings are quoted"
    );
}

#[test]
fn every_rendered_object_carries_the_ownership_labels_and_hash() {
    let repo = corpus_repo();
    let cache = tempfile::tempdir().unwrap();
    let rendered = sextant_ok(
        cache.path(),
        &[
            "render",
            "--env",
            "corpus",
            "--repo",
            repo.path().to_str().unwrap(),
        ],
    )
    .stdout;
    let objects = documents(&String::from_utf8(rendered).unwrap());
    assert_eq!(objects.len(), 53);
    for o in &objects {
        let m = &o["metadata"];
        let id = format!("{}/{}", o["kind"], m["name"]);
        assert_eq!(
            m["labels"]["app.kubernetes.io/managed-by"], "sextant",
            "{id}"
        );
        assert_eq!(m["labels"]["sextant.io/environment"], "corpus", "{id}");
        assert_eq!(m["labels"]["sextant.io/release"], "demo", "{id}");
        assert!(
            m["annotations"]["sextant.io/hash"]
                .as_str()
                .is_some_and(|h| h.starts_with("sha256:")),
            "{id}"
        );
        // No null reaches the output (`annotations:`, `data: null`, `legacy: null`).
        assert!(!serde_json::to_string(o).unwrap().contains(":null"), "{id}");
    }
}

#[test]
fn kubectl_applies_the_render_server_side_to_the_strict_test_server() {
    let repo = corpus_repo();
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = test_server(dir.path());
    let rendered = String::from_utf8(
        sextant_ok(
            &dir.path().join("cache"),
            &[
                "render",
                "--env",
                "corpus",
                "--repo",
                repo.path().to_str().unwrap(),
            ],
        )
        .stdout,
    )
    .unwrap();
    // CRDs first, as any two-step install does: kubectl maps kinds before it sends anything.
    let (crds, rest): (Vec<&str>, Vec<&str>) = rendered
        .split("\n---\n")
        .partition(|d| d.contains("\nkind: CustomResourceDefinition\n"));
    ok(
        kubectl(
            Some(&kubeconfig),
            &["apply", "-f", "-"],
            Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: corpus}\n"),
        ),
        "create the namespace",
    );
    for (what, docs) in [("CRDs", crds), ("the rest", rest)] {
        let text = docs.join("\n---\n");
        let out = kubectl(
            Some(&kubeconfig),
            &[
                "apply",
                "--server-side",
                "--field-manager=sextant",
                "-f",
                "-",
            ],
            Some(&text),
        );
        ok(out, &format!("kubectl apply --server-side of {what}"));
    }
    // What the server stores is canonical.
    let got = ok(
        kubectl(
            Some(&kubeconfig),
            &[
                "get",
                "limitrange",
                "demo-limits",
                "-n",
                "corpus",
                "-o",
                "json",
            ],
            None,
        ),
        "get limitrange",
    );
    let lr: Value = serde_json::from_str(&got).unwrap();
    let limits = &lr["spec"]["limits"][0];
    assert_eq!(limits["defaultRequest"]["cpu"], "500m");
    assert_eq!(limits["max"]["cpu"], "2");
    assert_eq!(limits["max"]["memory"], "8Gi");
    assert_eq!(limits["min"]["memory"], "1500k");
    assert_eq!(limits["max"]["ephemeral-storage"], "1G");
}

fn writes(log: &[RequestRecord]) -> Vec<String> {
    log.iter()
        .filter(|r| r.verb.is_write() && !r.dry_run)
        .map(|r| format!("{:?} {}", r.verb, r.path))
        .collect()
}

fn apply(cache: &Path, repo: &Path, kubeconfig: &Path, extra: &[&str]) -> Output {
    sextant(
        cache,
        &[
            &[
                "apply",
                "--env",
                "corpus",
                "--repo",
                repo.to_str().unwrap(),
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--wave-timeout",
                "60s",
            ][..],
            extra,
        ]
        .concat(),
    )
}

fn diff(cache: &Path, repo: &Path, kubeconfig: &Path) -> Output {
    sextant(
        cache,
        &[
            "diff",
            "--env",
            "corpus",
            "--repo",
            repo.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    )
}

#[test]
fn a_second_apply_writes_nothing_and_runs_no_hook_and_diff_agrees_with_apply() {
    let repo = corpus_repo();
    let dir = tempfile::tempdir().unwrap();
    let (server, kubeconfig) = test_server(dir.path());
    let cache = dir.path().join("cache");

    let first = apply(&cache, repo.path(), &kubeconfig, &[]);
    ok(first, "first apply");
    let first_writes = writes(&server.requests());
    assert!(
        first_writes.iter().any(|w| w.contains("/jobs")),
        "the first apply runs the hooks: {first_writes:#?}"
    );
    let out = diff(&cache, repo.path(), &kubeconfig);
    assert_eq!(
        out.status.code(),
        Some(0),
        "in sync after the first apply: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    server.clear_requests();
    let second = apply(&cache, repo.path(), &kubeconfig, &[]);
    let summary = ok(second, "second apply");
    assert_eq!(
        writes(&server.requests()),
        Vec::<String>::new(),
        "{summary}"
    );

    // A real change live: diff sees it, and apply writes exactly that object.
    ok(
        kubectl(
            Some(&kubeconfig),
            &[
                "label",
                "configmap",
                "demo-settings",
                "-n",
                "corpus",
                "sextant.io/environment=elsewhere",
                "--overwrite",
            ],
            None,
        ),
        "kubectl label",
    );
    let out = diff(&cache, repo.path(), &kubeconfig);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ConfigMap/corpus/demo-settings") && !text.contains("Deployment"),
        "{text}"
    );
    server.clear_requests();
    // kubectl now owns that label: taking it back is a forced apply.
    ok(
        apply(&cache, repo.path(), &kubeconfig, &["--force-conflicts"]),
        "healing apply",
    );
    let healed = writes(&server.requests());
    assert_eq!(healed.len(), 1, "{healed:#?}");
    assert!(
        healed[0].contains("configmaps/demo-settings"),
        "{healed:#?}"
    );
    let out = diff(&cache, repo.path(), &kubeconfig);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A change in Git: the Deployment's replicas.
    repo.write(
        "charts/upstream-shaped/values.yaml",
        &std::fs::read_to_string(repo.path().join("charts/upstream-shaped/values.yaml"))
            .unwrap()
            .replace("replicaCount: 2", "replicaCount: 3"),
    );
    let out = diff(&cache, repo.path(), &kubeconfig);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("+  replicas: 3"), "{text}");
}

#[test]
fn the_test_server_rejects_a_string_octal_mode_as_a_real_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = test_server(dir.path());
    // The string "0755": what a YAML 1.2 reader made of a chart's `defaultMode: 0755`.
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "i"}],
                 "volumes": [{"name": "config", "secret": {"secretName": "s", "defaultMode": "0755"}}]}}"#;
    let out = kubectl(
        Some(&kubeconfig),
        &["apply", "--server-side", "--field-manager=t", "-f", "-"],
        Some(pod),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed to create typed patch object (default/p; /v1, Kind=Pod): .spec.volumes[name=\"config\"].secret.defaultMode: expected numeric (int or float), got string"),
        "{err}"
    );
}
