//! Render benchmark, reported as ratios measured in one run:
//! 1. rendering both environments of this repository (cold cache) against the same
//!    `helm template` calls made directly, one after another (target ≤ 1.15);
//! 2. a second render with nothing changed against the first (target ≤ 0.05, the cache);
//! 3. the same for the `upstream-shaped` test chart (1.1 MB of rendered YAML, three
//!    Prometheus-Operator-sized CRDs, 35 custom resources), where parsing, labelling and hashing
//!    weigh most against helm's own time;
//! 4. the `local` environment with its values files SOPS-encrypted against the same in
//!    plaintext (target ≤ 1.05).
//!
//! Run with `make bench` (or `cargo bench -p sextant --bench render`).

#[path = "../tests/support/mod.rs"]
mod support;

use sextant::environment::{self, Chart};
use sextant::render::{cache::RenderCache, helm::Helm, Renderer, Settings};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;
const SOPS_RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let helm = root.join(".tools/bin/helm");
    assert!(helm.is_file(), "run `make tools` first");
    measure(
        &helm,
        &root,
        &["local"],
        "this repository's environment local (dev and prod pull upstream charts)",
    );

    // The large test chart, in a repository of its own.
    let corpus = tempfile::tempdir().unwrap();
    let chart = root.join("agent/tests/fixtures/charts/upstream-shaped");
    let target = corpus.path().join("charts/upstream-shaped");
    support::copy_dir(&chart, &target);
    let env_dir = corpus.path().join("environments/corpus");
    std::fs::create_dir_all(&env_dir).unwrap();
    std::fs::write(
        env_dir.join("environment.yaml"),
        "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata: {name: corpus}\nspec:\n  releases:\n    - {name: demo, namespace: corpus, chart: charts/upstream-shaped}\n",
    )
    .unwrap();
    measure(
        &helm,
        corpus.path(),
        &["corpus"],
        "the upstream-shaped test chart",
    );
    sops(&root, &helm);
}

fn measure(helm: &Path, repo: &Path, names: &[&str], label: &str) {
    let helm = helm.to_path_buf();
    let envs: Vec<_> = names
        .iter()
        .map(|e| environment::load(repo, e).expect("the environments are valid"))
        .collect();

    let direct_calls: Vec<Vec<std::ffi::OsString>> = envs
        .iter()
        .flat_map(|env| env.releases.iter())
        .map(|r| {
            let Chart::Local(chart) = &r.chart else {
                panic!("local charts")
            };
            let mut args: Vec<std::ffi::OsString> = vec![
                "template".into(),
                r.name.clone().into(),
                repo.join(chart).into(),
                "--namespace".into(),
                r.namespace.clone().into(),
                "--include-crds".into(),
            ];
            for v in &r.values {
                args.push("--values".into());
                args.push(v.clone().into());
            }
            args
        })
        .collect();

    let renderer = |cache: &Path, parallelism: usize| {
        Renderer::new(
            Helm::new(helm.clone()),
            RenderCache::new(cache),
            Settings {
                parallelism,
                ..Settings::default()
            },
        )
    };
    let plan_all = |r: &Renderer| {
        for env in &envs {
            let rendered = r.render(env, None).expect("render");
            sextant::plan::build(&env.name, None, rendered.objects).expect("plan");
        }
    };

    let (mut direct, mut cold_seq, mut cold_par, mut warm) = (vec![], vec![], vec![], vec![]);
    let parallel = Settings::default().parallelism;
    for _ in 0..RUNS {
        let t = Instant::now();
        for args in &direct_calls {
            let ok = Command::new(&helm)
                .args(args)
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "helm template failed");
        }
        direct.push(t.elapsed());

        let cache = tempfile::tempdir().unwrap();
        let t = Instant::now();
        plan_all(&renderer(cache.path(), 1));
        cold_seq.push(t.elapsed());

        let cache: PathBuf = tempfile::tempdir().unwrap().keep();
        let t = Instant::now();
        plan_all(&renderer(&cache, parallel));
        cold_par.push(t.elapsed());
        // A new renderer: nothing is remembered in memory, only the cache on disk.
        let t = Instant::now();
        plan_all(&renderer(&cache, parallel));
        warm.push(t.elapsed());
        let _ = std::fs::remove_dir_all(&cache);
    }
    let (direct, cold_seq, cold_par, warm) = (
        median(direct),
        median(cold_seq),
        median(cold_par),
        median(warm),
    );
    println!(
        "render benchmark: {} helm template calls ({label}), median of {RUNS} runs",
        direct_calls.len()
    );
    println!(
        "  helm template, direct, one at a time   {:8.1} ms",
        ms(direct)
    );
    println!(
        "  sextant render+plan, cold, 1 at a time {:8.1} ms",
        ms(cold_seq)
    );
    println!(
        "  sextant render+plan, cold, {parallel} at a time {:8.1} ms",
        ms(cold_par)
    );
    println!(
        "  sextant render+plan, warm (cache)      {:8.1} ms",
        ms(warm)
    );
    println!(
        "  ratio cold (1 at a time) / direct helm: {:.2} (target <= 1.15)",
        cold_seq.as_secs_f64() / direct.as_secs_f64()
    );
    println!(
        "  ratio cold ({parallel} at a time) / direct helm: {:.2}",
        cold_par.as_secs_f64() / direct.as_secs_f64()
    );
    println!(
        "  ratio second render / first render:     {:.3} (target <= 0.05)",
        warm.as_secs_f64() / cold_par.as_secs_f64()
    );
}

