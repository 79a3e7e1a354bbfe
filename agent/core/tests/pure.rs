//! The core stays pure: nothing it depends on, directly or through another crate, is an I/O
//! client or an async runtime. Read from `cargo metadata`'s resolved graph (normal dependencies;
//! tests may use anything).

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::process::Command;

/// Crates the core must never link: runtimes, clients and servers of the edges.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "kube",
    "kube-client",
    "kube-runtime",
    "k8s-openapi",
    "reqwest",
    "hyper",
    "git2",
    "axum",
    "oci-client",
    "prometheus",
];

/// The host's target triple, as rustc reports it.
fn host() -> String {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host")
}

fn metadata() -> Value {
    // The host's graph only: what a build here links (and what a fresh machine has fetched).
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", &host()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The names of every package `root` links, through normal (not dev or build) dependencies.
fn linked(meta: &Value, root: &str) -> BTreeSet<String> {
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let start = names
        .iter()
        .find(|(_, n)| **n == root)
        .map(|(id, _)| *id)
        .expect("the core is in the workspace");
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(id) = todo.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let pkg = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(names[pkg].to_string()) {
                todo.push(pkg);
            }
        }
    }
    seen
}

#[test]
fn the_core_links_no_runtime_and_no_client() {
    let meta = metadata();
    let linked = linked(&meta, "sextant-core");
    let bad: Vec<&String> = linked
        .iter()
        .filter(|l| FORBIDDEN.contains(&l.as_str()) || l.starts_with("aws-"))
        .collect();
    assert!(bad.is_empty(), "sextant-core links {bad:?}");
    // The check itself sees the graph: the agent does link them.
    let agent = self::linked(&meta, "sextant");
    for edge in ["tokio", "kube", "git2", "reqwest", "prometheus"] {
        assert!(agent.contains(edge), "the agent links {edge}");
    }
}
