//! Scale benchmark, all on 127.0.0.1 with the test API server in this process and `sextant run`
//! (release build) as a child process:
//! 1. `releases`: one environment of 1,000 releases of a small local chart (five objects each:
//!    ConfigMap, Secret, ServiceAccount, Service, Deployment; values varied per release; twenty
//!    namespaces). The agent's first sync and a no-change resync, each against the physical
//!    limit measured in the same run: `helm template` of the same releases at the agent's render
//!    parallelism, plus the same objects server-side applied straight to a fresh server at the
//!    agent's apply concurrency. The agent's peak resident memory.
//! 2. `testkit`: the test API server's own throughput: server-side applies a second, a LIST of
//!    every object, and the watch events a second one watch receives.
//! 3. `shards`: 100,000 ConfigMaps in six environments (one release each), with sharding. One
//!    replica holds them all, applied and watched: its resident memory. Two more join and take
//!    two environments each: their memory. Then one is killed: the time until the others hold
//!    and have synced its environments, against the Lease duration plus one sync.
//!
//! Run with `cargo bench -p sextant --bench scale` (every part) or `-- releases`, `-- testkit`,
//! `-- shards`; `SCALE_RELEASES=N` and `SCALE_OBJECTS=N` change the counts (1,000 and 100,000).

#[path = "../tests/support/mod.rs"]
mod support;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::agent::{eventually, Agent};
use support::{proc_field, write_file};

const NAMESPACES: usize = 20;
const RENDER_PARALLELISM: usize = 2;
const APPLY_CONCURRENCY: usize = 8;

const CHART: &[(&str, &str)] = &[
    ("Chart.yaml", "apiVersion: v2\nname: small\nversion: 0.1.0\n"),
    ("values.yaml", "greeting: hello\nreplicas: 1\nport: 8080\nimage: registry.example/app:1.0.0\n"),
    ("templates/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  port: {{ .Values.port | quote }}\n"),
    ("templates/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\ntype: Opaque\nstringData:\n  token: {{ printf \"%s-%s\" .Release.Name .Values.greeting | sha256sum | quote }}\n"),
    ("templates/serviceaccount.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}\n"),
    ("templates/service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector:\n    app: {{ .Release.Name }}\n  ports:\n    - port: 80\n      targetPort: {{ .Values.port }}\n"),
    ("templates/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n      app: {{ .Release.Name }}\n  template:\n    metadata:\n      labels:\n        app: {{ .Release.Name }}\n    spec:\n      serviceAccountName: {{ .Release.Name }}\n      containers:\n        - name: app\n          image: {{ .Values.image }}\n          ports:\n            - containerPort: {{ .Values.port }}\n          envFrom:\n            - configMapRef:\n                name: {{ .Release.Name }}\n"),
];

/// The repository: `charts/small`, and environment `large` with `n` releases, each with its own
/// values file.
fn repository(root: &Path, n: usize) {
    for (rel, text) in CHART {
        write_file(root, &format!("charts/small/{rel}"), text);
    }
    let mut releases = String::new();
    for i in 0..n {
        let ns = format!("ns-{}", i % NAMESPACES);
        releases.push_str(&format!(
            "    - {{name: r-{i}, namespace: {ns}, chart: charts/small, values: [values/r-{i}.yaml]}}\n"
        ));
        write_file(
            root,
            &format!("environments/large/values/r-{i}.yaml"),
            &format!(
                "greeting: hello-{i}\nreplicas: {}\nport: {}\n",
                1 + i % 3,
                8000 + i % 100
            ),
        );
    }
    write_file(root,
        "environments/large/environment.yaml",
        &format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: large\nspec:\n  sync: {{createNamespace: true}}\n  releases:\n{releases}"),
    );
}

