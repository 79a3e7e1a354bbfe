//! An environment shaped like the real platform's policies and metrics-server
//! (`fixtures/charts/platform-shaped`: Gatekeeper's ConstraintTemplate CRD, ConstraintTemplates,
//! then their constraints, whose kinds Gatekeeper creates at run time; an APIService with its
//! Service and Deployment), applied with the `sextant` binary on the test API server, whose
//! simulated Gatekeeper and kube-aggregator play their part.

mod support;

use serde_json::Value;
use sextant_testkit::{Options, TestServer, Verb};
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use support::*;

fn repo(values: &str) -> TempRepo {
    let repo = TempRepo::new();
    repo.chart("platform-shaped")
        .write("environments/prod/platform.yaml", values)
        .write(
            "environments/prod/environment.yaml",
            &environment(
                "prod",
                "    - {name: platform, namespace: gatekeeper-system, chart: charts/platform-shaped, wave: 0, values: [platform.yaml]}\n",
            ),
        );
    repo
}

fn server(dir: &Path) -> (TestServer, std::path::PathBuf) {
    let server = TestServer::start(Options {
        ready_delay: Duration::from_millis(20),
        ..Options::default()
    })
    .expect("test API server");
    let kubeconfig = dir.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    (server, kubeconfig)
}

fn run(cache: &Path, repo: &TempRepo, kubeconfig: &Path, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend([
        "--env",
        "prod",
        "--repo",
        repo.path().to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    sextant(cache, &all)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn get(kubeconfig: &Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(workspace().join(".tools/bin/kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "-o", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl get {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_platform_shape_applies_in_full_then_writes_nothing_and_diffs_clean() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (server, kubeconfig) = server(dir.path());
    let repo = repo("{}\n");

    let first = run(
        &cache,
        &repo,
        &kubeconfig,
        &["apply", "--output", "json", "--wave-timeout", "60s"],
    );
    let result = json_of(&first);
    assert!(first.status.success(), "{result:#}");
    // The release's namespace; the CRD, ServiceAccount, Service, Deployment and APIService;
    // three templates; three constraints of the kinds Gatekeeper made from them.
    assert_eq!(result["totals"]["created"], 12, "{result:#}");
    assert_eq!(result["totals"]["failed"], 0);
    let waves: Vec<i64> = result["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["wave"].as_i64().unwrap())
        .collect();
    assert_eq!(waves, [-1, 0, 1]);

    let api = get(&kubeconfig, &["apiservice", "v1beta1.metrics.k8s.io"]);
    assert_eq!(api["status"]["conditions"][0]["type"], "Available");
    assert_eq!(api["status"]["conditions"][0]["status"], "True");
    let template = get(&kubeconfig, &["constrainttemplate", "k8sallowedrepos"]);
    assert_eq!(template["status"]["created"], true);
    assert_eq!(
        template["status"]["byPod"][0]["observedGeneration"],
        template["metadata"]["generation"]
    );
    let constraint = get(
        &kubeconfig,
        &[
            "k8sallowedrepos.constraints.gatekeeper.sh",
            "restricted-allowed-repos",
        ],
    );
    assert_eq!(
        constraint["spec"]["parameters"]["repos"][0],
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/"
    );
    get(&kubeconfig, &["k8srequiredlabels", "restricted-labels"]);

    // Each constraint was applied only once its kind was served: no apply was refused.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !(r.is_write() && r.status >= 400)),
        "a write was refused"
    );

    server.clear_requests();
    let second = run(&cache, &repo, &kubeconfig, &["apply", "--output", "json"]);
    let again = json_of(&second);
    assert!(second.status.success(), "{again:#}");
    assert_eq!(again["totals"]["unchanged"], 11, "{again:#}");
    let writes: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.is_write())
        .map(|r| format!("{:?} {}", r.verb, r.path))
        .collect();
    assert!(
        writes.is_empty(),
        "a second apply writes nothing: {writes:?}"
    );

    let diff = run(&cache, &repo, &kubeconfig, &["diff"]);
    assert_eq!(
        diff.status.code(),
        Some(0),
        "in sync: {}{}",
        String::from_utf8_lossy(&diff.stdout),
        String::from_utf8_lossy(&diff.stderr)
    );
}

#[test]
fn a_custom_resource_whose_kind_nothing_creates_fails_the_plan_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (server, kubeconfig) = server(dir.path());
    let repo = repo("{}\n");
    repo.write(
        "charts/platform-shaped/templates/orphan.yaml",
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sNoSuchPolicy\nmetadata:\n  name: orphan\n  annotations: {sextant.io/sync-wave: \"1\"}\nspec: {}\n",
    );

    // A wave timeout far longer than the test may take: waiting would fail it with the other
    // error (kinds "still not served").
    let out = run(
        &cache,
        &repo,
        &kubeconfig,
        &["apply", "--output", "json", "--wave-timeout", "10m"],
    );
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    for part in [
        "environment prod, release platform, template platform-shaped/templates/orphan.yaml",
        "K8sNoSuchPolicy.constraints.gatekeeper.sh orphan is a constraints.gatekeeper.sh/v1beta1/K8sNoSuchPolicy",
        "no CustomResourceDefinition or Gatekeeper ConstraintTemplate in environment prod creates it",
    ] {
        assert!(error.contains(part), "{part:?} not in {error}");
    }
    // The plan refused it: nothing at all was written.
    assert!(!server.requests().iter().any(|r| r.is_write()));
}

/// A repository with a `widgets` release serving `example.com/v1 Widget` in wave -1 (when
/// `with_crd`) and an `echo` release in wave 0 whose `requires` is `requires`.
fn requiring(with_crd: bool, requires: &str) -> TempRepo {
    let repo = TempRepo::new();
    repo.chart("values-echo").write(
        "charts/widgets/Chart.yaml",
        "apiVersion: v2\nname: widgets\nversion: 0.1.0\n",
    ).write(
        "charts/widgets/templates/crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
    );
    let widgets = "    - {name: widgets, namespace: widgets, chart: charts/widgets, wave: -1}\n";
    let echo = format!(
        "    - {{name: echo, namespace: echo, chart: charts/values-echo, wave: 0, requires: {requires}}}\n"
    );
    let releases = if with_crd {
        format!("{widgets}{echo}")
    } else {
        echo
    };
    repo.write(
        "environments/prod/environment.yaml",
        &environment("prod", &releases),
    );
    repo
}

#[test]
fn a_release_that_requires_a_kind_an_earlier_wave_serves_applies_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (_server, kubeconfig) = server(dir.path());
    let repo = requiring(true, "[example.com/v1/Widget]");

    let out = run(
        &cache,
        &repo,
        &kubeconfig,
        &["apply", "--output", "json", "--wave-timeout", "60s"],
    );
    let result = json_of(&out);
    assert!(out.status.success(), "{result:#}");
    assert_eq!(result["totals"]["failed"], 0, "{result:#}");
    let crd = get(&kubeconfig, &["crd", "widgets.example.com"]);
    assert!(
        crd["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True"),
        "{crd:#}"
    );
    get(&kubeconfig, &["configmap", "-n", "echo", "echo-values"]);
}

#[test]
fn a_release_that_requires_a_kind_the_cluster_never_serves_fails_its_wave_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (server, kubeconfig) = server(dir.path());
    // Marked as the cluster's: the plan lets it through, the sync waits for it.
    let repo = requiring(false, "[{kind: example.com/v1/Widget, from: cluster}]");

    let out = run(
        &cache,
        &repo,
        &kubeconfig,
        &["apply", "--output", "json", "--wave-timeout", "1s"],
    );
    let result = json_of(&out);
    assert!(!out.status.success(), "{result:#}");
    assert_eq!(
        result["error"],
        "wave 0: 1 required kind(s) not served and Established after 1s: release echo requires \
         example.com/v1/Widget: the API server does not serve it",
        "{result:#}"
    );
    // The release's wave did not start.
    assert!(!server
        .requests()
        .iter()
        .any(|r| r.is_write() && r.name.as_deref() == Some("echo-values")));
}

#[test]
fn an_api_service_that_never_becomes_available_times_out_naming_it_and_its_condition() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (_server, kubeconfig) = server(dir.path());
    // metrics-server's pods never become ready, so its Service has no endpoints.
    let repo =
        repo("metricsServer:\n  annotations: {testkit.sextant.io/fail-readiness: \"true\"}\n");

    let out = run(
        &cache,
        &repo,
        &kubeconfig,
        &["apply", "--output", "json", "--wave-timeout", "2s"],
    );
    let result = json_of(&out);
    assert!(!out.status.success(), "{result:#}");
    let error = result["error"].as_str().unwrap();
    assert!(
        error.starts_with("wave -1: 2 object(s) not healthy after 2s: "),
        "{error}"
    );
    assert!(
        error.contains(
            "APIService.apiregistration.k8s.io v1beta1.metrics.k8s.io (condition Available is False: \
             MissingEndpoints: endpoints for service/metrics-server in \"kube-system\" have no \
             addresses with port name \"https\")"
        ),
        "{error}"
    );
    assert!(
        error.contains("Deployment.apps kube-system/metrics-server"),
        "{error}"
    );
}

const CT_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: constrainttemplates.templates.gatekeeper.sh
  annotations: {sextant.io/sync-wave: "-1"}
spec:
  group: templates.gatekeeper.sh
  names: {kind: ConstraintTemplate, plural: constrainttemplates, singular: constrainttemplate}
  scope: Cluster
  versions:
    - {name: v1, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
"#;

const TEMPLATE: &str = r#"apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sallowedrepos
  annotations: {sextant.io/sync-wave: "0"}
spec:
  crd: {spec: {names: {kind: K8sAllowedRepos}}}
  targets: [{target: admission.k8s.gatekeeper.sh, rego: "package k8sallowedrepos\nviolation[{\"msg\": \"no\"}] { false }\n"}]
"#;

const CONSTRAINT: &str = r#"apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata:
  name: restricted-allowed-repos
  annotations: {sextant.io/sync-wave: "1"}
spec:
  enforcementAction: deny
"#;

fn api(
    client: &kube::Client,
    group: &str,
    kind: &str,
    plural: &str,
) -> kube::Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk(group, "v1", kind);
    kube::Api::all_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// Plays the API server's CRD controller and Gatekeeper (the test server's own controllers are
/// off), making the constraint kind served only once the agent has asked for it in vain.
async fn play_gatekeeper(server: std::sync::Arc<TestServer>, client: kube::Client) {
    use kube::api::{Patch, PatchParams, PostParams};
    let crds = api(
        &client,
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );
    let established = serde_json::json!({"status": {"conditions": [
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "ok"}]}});
    let params = PatchParams::default();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let pause = || tokio::time::sleep(Duration::from_millis(10));
    let ct = "constrainttemplates.templates.gatekeeper.sh";
    while crds.get_opt(ct).await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the CRD never came");
        pause().await;
    }
    crds.patch_status(ct, &params, &Patch::Merge(&established))
        .await
        .unwrap();
    let templates = api(
        &client,
        "templates.gatekeeper.sh",
        "ConstraintTemplate",
        "constrainttemplates",
    );
    let template = loop {
        if let Some(t) = templates.get_opt("k8sallowedrepos").await.unwrap() {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the template never came"
        );
        pause().await;
    };
    let generation = template.metadata.generation.unwrap_or(1);
    let status = serde_json::json!({"status": {"created": true,
        "byPod": [{"id": "gatekeeper-0", "observedGeneration": generation}]}});
    templates
        .patch_status("k8sallowedrepos", &params, &Patch::Merge(&status))
        .await
        .unwrap();
    // Gatekeeper is slow: the agent asks for the constraint kind and is told it is not served.
    let asked = |s: &TestServer| {
        s.requests()
            .iter()
            .filter(|r| r.path == "/apis/constraints.gatekeeper.sh/v1beta1" && r.status == 404)
            .count()
    };
    let before = asked(&server);
    while asked(&server) < before + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never asked for the kind"
        );
        pause().await;
    }
    let crd: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "k8sallowedrepos.constraints.gatekeeper.sh"},
        "spec": {"group": "constraints.gatekeeper.sh", "scope": "Cluster",
                 "names": {"kind": "K8sAllowedRepos", "plural": "k8sallowedrepos"},
                 "versions": [{"name": "v1beta1", "served": true, "storage": true, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    crds.patch_status(
        "k8sallowedrepos.constraints.gatekeeper.sh",
        &params,
        &Patch::Merge(&established),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_waits_until_gatekeeper_serves_its_kind_then_applies() {
    let server = std::sync::Arc::new(
        TestServer::start(Options {
            controllers: false,
            ..Options::default()
        })
        .unwrap(),
    );
    let repo = TempRepo::new();
    repo.write(
        "charts/gk/Chart.yaml",
        "apiVersion: v2\nname: gk\nversion: 0.1.0\n",
    )
    .write("charts/gk/templates/crd.yaml", CT_CRD)
    .write("charts/gk/templates/template.yaml", TEMPLATE)
    .write("charts/gk/templates/constraint.yaml", CONSTRAINT)
    .write(
        "environments/test/environment.yaml",
        &environment(
            "test",
            "    - {name: gk, namespace: gatekeeper-system, chart: charts/gk}\n",
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let (env, plan) =
        sextant::plan_environment(&renderer(cache.path()), repo.path(), "test").unwrap();
    let opts = sextant::apply::sync::SyncOptions {
        wave_timeout: Duration::from_secs(10),
        poll_interval: Duration::from_millis(20),
        ..sextant::apply::sync::SyncOptions::for_environment(&env)
    };
    let gatekeeper = tokio::spawn(play_gatekeeper(server.clone(), server.client().unwrap()));
    let cluster = sextant::apply::cluster::KubeCluster::new(server.client().unwrap());
    let result = sextant::apply::sync::sync(&cluster, &env, &plan, &opts).await;
    gatekeeper.await.unwrap();
    assert!(result.succeeded, "{:?}", result.error);
    assert_eq!(
        result.totals.created, 4,
        "namespace, CRD, template, constraint"
    );

    let log = server.requests();
    let at = |f: &dyn Fn(&sextant_testkit::RequestRecord) -> bool| log.iter().position(f).unwrap();
    let crd_made = at(&|r| {
        r.verb == Verb::Create && r.resource.as_deref() == Some("customresourcedefinitions")
    });
    let applied =
        at(&|r| r.verb == Verb::Patch && r.name.as_deref() == Some("restricted-allowed-repos"));
    assert!(
        crd_made < applied,
        "the constraint was applied once its kind was served"
    );
    assert!(
        log[..applied]
            .iter()
            .all(|r| !(r.name.as_deref() == Some("restricted-allowed-repos") && r.status >= 400)),
        "and never refused"
    );
}
