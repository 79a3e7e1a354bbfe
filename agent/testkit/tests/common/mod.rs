//! Shared test helpers: locating and running the real kubectl against a test server,
//! and polling with a bounded deadline instead of sleeping.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sextant_testkit::{Options, TestServer};

/// `$KUBECTL`, else `<workspace>/.tools/bin/kubectl` (installed by `make tools`).
pub fn kubectl_path() -> PathBuf {
    let (path, origin) = match std::env::var_os("KUBECTL") {
        Some(p) => (PathBuf::from(p), "$KUBECTL"),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/kubectl"),
            "the workspace's .tools/bin",
        ),
    };
    assert!(
        path.is_file(),
        "kubectl not found at {} (from {origin}): run `make tools` (installs the pinned kubectl) or set KUBECTL to a kubectl binary",
        path.display()
    );
    path
}

/// Poll `f` until it returns `Some`, failing the test after `deadline`.
pub async fn eventually<T>(
    what: &str,
    deadline: Duration,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A test server with a kubectl wired to it through its own kubeconfig and cache dir.
pub struct Kubectl {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
}

pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    pub fn start() -> Self {
        Self::with(Options::default())
    }

    pub fn with(options: Options) -> Self {
        let bin = kubectl_path();
        let server = TestServer::start(options).expect("test server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        server
            .write_kubeconfig(&dir.path().join("kubeconfig"))
            .expect("kubeconfig written");
        Self { server, dir, bin }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Run kubectl to completion (killed after 10 s), feeding `stdin`.
    pub fn run_with(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.command(args).spawn().expect("kubectl runs");
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).expect("stdin written");
        }
        let out = wait_bounded(child, Duration::from_secs(10));
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, "")
    }

    /// Run and require success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.ok, "kubectl {args:?} failed:\n{}{}", r.stdout, r.stderr);
        r.stdout
    }

    /// `kubectl apply --server-side -f -` of a manifest.
    pub fn apply(&self, manifest: &str) -> String {
        let r = self.run_with(&["apply", "--server-side", "-f", "-"], manifest);
        assert!(r.ok, "kubectl apply failed:\n{}{}", r.stdout, r.stderr);
        r.stdout
    }
}

/// Wait for a child with a deadline, killing it if it overruns.
pub fn wait_bounded(mut child: Child, deadline: Duration) -> Output {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for kubectl: {e}"),
        }
    }
    let _ = child.kill();
    child.wait_with_output().expect("kubectl output")
}

pub const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: MODE, value: prod}]
"#;

pub const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";

pub const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"#;

pub const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    subresources: {status: {}}
"#;

pub const WIDGET: &str = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: shop}\nspec: {size: 3}\n";

/// Poll `f` until it returns `Some`, failing the test after `deadline` (blocking form).
pub fn poll_until<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A test server and a kube client for it.
pub fn start(options: Options) -> (TestServer, kube::Client) {
    let server = TestServer::start(options).expect("server starts");
    let client = server.client().expect("client");
    (server, client)
}

pub fn configmap(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

/// Server-side apply of `obj` as `manager`, without force (the client's side of most SSA tests).
pub async fn apply<K>(
    api: &kube::Api<K>,
    name: &str,
    manager: &str,
    obj: impl serde::Serialize + std::fmt::Debug,
) -> kube::Result<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &kube::api::PatchParams::apply(manager),
        &kube::api::Patch::Apply(obj),
    )
    .await
}