/// `helm template` of every release, `RENDER_PARALLELISM` at a time: the time, and the objects.
fn helm_template(root: &Path, n: usize) -> (Duration, Vec<serde_json::Value>) {
    let helm = support::helm();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    let outputs: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..RENDER_PARALLELISM)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= n {
                            return out;
                        }
                        let o = std::process::Command::new(&helm)
                            .current_dir(root)
                            .args(["template", &format!("r-{i}"), "charts/small"])
                            .args(["--namespace", &format!("ns-{}", i % NAMESPACES)])
                            .args(["-f", &format!("environments/large/values/r-{i}.yaml")])
                            .output()
                            .unwrap();
                        assert!(o.status.success());
                        out.push(String::from_utf8(o.stdout).unwrap());
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let elapsed = t.elapsed();
    let mut objects = Vec::new();
    for text in outputs.into_iter().flatten() {
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            if v.is_object() {
                objects.push(v);
            }
        }
    }
    (elapsed, objects)
}

/// The namespace of a rendered object, from its release's name (`r-<i>`), as `helm template`
/// leaves it out.
fn namespace_of(object: &serde_json::Value) -> String {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let i: usize = name
        .strip_prefix("r-")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    format!("ns-{}", i % NAMESPACES)
}

/// Server-side applies `objects` straight to `server`, `APPLY_CONCURRENCY` at a time, after
/// their namespaces: the writes' share of the limit.
fn apply_directly(
    runtime: &tokio::runtime::Runtime,
    server: &sextant_testkit::TestServer,
    objects: &[serde_json::Value],
) -> Duration {
    let client = server.client().unwrap();
    runtime.block_on(async {
        let t = Instant::now();
        let params = PatchParams::apply("bench").force();
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        for i in 0..NAMESPACES {
            let name = format!("ns-{i}");
            let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            namespaces
                .patch(&name, &params, &Patch::Apply(&ns))
                .await
                .unwrap();
        }
        let discovery = kube::discovery::Discovery::new(client.clone())
            .run()
            .await
            .unwrap();
        futures::stream::iter(objects.iter().map(|o| {
            let client = client.clone();
            let discovery = &discovery;
            let params = &params;
            async move {
                let mut o = o.clone();
                let ns = namespace_of(&o);
                o["metadata"]["namespace"] = ns.clone().into();
                let api_version = o["apiVersion"].as_str().unwrap().to_string();
                let kind = o["kind"].as_str().unwrap().to_string();
                let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
                let gvk = kube::api::GroupVersionKind::gvk(group, version, &kind);
                let (ar, _) = discovery.resolve_gvk(&gvk).unwrap();
                let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &ar);
                let name = o["metadata"]["name"].as_str().unwrap().to_string();
                api.patch(&name, params, &Patch::Apply(&o)).await.unwrap();
            }
        }))
        .buffer_unordered(APPLY_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
        t.elapsed()
    })
}

