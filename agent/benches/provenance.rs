//! Provenance benchmark: for each drift (one `kubectl edit`-like change of the live objects),
//! the helm invocations the mapping needs (Git's own render included) and its wall time, as a
//! ratio against one plain render of the same release measured in the same run, cold cache both.
//! Charts: hash-service in this repository's prod, and the kube-prometheus-stack-shaped test chart
//! (`agent/tests/fixtures/provenance/stack`). The mapping runs again on a warm cache to show it
//! costs no render.
//!
//! Run with `cargo bench -p sextant --bench provenance`.

use serde_json::{json, Value};
use sextant::drift::{self, provenance};
use sextant::environment::{self, Environment, Release};
use sextant::render::{cache::RenderCache, helm::Helm, objects, Renderer, Settings};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RUNS: usize = 5;
const PROD_IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hash-service";
const PROD_DIGEST: &str = "sha256:f25476cba5a0a0629c26e808206428b2ec0b9b8c03a37a410a921aa3efea0ef2";

type Change = fn(&mut Vec<Value>);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn set(live: &mut [Value], kind: &str, suffix: &str, pointer: &str, v: Value) {
    let o = live
        .iter_mut()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(suffix))
        })
        .expect("object");
    *o.pointer_mut(pointer).expect("pointer") = v;
}

struct Bench {
    helm: PathBuf,
    env: Environment,
    release: Release,
}

impl Bench {
    fn renderer(&self, cache: &Path) -> Renderer {
        Renderer::new(
            Helm::new(&self.helm),
            RenderCache::new(cache),
            Settings::default(),
        )
    }

    /// Git's objects as the API server stores them.
    fn git(&self) -> (Vec<sextant::object::Object>, Vec<Value>) {
        let cache = tempfile::tempdir().unwrap();
        let docs = self
            .renderer(cache.path())
            .render_release(&self.env, &self.release)
            .unwrap()
            .documents;
        let ctx = objects::Context {
            environment: &self.env.name,
            release: &self.release.name,
            namespace: &self.release.namespace,
            wave: self.release.wave,
            cluster_scoped_crds: &HashSet::new(),
        };
        let objs: Vec<_> = docs
            .into_iter()
            .filter_map(|d| objects::finish(&ctx, d).unwrap())
            .collect();
        let live = objs
            .iter()
            .map(|o| sextant::compare::canonical(&o.manifest))
            .collect();
        (objs, live)
    }

    fn plain(&self) -> Duration {
        median(
            (0..RUNS)
                .map(|_| {
                    let cache = tempfile::tempdir().unwrap();
                    let r = self.renderer(cache.path());
                    let t = Instant::now();
                    r.render_release(&self.env, &self.release).unwrap();
                    t.elapsed()
                })
                .collect(),
        )
    }

