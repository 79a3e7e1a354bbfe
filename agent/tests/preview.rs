//! `sextant preview` as a person or CI runs it: a Git repository with a change in its working
//! tree or on a branch, and the test API server holding what the base applied. It writes
//! nothing; its exit code says whether the change would apply.

mod support;

use std::path::Path;
use std::process::Output;
use support::git::git;
use support::*;

fn write(repo: &Path, path: &str, text: &str) {
    let file = repo.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

const PROD: &str = "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {name: web, namespace: prod, chart: charts/web, values: [values/web.yaml]}\n    - {name: extra, namespace: prod, chart: charts/extra}\n  sync:\n    createNamespace: true\n";

/// prod with two releases: `web` (a Deployment whose replicas come from values) and `extra`
/// (three ConfigMaps), committed on `main`; applied to the test API server.
fn world(
    dir: &Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    sextant_testkit::TestServer,
) {
    let repo = dir.join("repo");
    write(
        &repo,
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    write(
        &repo,
        "charts/web/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{ .Values.replicaCount }}\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - {name: web, image: example.com/web:1}\n",
    );
    write(
        &repo,
        "charts/extra/Chart.yaml",
        "apiVersion: v2\nname: extra\nversion: 0.1.0\n",
    );
    for i in 0..3 {
        write(
            &repo,
            &format!("charts/extra/templates/cm{i}.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-{i}\ndata:\n  n: \"{i}\"\n"),
        );
    }
    write(&repo, "environments/prod/environment.yaml", PROD);
    write(
        &repo,
        "environments/prod/values/web.yaml",
        "replicaCount: 2\n",
    );
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "prod"]);
    let (server, kubeconfig) = test_server(dir);
    apply(dir, &repo, &kubeconfig);
    (repo, kubeconfig, server)
}

/// `sextant apply` of prod from `repo`'s working tree.
fn apply(dir: &Path, repo: &Path, kubeconfig: &Path) {
    sextant_ok(
        &dir.join("cache"),
        &[
            "apply",
            "--env",
            "prod",
            "--repo",
            repo.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--wave-timeout",
            "10s",
        ],
    );
}