fn releases(runtime: &tokio::runtime::Runtime, n: usize) {
    let repo = tempfile::tempdir().unwrap();
    repository(repo.path(), n);
    let (template, objects) = helm_template(repo.path(), n);
    assert_eq!(objects.len(), 5 * n);
    let direct_server = support_server();
    let writes = apply_directly(runtime, &direct_server, &objects);
    drop(direct_server);
    let limit = template + writes;

    let dir = tempfile::tempdir().unwrap();
    let (server, _) = support::test_server(dir.path());
    let env: HashMap<&str, String> = HashMap::from([
        (
            "KUBECONFIG",
            dir.path().join("kubeconfig").display().to_string(),
        ),
        ("SEXTANT_REPO_PATH", repo.path().display().to_string()),
        ("SEXTANT_ENVIRONMENTS", "large".into()),
        ("SEXTANT_RESYNC_INTERVAL", "30s".into()),
        (
            "SEXTANT_CACHE_DIR",
            dir.path().join("cache").display().to_string(),
        ),
        ("SEXTANT_LEADER_ELECTION", "false".into()),
    ]);
    let t = Instant::now();
    let agent = Agent::start(&env);
    // Whole reconciles (render, plan, apply, health gates), from `sextant_sync_duration_seconds`.
    let syncs = |a: &Agent| {
        (
            a.metric(r#"sextant_sync_duration_seconds_count{environment="large"}"#),
            a.metric(r#"sextant_sync_duration_seconds_sum{environment="large"}"#),
        )
    };
    eventually(Duration::from_secs(1800), "the first sync", || {
        (syncs(&agent).0 >= 1.0).then_some(())
    });
    let cold = t.elapsed();
    let (_, first_sync) = syncs(&agent);
    let (_, text) = agent.get("/metrics");
    let summed = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    let rendering = summed("sextant_render_duration_seconds_sum");
    let waves = summed("sextant_wave_duration_seconds_sum");
    assert_eq!(
        agent.metric(r#"sextant_sync_total{environment="large",result="succeeded"}"#),
        1.0
    );
    server.clear_requests();
    let (_, both) = eventually(Duration::from_secs(120), "the resync", || {
        Some(syncs(&agent)).filter(|(count, _)| *count >= 2.0)
    });
    let resync = both - first_sync;
    assert_eq!(
        agent.metric(r#"sextant_sync_total{environment="large",result="succeeded"}"#),
        2.0
    );
    let writes_again = server.requests().iter().filter(|r| r.is_write()).count();
    let pid = agent.pid();
    let peak = proc_field(pid, "status", "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    let rss = proc_field(pid, "status", "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    drop(agent);

    println!("scale: {n} releases of a 5-object local chart ({} objects) in one environment, {NAMESPACES} namespaces", 5 * n);
    println!("  limit: helm template of every release, {RENDER_PARALLELISM} at a time: {:.1} s; the objects applied straight to a fresh server, {APPLY_CONCURRENCY} at a time: {:.1} s; sum {:.1} s",
        template.as_secs_f64(), writes.as_secs_f64(), limit.as_secs_f64());
    println!(
        "  first sync: {:.1} s from the agent's start ({:.1} s by sextant_sync_duration_seconds): {:.2} of the limit (target <= 1.25)",
        cold.as_secs_f64(),
        first_sync,
        cold.as_secs_f64() / limit.as_secs_f64()
    );
    println!(
        "    of which rendering {rendering:.1} s summed over releases ({:.1} s at {RENDER_PARALLELISM} at a time), waves {waves:.1} s",
        rendering / RENDER_PARALLELISM as f64
    );
    println!(
        "  no-change resync: {:.3} s, {:.4} of the first sync (target <= 0.05), {writes_again} writes",
        resync,
        resync / first_sync
    );
    println!("  resident memory: peak {peak:.1} MiB, now {rss:.1} MiB (target <= 300 MiB; helm children not counted)");
}

fn support_server() -> sextant_testkit::TestServer {
    sextant_testkit::TestServer::start(sextant_testkit::Options {
        ready_delay: Duration::from_millis(20),
        ..sextant_testkit::Options::default()
    })
    .unwrap()
}

/// The test API server alone: `n` ConfigMaps server-side applied 8 at a time, a LIST of them
/// all, and the watch events one watch of ConfigMaps receives meanwhile.
fn testkit(runtime: &tokio::runtime::Runtime, n: usize) {
    let server = support_server();
    let client = server.client().unwrap();
    runtime.block_on(async {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let ns =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}});
        namespaces
            .patch("t", &PatchParams::apply("bench"), &Patch::Apply(&ns))
            .await
            .unwrap();
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), "t");
        let watched = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = watched.clone();
        let watch_api = api.clone();
        let watcher = tokio::spawn(async move {
            let mut stream = kube::runtime::watcher(watch_api, Default::default()).boxed();
            while let Some(Ok(e)) = stream.next().await {
                // Objects made before the watch began come in its initial list.
                if let kube::runtime::watcher::Event::Apply(_)
                | kube::runtime::watcher::Event::InitApply(_) = e
                {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        let params = PatchParams::apply("bench");
        let t = Instant::now();
        futures::stream::iter((0..n).map(|i| {
            let api = api.clone();
            let params = &params;
            async move {
                let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i}"), "namespace": "t"},
                    "data": {"key": format!("value-{i}"), "payload": "x".repeat(200)}});
                api.patch(&format!("cm-{i}"), params, &Patch::Apply(&cm))
                    .await
                    .unwrap();
            }
        }))
        .buffer_unordered(APPLY_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
        let applies = t.elapsed();
        let deadline = Instant::now() + Duration::from_secs(60);
        while watched.load(std::sync::atomic::Ordering::SeqCst) < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let all_seen = t.elapsed();
        watcher.abort();
        let t = Instant::now();
        let list = api.list(&ListParams::default()).await.unwrap();
        let listed = t.elapsed();
        assert_eq!(list.items.len(), n);
        println!("testkit: {n} ConfigMaps, server-side applied {APPLY_CONCURRENCY} at a time");
        println!(
            "  applies: {:.0} a second ({:.2} s)",
            n as f64 / applies.as_secs_f64(),
            applies.as_secs_f64()
        );
        println!(
            "  one watch saw {} of them within {:.2} s of the first apply",
            watched.load(std::sync::atomic::Ordering::SeqCst),
            all_seen.as_secs_f64()
        );
        println!("  LIST of all {n}: {:.0} ms", listed.as_secs_f64() * 1000.0);
    });
}

const SHARDS: usize = 6;
const LEASE: Duration = Duration::from_secs(15);

/// Six environments `s0`…`s5` of `n / 6` ConfigMaps each, in namespaces of their own.
fn sharded_repository(root: &Path, n: usize) {
    write_file(
        root,
        "charts/many/Chart.yaml",
        "apiVersion: v2\nname: many\nversion: 0.1.0\n",
    );
    write_file(root,
        "charts/many/templates/cms.yaml",
        "{{- range $i := until (int .Values.count) }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ $i }}\ndata:\n  key: value-{{ $i }}\n{{- end }}\n",
    );
    for e in 0..SHARDS {
        write_file(
            root,
            &format!("environments/s{e}/values.yaml"),
            &format!("count: {}\n", n / SHARDS),
        );
        write_file(root,
            &format!("environments/s{e}/environment.yaml"),
            &format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: s{e}\nspec:\n  sync: {{createNamespace: true}}\n  drift:\n    policy: report\n  releases:\n    - {{name: many, namespace: s{e}, chart: charts/many, values: [values.yaml]}}\n"),
        );
    }
}

/// Which environments `agent` holds, applied and watched in full (`per` objects each).
fn held_and_watched(agent: &Agent, per: usize) -> Vec<String> {
    let status = agent.status();
    (0..SHARDS)
        .map(|e| format!("s{e}"))
        .filter(|env| {
            let s = &status["environments"][env];
            s["shard"]["holder"] == status["identity"]
                && s["drift"]["state"] == "in-sync"
                && agent.metric(&format!("sextant_live_objects{{environment=\"{env}\"}}"))
                    >= per as f64
        })
        .collect()
}

fn shards(n: usize) {
    let per = n / SHARDS;
    let repo = tempfile::tempdir().unwrap();
    sharded_repository(repo.path(), n);
    let dir = tempfile::tempdir().unwrap();
    let (_server, _) = support::test_server(dir.path());
    let start = |name: &str| {
        Agent::start(&HashMap::from([
            (
                "KUBECONFIG",
                dir.path().join("kubeconfig").display().to_string(),
            ),
            ("SEXTANT_REPO_PATH", repo.path().display().to_string()),
            (
                "SEXTANT_ENVIRONMENTS",
                (0..SHARDS)
                    .map(|e| format!("s{e}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "SEXTANT_CACHE_DIR",
                dir.path()
                    .join(format!("cache-{name}"))
                    .display()
                    .to_string(),
            ),
            ("SEXTANT_POD_NAME", name.to_string()),
            ("SEXTANT_SHARDING", "true".into()),
            ("SEXTANT_LEASE_DURATION", format!("{}s", LEASE.as_secs())),
        ]))
    };
    let t = Instant::now();
    let a = start("replica-a");
    eventually(
        Duration::from_secs(3600),
        "one replica holding everything",
        || (held_and_watched(&a, per).len() == SHARDS).then_some(()),
    );
    let alone = t.elapsed();
    let rss = |x: &Agent| proc_field(x.pid(), "status", "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    let hwm = |x: &Agent| proc_field(x.pid(), "status", "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    let (a_alone, a_peak) = (rss(&a), hwm(&a));

    let b = start("replica-b");
    let mut c = start("replica-c");
    let three = [&a, &b, &c];
    eventually(
        Duration::from_secs(3600),
        "three replicas holding two each",
        || {
            three
                .iter()
                .all(|x| held_and_watched(x, per).len() == 2)
                .then_some(())
        },
    );
    let shared: Vec<(f64, f64)> = three.iter().map(|x| (rss(x), hwm(x))).collect();

    // The take-over's yardstick: one sync, the slowest environment's mean (its first, cold
    // sync included).
    let env_of_c = held_and_watched(&c, per);
    let synced = |x: &Agent, env: &str| {
        x.metric(&format!(
            "sextant_sync_duration_seconds_count{{environment=\"{env}\"}}"
        ))
    };
    let sums: Vec<f64> = three
        .iter()
        .flat_map(|x| (0..SHARDS).map(move |e| (x, format!("s{e}"))))
        .filter(|(x, env)| held_and_watched(x, per).contains(env))
        .map(|(x, env)| {
            x.metric(&format!(
                "sextant_sync_duration_seconds_sum{{environment=\"{env}\"}}"
            )) / synced(x, &env).max(1.0)
        })
        .collect();
    let one_sync = sums.iter().cloned().fold(0.0, f64::max);
    let before: Vec<f64> = env_of_c
        .iter()
        .map(|e| synced(&a, e) + synced(&b, e))
        .collect();
    let killed = Instant::now();
    c.kill();
    eventually(
        Duration::from_secs(600),
        "the dead replica's environments taken over",
        || {
            env_of_c
                .iter()
                .zip(&before)
                .all(|(e, was)| {
                    synced(&a, e) + synced(&b, e) > *was
                        && (held_and_watched(&a, per).contains(e)
                            || held_and_watched(&b, per).contains(e))
                })
                .then_some(())
        },
    );
    let takeover = killed.elapsed();
    let after: Vec<(f64, f64)> = [&a, &b].iter().map(|x| (rss(x), hwm(x))).collect();

    println!(
        "shards: {n} ConfigMaps in {SHARDS} environments of {per}, sharded, Lease {} s",
        LEASE.as_secs()
    );
    println!("  one replica holding all: {a_alone:.1} MiB resident (peak {a_peak:.1} MiB; target <= 800 MiB), applied and watched {:.0} s after its start", alone.as_secs_f64());
    for (name, (now, peak)) in ["replica-a (held all before)", "replica-b", "replica-c"]
        .iter()
        .zip(&shared)
    {
        println!("  three replicas, two environments each: {name} {now:.1} MiB resident (peak {peak:.1} MiB; target <= 300 MiB)");
    }
    println!(
        "  replica-c killed: its {} environments held and synced again by the others {:.1} s later; Lease {} s + the slowest environment's mean sync {:.2} s = {:.1} s: {:.2} of it",
        env_of_c.len(),
        takeover.as_secs_f64(),
        LEASE.as_secs(),
        one_sync,
        LEASE.as_secs_f64() + one_sync,
        takeover.as_secs_f64() / (LEASE.as_secs_f64() + one_sync)
    );
    for (name, (now, peak)) in ["replica-a", "replica-b"].iter().zip(&after) {
        println!("  after the take-over, three environments each: {name} {now:.1} MiB resident (peak {peak:.1} MiB)");
    }
}

fn main() {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |p: &str| parts.is_empty() || parts.iter().any(|a| a == p);
    let n: usize = std::env::var("SCALE_RELEASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // kube's client spawns its buffer task where it is built.
    let _entered = runtime.enter();
    if wants("testkit") {
        for objects in [10_000, 100_000] {
            testkit(&runtime, objects);
        }
    }
    if wants("releases") {
        releases(&runtime, n);
    }
    if wants("shards") {
        let objects: usize = std::env::var("SCALE_OBJECTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        shards(objects);
    }
}