/// A copy of the repository's charts and `local` environment under `dir`.
fn repo_copy(root: &Path, dir: &Path) {
    support::copy_dir(&root.join("helm"), &dir.join("helm"));
    support::copy_dir(
        &root.join("environments/local"),
        &dir.join("environments/local"),
    );
}

/// SOPS: rendering and planning this repository's `local` environment with every values file
/// encrypted by the real `sops` (3.11, age) against the same environment in plaintext, both
/// cold (a new cache and a new renderer each run, since an encrypted release is never cached),
/// alternated, median of 15 runs. Target: ≤ 1.05.
fn sops(root: &Path, helm: &Path) {
    let helm = helm.to_path_buf();
    let (plain, sealed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    repo_copy(root, plain.path());
    repo_copy(root, sealed.path());

    // Every values file of the sealed copy encrypted for a fresh key, as the real sops does.
    let (key_text, recipient) = support::sops::key_pair();
    let keys = sealed.path().join("keys.txt");
    std::fs::write(&keys, key_text).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let values = sealed.path().join("environments/local/values");
    let mut files = 0;
    for entry in std::fs::read_dir(&values).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let encrypted = support::sops::encrypt(scratch.path(), &text, &recipient);
        std::fs::write(&path, encrypted).unwrap();
        files += 1;
    }
    // SAFETY: set before any thread of this process reads the environment.
    unsafe { std::env::set_var("SOPS_AGE_KEY_FILE", &keys) };

    let render = |repo: &Path| {
        let env = environment::load(repo, "local").expect("the environment is valid");
        let cache = tempfile::tempdir().unwrap();
        let renderer = Renderer::new(
            Helm::new(helm.clone()),
            RenderCache::new(cache.path()),
            Settings {
                parallelism: 1,
                ..Settings::default()
            },
        );
        let t = Instant::now();
        let rendered = renderer.render(&env, None).expect("render");
        sextant::plan::build(&env.name, None, rendered.objects).expect("plan");
        t.elapsed()
    };
    // One of each first: helm's and the page cache's first touches are not measured.
    render(plain.path());
    render(sealed.path());
    let (mut plain_runs, mut sealed_runs) = (Vec::new(), Vec::new());
    for _ in 0..SOPS_RUNS {
        plain_runs.push(render(plain.path()));
        sealed_runs.push(render(sealed.path()));
    }
    let (p, s) = (median(plain_runs), median(sealed_runs));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("sops benchmark: the local environment, {files} values files, cold render+plan, median of {SOPS_RUNS} runs");
    println!("  plaintext values                {:8.1} ms", ms(p));
    println!("  every values file SOPS-encrypted {:7.1} ms", ms(s));
    println!(
        "  ratio encrypted / plaintext: {:.3} (target <= 1.05)",
        s.as_secs_f64() / p.as_secs_f64()
    );
}
