//! SOPS benchmark: rendering and planning this repository's `local` environment with every
//! values file encrypted by the real `sops` (3.11, age) against the same environment in
//! plaintext, both cold (a new cache and a new renderer each run, since an encrypted release is
//! never cached), alternated, median of 15 runs in one process. Target: ≤ 1.05.
//!
//! Run with `make bench` (or `cargo bench -p sextant --bench sops`) after `make tools`.

use sextant::environment;
use sextant::render::{cache::RenderCache, helm::Helm, Renderer, Settings};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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

/// A copy of the repository's charts and `local` environment under `dir`.
fn repo_copy(root: &Path, dir: &Path) {
    copy_dir(&root.join("helm"), &dir.join("helm"));
    copy_dir(
        &root.join("environments/local"),
        &dir.join("environments/local"),
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let (helm, sops) = (root.join(".tools/bin/helm"), root.join(".tools/bin/sops"));
    assert!(helm.is_file() && sops.is_file(), "run `make tools` first");
    let (plain, sealed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    repo_copy(root, plain.path());
    repo_copy(root, sealed.path());

    // Every values file of the sealed copy encrypted for a fresh key, as the real sops does.
    let id = age::x25519::Identity::generate();
    let keys = sealed.path().join("keys.txt");
    {
        use age::secrecy::ExposeSecret as _;
        std::fs::write(&keys, format!("{}\n", id.to_string().expose_secret())).unwrap();
    }
    let values = sealed.path().join("environments/local/values");
    let mut files = 0;
    for entry in std::fs::read_dir(&values).unwrap() {
        let path = entry.unwrap().path();
        let out = Command::new(&sops)
            .args(["--encrypt", "--age", &id.to_public().to_string()])
            .arg(&path)
            .current_dir(sealed.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&path, out.stdout).unwrap();
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
    for _ in 0..RUNS {
        plain_runs.push(render(plain.path()));
        sealed_runs.push(render(sealed.path()));
    }
    let (p, s) = (median(plain_runs), median(sealed_runs));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("sops benchmark: the local environment, {files} values files, cold render+plan, median of {RUNS} runs");
    println!("  plaintext values                {:8.1} ms", ms(p));
    println!("  every values file SOPS-encrypted {:7.1} ms", ms(s));
    println!(
        "  ratio encrypted / plaintext: {:.3} (target <= 1.05)",
        s.as_secs_f64() / p.as_secs_f64()
    );
}
