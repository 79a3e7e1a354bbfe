//! The real kubectl drives the test server unchanged.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use common::{poll_until, wait_bounded, Kubectl, CRD, DEPLOYMENT, NAMESPACE, SERVICE, WIDGET};
use sextant_testkit::{FailImages, Options, PatchType, Verb};

fn shop(k: &Kubectl) {
    k.apply(&format!("{NAMESPACE}---{DEPLOYMENT}---{SERVICE}"));
}

#[test]
fn apply_server_side_serves_builtins_then_a_crd_and_its_custom_resource() {
    let k = Kubectl::start();
    let out = k.apply(&format!("{NAMESPACE}---{DEPLOYMENT}---{SERVICE}"));
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    k.apply(CRD);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    k.apply(WIDGET);
    assert_eq!(
        k.ok(&[
            "get",
            "wd",
            "w1",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.size}"
        ]),
        "3"
    );
    let svc_ip = poll_until("a LoadBalancer address", Duration::from_secs(10), || {
        let ip = k.ok(&[
            "get",
            "svc",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ]);
        (!ip.is_empty()).then_some(ip)
    });
    assert_eq!(svc_ip, "127.0.0.1");

    let applies: Vec<_> = k
        .server
        .requests()
        .into_iter()
        .filter(|r| r.patch_type == Some(PatchType::Apply))
        .collect();
    assert_eq!(applies.len(), 5, "{applies:#?}");
    assert!(applies
        .iter()
        .all(|r| r.field_manager.as_deref() == Some("kubectl") && r.verb == Verb::Patch));
}

#[test]
fn get_yaml_shows_managed_fields_per_manager() {
    let k = Kubectl::start();
    shop(&k);
    k.ok(&["scale", "deploy/web", "-n", "shop", "--replicas=4"]);
    let yaml = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert!(yaml.contains("managedFields:"), "{yaml}");
    assert!(
        yaml.contains("manager: kubectl\n    operation: Apply"),
        "{yaml}"
    );
    assert!(
        yaml.contains("operation: Update") && yaml.contains("subresource: scale"),
        "{yaml}"
    );
    assert!(yaml.contains("f:replicas: {}"), "{yaml}");
}

#[test]
fn scale_and_merge_and_strategic_patches_change_the_deployment() {
    let k = Kubectl::start();
    shop(&k);
    k.ok(&["scale", "deploy/web", "-n", "shop", "--replicas=5"]);
    let get = |path: &str| {
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            &format!("jsonpath={path}"),
        ])
    };
    assert_eq!(get("{.spec.replicas}"), "5");
    assert_eq!(get("{.metadata.generation}"), "2");

    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"tier":"front"}}}"#,
    ]);
    assert_eq!(get("{.metadata.labels.tier}"), "front");

    // Strategic merge: containers and env merge by name instead of being replaced.
    let patch = r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.28","env":[{"name":"DEBUG","value":"1"}]}]}}}}"#;
    k.ok(&["patch", "deploy", "web", "-n", "shop", "-p", patch]);
    assert_eq!(
        get("{.spec.template.spec.containers[0].image}"),
        "nginx:1.28"
    );
    assert_eq!(
        get("{.spec.template.spec.containers[0].env[*].name}"),
        "MODE DEBUG"
    );
    assert_eq!(
        get("{.spec.template.spec.containers[0].ports[0].containerPort}"),
        "80"
    );
}

#[test]
fn replace_with_a_stale_resource_version_fails_with_409() {
    let k = Kubectl::start();
    shop(&k);
    let stale = k.dir.path().join("stale.yaml");
    std::fs::write(
        &stale,
        k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "yaml"]),
    )
    .unwrap();
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    let r = k.run(&["replace", "-f", stale.to_str().unwrap()]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("Conflict") && r.stderr.contains("the object has been modified"),
        "{}",
        r.stderr
    );
    let conflict = k
        .server
        .requests()
        .into_iter()
        .find(|r| r.verb == Verb::Update)
        .expect("the replace reached the server");
    assert_eq!(conflict.status, 409);
}

#[test]
fn delete_removes_objects_and_a_namespace_takes_its_objects_with_it() {
    let k = Kubectl::start();
    shop(&k);
    k.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\ndata: {a: b}\n",
    );
    k.ok(&["delete", "configmap", "extra", "-n", "shop"]);
    let r = k.run(&["get", "configmap", "extra", "-n", "shop"]);
    assert!(!r.ok && r.stderr.contains("NotFound"), "{}", r.stderr);
    k.ok(&["delete", "namespace", "shop"]);
    let r = k.run(&["get", "deploy", "web", "-n", "shop"]);
    assert!(!r.ok && r.stderr.contains("not found"), "{}", r.stderr);
    let r = k.run_with(&["apply", "--server-side", "-f", "-"], DEPLOYMENT);
    assert!(
        !r.ok && r.stderr.contains("namespaces \"shop\" not found"),
        "{}",
        r.stderr
    );
}