    fn run(&self, label: &str, change: Change, plain: Duration) {
        let (git, mut live) = self.git();
        change(&mut live);
        let drift: Vec<_> = git
            .iter()
            .zip(&live)
            .filter_map(|(o, l)| drift::evaluate(&self.env, o, Some(l)))
            .collect();
        let (mut times, mut renders, mut warm) = (Vec::new(), 0, usize::MAX);
        let mut outcome = String::new();
        for _ in 0..RUNS {
            let cache = tempfile::tempdir().unwrap();
            let r = self.renderer(cache.path());
            let t = Instant::now();
            let m = provenance::map(&r, &self.env, &self.release, &drift, &live).unwrap();
            times.push(t.elapsed());
            renders = m.renders;
            outcome = m
                .edits
                .iter()
                .map(|e| format!("{} → {}", e.dotted, e.new))
                .chain(m.unmapped.iter().map(|u| format!("unmapped: {}", u.reason)))
                .collect::<Vec<_>>()
                .join("; ");
            warm = provenance::map(&r, &self.env, &self.release, &drift, &live)
                .unwrap()
                .renders;
        }
        let t = median(times);
        println!(
            "  {label:<44} {renders:>3} renders ({warm} warm) {:>8.1} ms  {:>5.1}x a render",
            ms(t),
            t.as_secs_f64() / plain.as_secs_f64()
        );
        let mut cut = outcome.chars().take(150).collect::<String>();
        if cut.len() < outcome.len() {
            cut.push('…');
        }
        println!("      {cut}");
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let helm = root.join(".tools/bin/helm");
    assert!(helm.is_file(), "run `make tools` first");

    let prod = environment::load(&root, "prod").expect("prod loads");
    let hash = Bench {
        helm: helm.clone(),
        release: prod.release("hash-service").unwrap().clone(),
        env: prod,
    };
    let plain = hash.plain();
    println!("provenance benchmark, median of {RUNS} runs, cold cache (Git's own render counted)");
    println!("hash-service in prod: one plain render {:.1} ms", ms(plain));
    const IMAGE: &str = "/spec/template/spec/containers/0/image";
    let cases: [(&str, Change); 6] = [
        ("HPA minReplicas", |l| {
            set(
                l,
                "HorizontalPodAutoscaler",
                "hash-service",
                "/spec/minReplicas",
                json!(4),
            )
        }),
        ("image digest", |l| {
            let img = format!("{PROD_IMAGE}:0.1.0@sha256:{}", "ab".repeat(32));
            set(l, "Deployment", "hash-service", IMAGE, json!(img))
        }),
        ("image tag (also versions labels: refused)", |l| {
            let img = format!("{PROD_IMAGE}:0.2.0@{PROD_DIGEST}");
            set(l, "Deployment", "hash-service", IMAGE, json!(img))
        }),
        ("a chart default (liveness period)", |l| {
            set(
                l,
                "Deployment",
                "hash-service",
                "/spec/template/spec/containers/0/livenessProbe/periodSeconds",
                json!(20),
            )
        }),
        ("computed (grace period = a + b + 5)", |l| {
            set(
                l,
                "Deployment",
                "hash-service",
                "/spec/template/spec/terminationGracePeriodSeconds",
                json!(40),
            )
        }),
        ("hard-coded (revisionHistoryLimit)", |l| {
            set(
                l,
                "Deployment",
                "hash-service",
                "/spec/revisionHistoryLimit",
                json!(10),
            )
        }),
    ];
    for (label, change) in cases {
        hash.run(label, change, plain);
    }

    let repo = tempfile::tempdir().unwrap();
    copy_dir(
        &root.join("agent/tests/fixtures/provenance/stack"),
        &repo.path().join("charts/stack"),
    );
    let env_dir = repo.path().join("environments/obs");
    std::fs::create_dir_all(env_dir.join("values")).unwrap();
    std::fs::write(
        env_dir.join("environment.yaml"),
        "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata: {name: obs}\nspec:\n  releases:\n    - {name: demo, namespace: monitoring, chart: charts/stack, values: [values/stack.yaml]}\n",
    )
    .unwrap();
    std::fs::write(
        env_dir.join("values/stack.yaml"),
        "prometheus:\n  prometheusSpec:\n    retention: 15d\n    replicas: 2\ngrafana:\n  adminUser: root\n",
    )
    .unwrap();
    let obs = environment::load(repo.path(), "obs").unwrap();
    let stack = Bench {
        helm,
        release: obs.release("demo").unwrap().clone(),
        env: obs,
    };
    let plain = stack.plain();
    println!(
        "kube-prometheus-stack-shaped chart: one plain render {:.1} ms",
        ms(plain)
    );
    let cases: [(&str, Change); 7] = [
        ("4 fields at once (retention, arg, env, tag)", |l| {
            set(
                l,
                "Prometheus",
                "-prometheus",
                "/spec/retention",
                json!("30d"),
            );
            set(
                l,
                "Deployment",
                "-operator",
                "/spec/template/spec/containers/0/args/0",
                json!("--log-level=debug"),
            );
            set(
                l,
                "Deployment",
                "-grafana",
                "/spec/template/spec/containers/0/env/1/value",
                json!("warn"),
            );
            set(
                l,
                "Deployment",
                "-grafana",
                "/spec/template/spec/containers/0/image",
                json!("grafana/grafana:11.2.0"),
            );
        }),
        ("a port moving two fields, one live (refused)", |l| {
            set(
                l,
                "Service",
                "-operator",
                "/spec/ports/0/targetPort",
                json!(9090),
            )
        }),
        ("offset (add shutdownSeconds 5)", |l| {
            set(
                l,
                "Deployment",
                "-grafana",
                "/spec/template/spec/terminationGracePeriodSeconds",
                json!(65),
            )
        }),
        ("computed (mul deadlineMinutes 60)", |l| {
            set(
                l,
                "Deployment",
                "-operator",
                "/spec/progressDeadlineSeconds",
                json!(601),
            )
        }),
        ("tpl (Alertmanager externalUrl)", |l| {
            set(
                l,
                "Alertmanager",
                "-alertmanager",
                "/spec/externalUrl",
                json!("https://alerts.example.com"),
            )
        }),
        ("joined list items (--resources=a,b,c)", |l| {
            set(
                l,
                "Deployment",
                "-kube-state-metrics",
                "/spec/template/spec/containers/0/args/1",
                json!("--resources=deployments,pods,services"),
            )
        }),
        ("a subchart default (pushgateway image tag)", |l| {
            set(
                l,
                "Deployment",
                "-pushgateway",
                "/spec/template/spec/containers/0/image",
                json!("quay.io/prometheus/pushgateway:v1.10.0"),
            )
        }),
    ];
    for (label, change) in cases {
        stack.run(label, change, plain);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
