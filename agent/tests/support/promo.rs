//! The promotion world, for tests and the benchmark, all on 127.0.0.1: the fake GitHub holding
//! a repository with dev and prod (a real bare repository, served to both agents by `git
//! daemon`), two test API servers (the dev and the prod clusters), and the real registry
//! (CNCF distribution) holding the images, pushed as real blobs and manifests.

use super::git::GitDaemon;
use forge_testkit::{FakeGitHub, Options};
use registry_testkit::Distribution;
use sextant_testkit::TestServer;
use std::collections::HashMap;

pub const DEV_VALUES: &str = "environments/dev/values/hash-service.yaml";
pub const PROD_VALUES: &str = "environments/prod/values/hash-service.yaml";

/// A values file as a human wrote it, the digest on its own line.
pub fn values(digest: &str, replicas: u32) -> String {
    format!(
        "---\n# overrides for helm/hash-service.\nimage:\n  repository: registry.example.com/hash-service\n  tag: \"0.1.0\"\n  digest: {digest}   # promoted from dev\n\nreplicaCount: {replicas}\nautoscaling:\n  enabled: false\ningress:\n  enabled: false\nroute:\n  enabled: false\nserviceMonitor:\n  enabled: false\nprometheusRule:\n  enabled: false\ndashboard:\n  enabled: false\n"
    )
}

/// prod's environment file with its promotion block.
pub fn prod_environment(promotion: &str) -> String {
    environment("prod", promotion)
}

fn environment(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n  releases:\n    - {{name: hash-service, namespace: hash-service, chart: helm/hash-service, values: [values/hash-service.yaml]}}\n  drift:\n    policy: report\n  sync:\n    waveTimeout: 4s\n{extra}"
    )
}

/// prod's promotion block: from dev, a short soak, the image in the test's registry.
pub fn promotion(mode: &str, soak: &str, repository: &str, checks: &str) -> String {
    promotion_from("dev", mode, soak, repository, checks)
}

/// A promotion block from `from`.
pub fn promotion_from(
    from: &str,
    mode: &str,
    soak: &str,
    repository: &str,
    checks: &str,
) -> String {
    format!(
        "  promotion:\n    from: {from}\n    mode: {mode}\n    soak: {soak}\n    images:\n      - {{release: hash-service, path: image.digest, repository: \"{repository}\"}}\n{checks}"
    )
}

/// staging's values file, in a chain dev → staging → prod.
pub const STAGING_VALUES: &str = "environments/staging/values/hash-service.yaml";

pub struct Promo {
    pub fake: FakeGitHub,
    pub git: GitDaemon,
    pub registry: Distribution,
    pub dev: TestServer,
    pub prod: TestServer,
    /// The third cluster of a chain dev → staging → prod ([`Promo::chain`]).
    pub staging: Option<TestServer>,
    pub dir: tempfile::TempDir,
    /// The images pushed, oldest first: `images[0]` runs in both environments at the start.
    pub images: Vec<String>,
}

impl Promo {
    /// `pushed` images in the registry; both environments run the first; prod promotes with
    /// `promotion` (built by [`promotion`], given the registry's repository).
    pub fn new(pushed: usize, promotion_of: impl Fn(&str) -> String) -> Promo {
        Promo::build(pushed, |repository| {
            vec![("prod", promotion_of(repository), PROD_VALUES, 2)]
        })
    }

    /// A chain: staging promotes from dev and prod from staging, each in pull-request mode
    /// with `soak`; three clusters.
    pub fn chain(pushed: usize, soak: &str) -> Promo {
        Promo::build(pushed, |repository| {
            vec![
                (
                    "staging",
                    promotion_from("dev", "pull-request", soak, repository, ""),
                    STAGING_VALUES,
                    1,
                ),
                (
                    "prod",
                    promotion_from("staging", "pull-request", soak, repository, ""),
                    PROD_VALUES,
                    2,
                ),
            ]
        })
    }