#[test]
fn wait_for_available_succeeds_once_the_rollout_is_ready_and_times_out_when_marked_failing() {
    let k = Kubectl::start();
    shop(&k);
    k.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    k.ok(&[
        "annotate",
        "deploy/web",
        "-n",
        "shop",
        "testkit.sextant.io/fail-readiness=true",
    ]);
    poll_until(
        "the rollout to turn unavailable",
        Duration::from_secs(10),
        || {
            let s = k.ok(&[
                "get",
                "deploy",
                "web",
                "-n",
                "shop",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Available\")].status}",
            ]);
            (s == "False").then_some(())
        },
    );
    let r = k.run(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=1s",
    ]);
    assert!(
        !r.ok,
        "a deployment marked fail-readiness never becomes available"
    );
}

#[test]
fn a_failing_image_exceeds_the_progress_deadline_until_the_image_changes() {
    const BAD: &str = "sha256:badbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbad0";
    const GOOD: &str = "sha256:600d600d600d600d600d600d600d600d600d600d600d600d600d600d600d6000";
    let k = Kubectl::with(Options {
        fail_images: FailImages::new([BAD]),
        ready_delay: Duration::from_millis(20),
        ..Options::default()
    });
    k.apply(&format!(
        "{NAMESPACE}---{}",
        DEPLOYMENT.replace("image: nginx:1.27", &format!("image: nginx@{BAD}"))
    ));
    let r = k.run(&[
        "rollout",
        "status",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    assert!(
        !r.ok && r.stderr.contains("exceeded its progress deadline"),
        "kubectl reads the failed rollout as a real one:\n{}{}",
        r.stdout,
        r.stderr
    );

    k.ok(&[
        "set",
        "image",
        "deploy/web",
        "-n",
        "shop",
        &format!("app=nginx@{GOOD}"),
    ]);
    k.ok(&[
        "rollout",
        "status",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=20s",
    ]);

    // At run time: the good image fails from now on, on this server only.
    k.server.fail_images([GOOD]);
    assert_eq!(k.server.failing_images(), FailImages::new([GOOD]));
    poll_until("the rollout to fail", Duration::from_secs(10), || {
        let reason = k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
        ]);
        (reason == "ProgressDeadlineExceeded").then_some(())
    });
}

#[test]
fn get_watch_sees_added_modified_and_deleted_events() {
    let k = Kubectl::start();
    k.apply(NAMESPACE);
    let mut child = k
        .command(&[
            "get",
            "configmaps",
            "-n",
            "shop",
            "--watch",
            "--output-watch-events",
        ])
        .spawn()
        .expect("kubectl get --watch runs");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut expect = |want: &str| {
        poll_until(want, Duration::from_secs(10), || {
            while let Ok(line) = rx.try_recv() {
                seen.push(line);
            }
            seen.iter().any(|l| l.contains(want)).then_some(())
        })
    };
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: seen, namespace: shop}\ndata: {a: '1'}\n");
    expect("ADDED");
    k.ok(&[
        "patch",
        "configmap",
        "seen",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    expect("MODIFIED");
    k.ok(&["delete", "configmap", "seen", "-n", "shop"]);
    expect("DELETED");
    let _ = child.kill();
    let _ = wait_bounded(child, Duration::from_secs(5));
}

#[test]
fn client_side_apply_create_label_json_patch_and_rollout_status_work() {
    let k = Kubectl::start();
    k.apply(NAMESPACE);
    let r = k.run_with(&["apply", "-f", "-"], DEPLOYMENT);
    assert!(
        r.ok && r.stdout.contains("deployment.apps/web created"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3");
    let r = k.run_with(&["apply", "-f", "-"], &changed);
    assert!(
        r.ok && r.stdout.contains("configured"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    k.ok(&[
        "rollout",
        "status",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=20s",
    ]);

    let r = k.run_with(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1, namespace: shop}\ndata: {a: '1'}\n",
    );
    assert!(r.ok, "{}", r.stderr);
    k.ok(&["label", "configmap", "c1", "-n", "shop", "team=shop"]);
    assert_eq!(
        k.ok(&[
            "get",
            "configmaps",
            "-n",
            "shop",
            "-l",
            "team=shop",
            "-o",
            "name"
        ])
        .trim(),
        "configmap/c1"
    );
    k.ok(&[
        "patch",
        "configmap",
        "c1",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/data/a","value":"2"}]"#,
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "configmap",
            "c1",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.a}"
        ]),
        "2"
    );
}

/// kubectl moves ownership from `kubectl-client-side-apply` to its server-side manager by
/// rewriting `managedFields` after the first server-side apply; afterwards a changed value
/// applies without a conflict.
#[test]
fn client_side_applied_objects_migrate_to_server_side_apply() {
    let k = Kubectl::start();
    k.apply(NAMESPACE);
    assert!(k.run_with(&["apply", "-f", "-"], DEPLOYMENT).ok);
    k.apply(DEPLOYMENT);
    let yaml = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert!(!yaml.contains("kubectl-client-side-apply"), "{yaml}");
    k.apply(&DEPLOYMENT.replace("replicas: 2", "replicas: 3"));
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
}

#[test]
fn get_prints_table_columns_for_workloads() {
    let k = Kubectl::start();
    shop(&k);
    k.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    let out = k.ok(&["get", "deploy", "web", "-n", "shop"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], &["web", "2/2", "2", "2"], "{out}");
}