fn preview(dir: &Path, repo: &Path, kubeconfig: &Path, extra: &[&str]) -> (Output, String) {
    let mut args = vec![
        "preview",
        "--env",
        "prod",
        "--repo",
        repo.to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = sextant(&dir.join("cache"), &args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    (out, text)
}

/// A values change in the working tree: the Deployment it changes, the field a sync would
/// write, and a success; nothing written to the cluster.
#[test]
fn a_values_change_shows_the_object_and_the_field_it_moves_and_would_apply() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, kubeconfig, server) = world(dir.path());
    write(
        &repo,
        "environments/prod/values/web.yaml",
        "replicaCount: 5\n",
    );
    // What a preview sends the API server: reads and server-side dry-runs, never a write.
    let sent = |s: &sextant_testkit::TestServer, dry_run: bool| {
        s.requests()
            .iter()
            .filter(|r| r.method != "GET" && r.dry_run == dry_run)
            .count()
    };
    let (writes, dry_runs) = (sent(&server, false), sent(&server, true));

    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in [
        "### Sextant preview: `prod`",
        "(working tree)",
        "Verdict: **success**",
        "1 object(s): 0 added, 1 changed, 0 removed. The cluster would be written for 1; 0 would be pruned; 0 hook(s) would run.",
        // The API server's answer to a dry-run of the write.
        "--- live/Deployment/prod/web\n+++ dry-run/Deployment/prod/web",
        "| 0 | web | `Deployment.apps prod/web` | changed |",
        "+  replicas: 5",
        // The values key that moved it, found by rendering the head with it set back.
        "| web | `replicaCount` | `2` | `5` | `Deployment.apps prod/web /spec/replicas` |",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    assert_eq!(sent(&server, false), writes, "a preview writes nothing");
    assert_eq!(
        sent(&server, true),
        dry_runs + 1,
        "the one changed object is sent as a dry-run"
    );

    let (out, json) = preview(dir.path(), &repo, &kubeconfig, &["--output", "json"]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["verdict"], "success");
    assert_eq!(doc["git"][0]["change"], "changed");
    assert_eq!(doc["git"][0]["object"], "Deployment.apps prod/web");
    assert!(
        doc["cluster"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("replicas: 5"),
        "{doc}"
    );
}

/// What only the API server can say: a field another manager owns is a conflict the sync would
/// fail on (exit 1, naming the object and the manager). And what else the change does: the CRD
/// it adds, a custom resource of the kind not served yet (merged by the agent, the server
/// cannot be asked), and the hook its changed release would run.
#[test]
fn a_field_another_manager_owns_is_a_conflict_and_crds_and_hooks_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, kubeconfig, _server) = world(dir.path());
    // Someone takes `data.n` of extra-0 over with a field manager of their own.
    let taken = dir.path().join("taken.yaml");
    std::fs::write(
        &taken,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-0\n  namespace: prod\ndata:\n  n: \"ops\"\n",
    )
    .unwrap();
    kubectl_ok(
        &kubeconfig,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=ops",
            "-f",
            taken.to_str().unwrap(),
        ],
    );
    write(
        &repo,
        "charts/extra/templates/cm0.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-0\ndata:\n  n: \"changed\"\n",
    );
    write(
        &repo,
        "charts/extra/templates/crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
    );
    write(
        &repo,
        "charts/extra/templates/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: one\nspec:\n  size: 3\n",
    );
    write(
        &repo,
        "charts/extra/templates/hook.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    helm.sh/hook: pre-upgrade\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: busybox}]\n",
    );

    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for part in [
        "Verdict: **failure**: the API server would refuse ConfigMap prod/extra-0: conflict with another field manager",
        "The API server would refuse (server-side dry-run):",
        "| `ConfigMap prod/extra-0` | extra | conflict with another field manager",
        "conflict with \"ops\"",
        "and would refuse 1",
        "- `CustomResourceDefinition.apiextensions.k8s.io widgets.example.com`: added",
        "<code>Widget.example.com prod/one</code> (extra, merged by the agent",
        "Hooks that would run (their release changed):",
        "- `Job.batch prod/migrate` (extra, PreSync)",
        "1 hook(s) would run",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
}

/// A change is untrusted: a remote chart from a repository no environment on the tracked
/// branch pulls from fails the preview before helm is run, so the agent contacts no new host.
#[test]
fn a_chart_from_a_repository_the_tracked_branch_never_uses_is_not_pulled() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, kubeconfig, _server) = world(dir.path());
    write(
        &repo,
        "environments/prod/environment.yaml",
        &format!(
            "{}    - {{name: probe, namespace: prod, chart: {{repository: \"https://charts.example.net/stable\", name: probe, version: 1.0.0}}}}\n",
            PROD.split("  sync:").next().unwrap()
        ),
    );
    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Verdict: **failure**: release probe: chart repository https://charts.example.net/stable is not one the tracked branch pulls from, nor mirrored"),
        "{text}"
    );
}

/// A branch that drops a release: its objects listed as pruned, and since they are most of
/// the environment, the mass-prune guard would stop the sync: a failure, exit 1.
#[test]
fn a_branch_removing_a_release_lists_its_prunes_and_the_guard_that_would_stop_them() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, kubeconfig, _server) = world(dir.path());
    git(&repo, &["checkout", "-q", "-b", "drop-extra"]);
    write(
        &repo,
        "environments/prod/environment.yaml",
        &PROD.replace(
            "    - {name: extra, namespace: prod, chart: charts/extra}\n",
            "",
        ),
    );
    git(&repo, &["commit", "-q", "-am", "drop extra"]);
    git(&repo, &["checkout", "-q", "main"]);

    let (out, text) = preview(
        dir.path(),
        &repo,
        &kubeconfig,
        &["--base", "main", "--head", "drop-extra"],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    for part in [
        "Verdict: **failure**: the mass-prune guard would stop the sync",
        "3 removed",
        "3 would be pruned",
        "- `ConfigMap prod/extra-0`",
        "**The mass-prune guard would stop the sync**: prune blocked: this revision would delete 3 of the environment's 4 objects",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
}

/// A template that does not render: a failure naming the template and its line, exit 1.
#[test]
fn a_broken_template_is_a_failure_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, kubeconfig, _server) = world(dir.path());
    write(
        &repo,
        "charts/web/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{ .Values.replicaCount | nosuchfunction }}\n",
    );
    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Verdict: **failure**: the head does not render"),
        "{text}"
    );
    assert!(
        text.contains("deployment.yaml:6"),
        "the file and line: {text}"
    );
}

