//! The drift pull-request world, for tests and the benchmark: the fake GitHub holding a
//! prod-like repository (a real bare repository, served to the agent by `git daemon`), the test
//! API server, and the settings that point `sextant run` at both.

use super::git::GitDaemon;
use forge_testkit::{FakeGitHub, Options};
use sextant_testkit::TestServer;
use std::collections::HashMap;
use std::path::Path;

pub const VALUES: &str = "environments/prod/values/hash-service.yaml";

/// prod's values for hash-service, as a human wrote them: comments, quoting, a blank line, a
/// flow list. Autoscaling is off, so `replicaCount` sets the Deployment's replicas.
pub const PROD_VALUES: &str = r#"---
# prod overrides for helm/hash-service (release hash-service, namespace hash-service).
image:
  repository: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/hash-service
  tag: "0.1.0"
  digest: sha256:f25476cba5a0a0629c26e808206428b2ec0b9b8c03a37a410a921aa3efea0ef2

# Fixed size while the load test runs; the HPA comes back after it.
replicaCount: 3   # one per zone
logLevel: 'info'
autoscaling:
  enabled: false
resources:
  requests: {cpu: 200m, memory: 64Mi}
  limits: {cpu: 200m, memory: 64Mi}
ingress:
  enabled: false
route:
  enabled: false
serviceMonitor:
  enabled: false
prometheusRule:
  enabled: false
dashboard:
  enabled: false
"#;

pub fn prod_environment(extra: &str) -> String {
    format!(
        "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {{name: hash-service, namespace: hash-service, chart: helm/hash-service, values: [values/hash-service.yaml]}}\n  drift:\n    policy: pull-request\n    pullRequest:\n      delay: 0s\n      labels: [prod]\n{extra}"
    )
}

/// Every file under `root/rel`, as (repository path, bytes): a folder to seed the fake with.
pub fn files_under(root: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(root.join(rel)).unwrap() {
        let e = e.unwrap();
        let name = format!("{rel}/{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            files_under(root, &name, out);
        } else {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
}

pub struct World {
    pub fake: FakeGitHub,
    pub git: GitDaemon,
    pub server: TestServer,
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new(environment: &str) -> World {
        World::with(environment, &[])
    }

    /// The platform plus `extra` files.
    pub fn with(environment: &str, extra: &[(&str, &str)]) -> World {
        let fake = FakeGitHub::start(Options::default()).expect("fake GitHub");
        let mut files: Vec<(String, Vec<u8>)> = extra
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect();
        files_under(&super::workspace(), "helm/hash-service", &mut files);
        files.push((
            "environments/prod/environment.yaml".into(),
            environment.as_bytes().to_vec(),
        ));
        files.push((VALUES.into(), PROD_VALUES.as_bytes().to_vec()));
        let seeded: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        fake.seed("main", &seeded, "the platform").unwrap();
        let git = GitDaemon::serve(fake.dir());
        let dir = tempfile::tempdir().unwrap();
        let (server, _) = super::test_server(dir.path());
        std::fs::write(dir.path().join("token"), &fake.options().token).unwrap();
        World {
            fake,
            git,
            server,
            dir,
        }
    }

    pub fn env(&self, name: &str) -> HashMap<&'static str, String> {
        let d = self.dir.path();
        HashMap::from([
            ("KUBECONFIG", d.join("kubeconfig").display().to_string()),
            ("SEXTANT_REPO_URL", self.git.url("deploy")),
            ("SEXTANT_BRANCH", "main".into()),
            ("SEXTANT_ENVIRONMENTS", "prod".into()),
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
        ])
    }

    pub fn kubectl(&self, args: &[&str]) {
        super::kubectl_ok(&self.dir.path().join("kubeconfig"), args);
    }

    /// `kubectl scale` of prod's hash-service Deployment.
    pub fn scale(&self, replicas: usize) {
        self.kubectl(&[
            "scale",
            "deployment/hash-service",
            "-n",
            "hash-service",
            &format!("--replicas={replicas}"),
        ]);
    }

    pub fn replicas(&self) -> Option<i32> {
        super::block_on(async {
            let d: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
                kube::Api::namespaced(self.server.client().unwrap(), "hash-service");
            d.get_opt("hash-service")
                .await
                .ok()
                .flatten()?
                .spec?
                .replicas
        })
    }

    /// How many writes the cluster has taken in the release's namespace `hash-service`.
    pub fn requests_to_cluster_that_write(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| {
                r.is_write() && !r.dry_run && r.namespace.as_deref() == Some("hash-service")
            })
            .count()
    }

    /// The open drift pull requests in the fake.
    pub fn open_pulls(&self) -> Vec<forge_testkit::PullRequest> {
        self.fake.pulls().into_iter().filter(|p| p.open).collect()
    }
}