    /// dev, and the targets `targets_of` names given the registry's repository: (environment,
    /// its promotion block, its values file, its replicas).
    fn build(
        pushed: usize,
        targets_of: impl Fn(&str) -> Vec<(&'static str, String, &'static str, u32)>,
    ) -> Promo {
        let registry = Distribution::start();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Each image differs by its layer: distinct digests for the same platform.
        let images: Vec<String> = (0..pushed)
            .map(|i| {
                rt.block_on(registry.push(
                    "hash-service",
                    &registry_testkit::Image::new(&format!("hash-service {i}"), "linux/amd64"),
                ))
            })
            .collect();
        let repository = format!("{}/hash-service", registry.host());
        let fake = FakeGitHub::start(Options::default()).expect("fake GitHub");
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        super::pr::files_under(&super::workspace(), "helm/hash-service", &mut files);
        files.push((
            "environments/dev/environment.yaml".to_string(),
            environment("dev", "").into_bytes(),
        ));
        files.push((DEV_VALUES.to_string(), values(&images[0], 1).into_bytes()));
        let targets = targets_of(&repository);
        for (name, promotion, values_file, replicas) in &targets {
            files.push((
                format!("environments/{name}/environment.yaml"),
                environment(name, promotion).into_bytes(),
            ));
            files.push((
                values_file.to_string(),
                values(&images[0], *replicas).into_bytes(),
            ));
        }
        let seeded: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        fake.seed("main", &seeded, "the platform").unwrap();
        let git = GitDaemon::serve(fake.dir());
        let dir = tempfile::tempdir().unwrap();
        for env in ["dev", "staging", "prod"] {
            std::fs::create_dir_all(dir.path().join(env)).unwrap();
        }
        let (dev, _) = super::test_server(&dir.path().join("dev"));
        let (prod, _) = super::test_server(&dir.path().join("prod"));
        let staging = targets
            .iter()
            .any(|(name, ..)| *name == "staging")
            .then(|| super::test_server(&dir.path().join("staging")).0);
        std::fs::write(dir.path().join("token"), &fake.options().token).unwrap();
        Promo {
            fake,
            git,
            registry,
            dev,
            prod,
            staging,
            dir,
            images,
        }
    }

    /// The settings of the agent running `env` (its own cluster, the same repository and forge).
    pub fn env(&self, env: &str, name: &str) -> HashMap<&'static str, String> {
        let d = self.dir.path();
        HashMap::from([
            (
                "KUBECONFIG",
                d.join(env).join("kubeconfig").display().to_string(),
            ),
            ("SEXTANT_REPO_URL", self.git.url("deploy")),
            ("SEXTANT_BRANCH", "main".into()),
            ("SEXTANT_ENVIRONMENTS", env.to_string()),
            ("SEXTANT_POLL_INTERVAL", "1s".into()),
            // Retries after 1 s, 2 s, …: a test sees a retry without waiting out 5 s.
            ("SEXTANT_RETRY_BASE", "1s".into()),
            (
                "SEXTANT_CACHE_DIR",
                d.join(format!("cache-{name}")).display().to_string(),
            ),
            ("SEXTANT_POD_NAME", name.to_string()),
            ("SEXTANT_LEADER_ELECTION", "false".into()),
            ("SEXTANT_FORGE_API_URL", self.fake.url()),
            ("SEXTANT_FORGE_REPOSITORY", "acme/deploy".into()),
            (
                "SEXTANT_FORGE_TOKEN_FILE",
                d.join("token").display().to_string(),
            ),
            ("SEXTANT_REGISTRY_INSECURE", self.registry.host()),
        ])
    }

    /// A commit on main that sets dev's digest.
    pub fn bump_dev(&self, digest: &str) -> String {
        self.fake
            .seed(
                "main",
                &[(DEV_VALUES, values(digest, 1).as_bytes())],
                "dev: new image",
            )
            .unwrap()
    }

    /// The image of hash-service's Deployment in a cluster.
    pub fn image(server: &TestServer) -> Option<String> {
        super::block_on(async {
            let d: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
                kube::Api::namespaced(server.client().unwrap(), "hash-service");
            d.get_opt("hash-service")
                .await
                .ok()
                .flatten()?
                .spec?
                .template
                .spec?
                .containers
                .first()?
                .image
                .clone()
        })
    }

    pub fn open_pulls(&self, label: &str) -> Vec<forge_testkit::PullRequest> {
        self.fake
            .pulls()
            .into_iter()
            // GitHub's label names are unique regardless of case.
            .filter(|p| p.open && p.labels.iter().any(|l| l.eq_ignore_ascii_case(label)))
            .collect()
    }
}