/// The tracked branch's Gatekeeper constraints (the platform's helm/policies, on a real Rego
/// engine) judge what the change adds: a privileged container is a failure naming the
/// constraint, and a change the constraints admit passes.
#[test]
fn a_privileged_container_is_a_failure_naming_the_gatekeeper_constraint() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_dir(
        &workspace().join("helm/policies"),
        &repo.join("helm/policies"),
    );
    write(
        &repo,
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    let deployment = |security: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{{{ .Values.replicaCount }}}}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n          image: example.com/web:1\n{security}")
    };
    write(
        &repo,
        "charts/web/templates/deployment.yaml",
        &deployment(""),
    );
    write(
        &repo,
        "environments/prod/environment.yaml",
        "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases:\n    - {name: policies, namespace: gatekeeper-system, chart: helm/policies, requires: [{kind: templates.gatekeeper.sh/v1/ConstraintTemplate, from: cluster}]}\n    - {name: web, namespace: prod, chart: charts/web, wave: 1, values: [values/web.yaml]}\n",
    );
    write(
        &repo,
        "environments/prod/values/web.yaml",
        "replicaCount: 2\n",
    );
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "prod"]);
    let (_server, kubeconfig) = test_server(dir.path());

    write(
        &repo,
        "environments/prod/values/web.yaml",
        "replicaCount: 3\n",
    );
    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(0), "admitted: {text}");
    assert!(!text.contains("Gatekeeper:"), "{text}");

    write(
        &repo,
        "charts/web/templates/deployment.yaml",
        &deployment("          securityContext: {privileged: true}\n"),
    );
    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["verdict"], "failure");
    assert_eq!(
        doc["policy"][0]["constraint"], "K8sNoPrivileged/baseline-no-privileged",
        "{doc:#}"
    );
    assert_eq!(doc["policy"][0]["object"], "Deployment.apps prod/web");
    assert_eq!(doc["policy"][0]["action"], "deny");
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "K8sNoPrivileged/baseline-no-privileged denies Deployment.apps prod/web: "
        ),
        "{reason}"
    );
    let (_, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert!(
        text.contains(
            "| `Deployment.apps prod/web` | `K8sNoPrivileged/baseline-no-privileged` | deny |"
        ),
        "{text}"
    );
}

/// A Secret the change adds or changes shows only that it changed: neither its values key's
/// value nor its data reach the report.
#[test]
fn a_secret_the_change_sets_shows_only_that_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, kubeconfig, _server) = world(dir.path());
    write(
        &repo,
        "charts/web/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\nstringData:\n  password: {{ .Values.password | quote }}\n",
    );
    write(
        &repo,
        "environments/prod/values/web.yaml",
        "replicaCount: 2\npassword: hunter2-in-values\n",
    );
    for output in ["markdown", "json"] {
        let (out, text) = preview(dir.path(), &repo, &kubeconfig, &["--output", output]);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(!text.contains("hunter2"), "{output}: {text}");
        assert!(text.contains("Secret prod/web"), "{output}: {text}");
        assert!(
            text.contains("(masked: it renders into a Secret)"),
            "{output}: {text}"
        );
    }
}

/// A change to a promoted digest is marked as such: a promotion when it is the digest dev
/// carries on the tracked branch, outside a promotion when not; one prod rolled back before
/// (`rejected.yaml`) fails the preview, naming the release and the file.
#[test]
fn a_promoted_digest_is_marked_and_one_rolled_back_before_fails() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    write(
        &repo,
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    write(
        &repo,
        "charts/web/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - {name: web, image: \"example.com/web@{{ .Values.image.digest }}\"}\n",
    );
    for env in ["dev", "prod"] {
        let promotion = if env == "prod" {
            "  promotion:\n    from: dev\n    images:\n      - {release: web, path: image.digest, repository: example.com/web}\n"
        } else {
            ""
        };
        write(
            &repo,
            &format!("environments/{env}/environment.yaml"),
            &format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: {env}\nspec:\n  releases:\n    - {{name: web, namespace: {env}, chart: charts/web, values: [values/web.yaml]}}\n{promotion}"),
        );
        // Dev runs a newer digest than prod: the next promotion brings it.
        let carried = if env == "dev" { 'd' } else { 'a' };
        write(
            &repo,
            &format!("environments/{env}/values/web.yaml"),
            &format!("image:\n  digest: {}\n", digest(carried)),
        );
    }
    write(
        &repo,
        "environments/prod/rejected.yaml",
        &format!("rejected:\n  - {{release: web, digest: \"{}\", revision: r1, at: \"2026-12-01T00:00:00Z\", reason: \"wave 0: degraded\"}}\n", digest('b')),
    );
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "dev and prod"]);
    let (_server, kubeconfig) = test_server(dir.path());
    let values = "environments/prod/values/web.yaml";

    write(
        &repo,
        values,
        &format!("image:\n  digest: {}\n", digest('d')),
    );
    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("a promotion: dev carries this digest on the tracked branch"),
        "{text}"
    );

    write(
        &repo,
        values,
        &format!("image:\n  digest: {}\n", digest('c')),
    );
    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "**outside a promotion**: dev carries `{}` on the tracked branch",
            digest('d')
        )),
        "{text}"
    );

    write(
        &repo,
        values,
        &format!("image:\n  digest: {}\n", digest('b')),
    );
    let (out, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "Verdict: **failure**: release web: {} was rolled back here before (rejected.yaml)",
            digest('b')
        )),
        "{text}"
    );
    assert!(
        text.contains("**rolled back here before** (rejected.yaml): wave 0: degraded"),
        "{text}"
    );
}

/// A change to a value of a SOPS-encrypted values file: the preview shows the field it moves and
/// the dry-run's diff with `(encrypted value)` marks, and neither the value Git had nor the new
/// one, in markdown or JSON.
#[test]
fn a_change_to_an_encrypted_value_shows_that_it_changed_and_no_value() {
    const BEFORE: &str = "postgres://app:0ld-s3cret-0457@db";
    const AFTER: &str = "postgres://app:n3w-s3cret-0458@db";
    let dir = tempfile::tempdir().unwrap();
    let (repo, kubeconfig, _server) = world(dir.path());
    let (keys, recipient) = support::sops::key_pair();
    let key_file = dir.path().join("keys.txt");
    std::fs::write(&key_file, keys).unwrap();
    // Every sextant this test runs reads the key (nextest runs each test in its own process).
    std::env::set_var("SOPS_AGE_KEY_FILE", &key_file);
    let encrypted = |dsn: &str| {
        support::sops::encrypt(
            dir.path(),
            &format!("replicaCount: 2\ndsn: {dsn}\n"),
            &recipient,
        )
    };
    write(
        &repo,
        "charts/web/templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-db\ndata:\n  dsn: {{ .Values.dsn | quote }}\n",
    );
    write(
        &repo,
        "environments/prod/values/web.yaml",
        &encrypted(BEFORE),
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "an encrypted dsn"]);
    apply(dir.path(), &repo, &kubeconfig);
    write(
        &repo,
        "environments/prod/values/web.yaml",
        &encrypted(AFTER),
    );
    for output in ["markdown", "json"] {
        let (out, text) = preview(dir.path(), &repo, &kubeconfig, &["--output", output]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for clear in ["0ld-s3cret-0457", "n3w-s3cret-0458"] {
            assert!(!text.contains(clear), "{output}: {clear} in {text}");
        }
        assert!(text.contains("ConfigMap prod/web-db"), "{output}: {text}");
        assert!(
            text.contains("(encrypted value changed)"),
            "{output}: {text}"
        );
    }
    let (_, text) = preview(dir.path(), &repo, &kubeconfig, &[]);
    assert!(
        text.contains("-  dsn: (encrypted value changed)")
            && text.contains("+  dsn: (encrypted value)"),
        "the dry-run's diff: {text}"
    );
}
