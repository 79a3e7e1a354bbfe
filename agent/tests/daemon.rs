//! `sextant run` end to end, all on 127.0.0.1: a bare repository served by `git daemon`, the
//! test API server, and the agent as a process. Commits and signed webhooks move the cluster;
//! broken commits do not; two replicas elect one leader and fail over.

mod support;

use sextant_testkit::TestServer;
use std::collections::HashMap;
use std::time::Duration;
use support::agent::{eventually, Agent, WAIT};
use support::environment;
use support::git::{GitDaemon, WorkRepo};

const SECRET: &str = "webhook-secret";

fn push_event(branch: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"ref": format!("refs/heads/{branch}")})).unwrap()
}

/// The platform repository: one environment `e` with one release rendering ConfigMap `greeting`.
fn platform(repo: &WorkRepo, greeting: &str) {
    repo.write("charts/app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
        .write("charts/app/values.yaml", "greeting: hello\n")
        .write("charts/app/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  text: {{ .Values.greeting | quote }}\n")
        .write("environments/e/environment.yaml", &environment("e", "    - {name: app, namespace: app, chart: charts/app, values: [values.yaml]}\n"))
        .write("environments/e/values.yaml", &format!("greeting: {greeting}\n"));
}

struct World {
    _git: GitDaemon,
    repo: WorkRepo,
    server: TestServer,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let git = GitDaemon::start();
        let repo = git.repo("platform");
        platform(&repo, "one");
        repo.commit_and_push("first");
        let dir = tempfile::tempdir().unwrap();
        let (server, _) = support::test_server(dir.path());
        std::fs::write(dir.path().join("secret"), SECRET).unwrap();
        World {
            _git: git,
            repo,
            server,
            dir,
        }
    }

    fn env(&self, name: &str) -> HashMap<&'static str, String> {
        let d = self.dir.path();
        HashMap::from([
            ("KUBECONFIG", d.join("kubeconfig").display().to_string()),
            ("SEXTANT_REPO_URL", self.repo.url.clone()),
            ("SEXTANT_BRANCH", "main".into()),
            ("SEXTANT_ENVIRONMENTS", "e".into()),
            ("SEXTANT_POLL_INTERVAL", "1h".into()),
            (
                "SEXTANT_WEBHOOK_SECRET_FILE",
                d.join("secret").display().to_string(),
            ),
            (
                "SEXTANT_CACHE_DIR",
                d.join(format!("cache-{name}")).display().to_string(),
            ),
            ("SEXTANT_POD_NAME", name.to_string()),
            ("SEXTANT_LEASE_DURATION", "3s".into()),
            // Retries after 1 s, 2 s, …: a test sees a retry without waiting out 5 s.
            ("SEXTANT_RETRY_BASE", "1s".into()),
        ])
    }

    fn greeting(&self) -> Option<String> {
        support::block_on(async {
            let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
                kube::Api::namespaced(self.server.client().unwrap(), "app");
            cms.get_opt("greeting")
                .await
                .ok()
                .flatten()
                .and_then(|c| c.data?.get("text").cloned())
        })
    }
}

#[test]
fn commits_and_signed_webhooks_drive_the_cluster_and_a_broken_commit_changes_nothing() {
    let world = World::new();
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "the first revision applied", || {
        (world.greeting().as_deref() == Some("one")).then_some(())
    });
    eventually(WAIT, "readiness after the first sync", || {
        (agent.get("/readyz").0 == 200).then_some(())
    });
    assert_eq!(agent.get("/healthz"), (200, "ok".into()));

    // A values change, then a webhook without a valid signature: 401, nothing fetched.
    platform(&world.repo, "two");
    let second = world.repo.commit_and_push("say two");
    let body = push_event("main");
    let (code, _) = agent.request(
        "POST",
        "/hooks/github",
        &[("X-GitHub-Event", "push")],
        &body,
    );
    assert_eq!(code, 401, "unsigned");
    let (code, _) = agent.request(
        "POST",
        "/hooks/github",
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", "sha256=00"),
        ],
        &body,
    );
    assert_eq!(code, 401, "badly signed");
    assert_eq!(
        agent.metric(r#"sextant_webhook_requests_total{result="unauthorized"}"#),
        2.0
    );
    assert_ne!(
        agent.status()["source"]["revision"],
        second.as_str(),
        "a rejected webhook triggers nothing"
    );

    // A valid signed push: applied long before the hour-long poll interval.
    let code = agent.push_webhook(SECRET, "main");
    assert_eq!(code, 202);
    eventually(WAIT, "the webhook's revision applied and recorded", || {
        let recorded = agent.status()["environments"]["e"]["revision"] == second.as_str();
        (recorded && world.greeting().as_deref() == Some("two")).then_some(())
    });
    assert_eq!(
        agent.status()["environments"]["e"]["revision"],
        second.as_str()
    );
    // A signed body that is not JSON is a bad request, and triggers nothing.
    let garbage = b"not json";
    let signature = sextant_source::webhook::signature_header(SECRET.as_bytes(), garbage);
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    assert_eq!(
        agent.request("POST", "/hooks/github", &headers, garbage).0,
        400
    );
    assert_eq!(
        agent.metric(r#"sextant_webhook_requests_total{result="bad_request"}"#),
        1.0
    );
    // A body declared over 1 MiB is refused before it is read.
    let declared = ((1 << 20) + 1).to_string();
    let (code, _) = agent.request(
        "POST",
        "/hooks/github",
        &[("Content-Length", declared.as_str())],
        b"",
    );
    assert_eq!(code, 413);

    // A broken commit: nothing applied, the failure counted and reported with its file.
    let failed_before = agent.metric(r#"sextant_sync_total{environment="e",result="failed"}"#);
    world
        .repo
        .write("environments/e/values.yaml", "greeting: [unclosed\n");
    let broken = world.repo.commit_and_push("broken values");
    agent.push_webhook(SECRET, "main");
    eventually(WAIT, "the broken commit counted as a failed sync", || {
        (agent.metric(r#"sextant_sync_total{environment="e",result="failed"}"#) > failed_before)
            .then_some(())
    });
    let status = agent.status();
    let error = &status["environments"]["e"]["last_error"];
    assert_eq!(error["revision"], broken.as_str());
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("environments/e/values.yaml"),
        "{error}"
    );
    assert_eq!(error["transient"], false, "a broken commit waits: {error}");
    assert!(
        status["environments"]["e"]["retry_at"].is_null(),
        "a broken commit is not retried with backoff: {status}"
    );
    assert_eq!(
        world.greeting().as_deref(),
        Some("two"),
        "the last good revision stays applied"
    );
    assert_eq!(status["environments"]["e"]["revision"], second.as_str());

    // The next good commit recovers.
    platform(&world.repo, "three");
    world.repo.commit_and_push("fix");
    agent.push_webhook(SECRET, "main");
    eventually(WAIT, "recovery on the next good commit", || {
        (world.greeting().as_deref() == Some("three")).then_some(())
    });
}

#[test]
fn two_replicas_elect_one_leader_and_the_standby_takes_over_when_it_dies() {
    let world = World::new();
    let a = Agent::start(&world.env("replica-a"));
    let b = Agent::start(&world.env("replica-b"));
    let leader_of = |x: &Agent| x.status()["leader"].as_bool() == Some(true);
    let first = eventually(WAIT, "a leader", || match (leader_of(&a), leader_of(&b)) {
        (true, false) => Some('a'),
        (false, true) => Some('b'),
        _ => None,
    });
    eventually(WAIT, "the leader's sync", || {
        (world.greeting().as_deref() == Some("one")).then_some(())
    });
    // Both serve health and metrics; the standby is ready as a standby.
    for x in [&a, &b] {
        assert_eq!(x.get("/healthz").0, 200);
        eventually(WAIT, "readiness", || {
            (x.get("/readyz").0 == 200).then_some(())
        });
        assert!(x.get("/metrics").1.contains("sextant_leader"));
    }
    let (mut leader, survivor) = if first == 'a' { (a, b) } else { (b, a) };
    // Only the leader watches: the standby's drift is unknown, never "in sync".
    eventually(WAIT, "the leader watching", || {
        (leader.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
    let standby = survivor.status();
    assert_eq!(
        standby["environments"]["e"]["drift"]["state"], "unknown",
        "{standby}"
    );
    leader.kill(); // SIGKILL: the lease is not released; the standby must wait it out
    eventually(WAIT, "the standby taking over within the lease", || {
        leader_of(&survivor).then_some(())
    });
    assert_eq!(survivor.metric("sextant_leader"), 1.0);
    // The new leader reconciles: a new commit reaches the cluster through it.
    platform(&world.repo, "after-failover");
    world.repo.commit_and_push("after failover");
    survivor.push_webhook(SECRET, "main");
    eventually(WAIT, "the new leader's sync", || {
        (world.greeting().as_deref() == Some("after-failover")).then_some(())
    });
    eventually(WAIT, "the new leader watching", || {
        (survivor.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
}

#[test]
fn sigterm_stops_the_agent_cleanly() {
    let world = World::new();
    let mut agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "the first sync", || {
        (world.greeting().as_deref() == Some("one")).then_some(())
    });
    let status = agent.terminate();
    assert!(status.success(), "{status}: {}", agent.log_text());
    assert!(agent.log_text().contains("shutting down"));
}

#[test]
fn metrics_pass_promtool_and_a_real_prometheus_scrapes_them() {
    let world = World::new();
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "the first sync", || {
        (agent.metric(r#"sextant_sync_total{environment="e",result="succeeded"}"#) >= 1.0)
            .then_some(())
    });
    let (_, text) = agent.get("/metrics");
    for name in [
        "sextant_git_fetch_duration_seconds",
        "sextant_source_revision_info",
        "sextant_sync_duration_seconds",
        "sextant_wave_duration_seconds",
        "sextant_render_duration_seconds",
        "sextant_last_sync_timestamp_seconds",
        "sextant_objects",
        "sextant_leader",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .output_with_stdin(text.as_bytes());
    assert!(check.0.success(), "promtool check metrics: {}", check.1);
    check.1.clear();

    let prometheus = support::prometheus::Prometheus::start(&[agent.addr], WAIT);
    let value = eventually(
        WAIT,
        "Prometheus to answer a query on sextant_sync_total",
        || {
            let v = prometheus.query(r#"sextant_sync_total{result="succeeded"}"#)?;
            v["data"]["result"][0]["value"][1]
                .as_str()
                .map(String::from)
        },
    );
    assert!(value.parse::<f64>().unwrap() >= 1.0, "{value}");
}

trait OutputWithStdin {
    fn output_with_stdin(&mut self, input: &[u8]) -> (std::process::ExitStatus, String);
}

impl OutputWithStdin for std::process::Command {
    fn output_with_stdin(&mut self, input: &[u8]) -> (std::process::ExitStatus, String) {
        use std::io::Write;
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool (installed by `make tools`)");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status,
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

#[test]
fn local_mode_resyncs_a_working_tree_on_save_without_a_commit() {
    let world = World::new();
    let mut env = world.env("local");
    env.remove("SEXTANT_REPO_URL");
    env.insert("SEXTANT_REPO_PATH", world.repo.path().display().to_string());
    let agent = Agent::start(&env);
    eventually(WAIT, "the working tree applied", || {
        (world.greeting().as_deref() == Some("one")).then_some(())
    });
    world
        .repo
        .write("environments/e/values.yaml", "greeting: edited\n");
    eventually(WAIT, "the saved edit applied", || {
        (world.greeting().as_deref() == Some("edited")).then_some(())
    });
    // An uncommitted tree is recorded as dirty once that sync finishes.
    eventually(WAIT, "the dirty revision recorded", || {
        let s = agent.status();
        s["environments"]["e"]["revision"]
            .as_str()?
            .ends_with("-dirty")
            .then_some(())
    });
}

#[test]
fn an_unreachable_remote_is_reported_while_the_agent_keeps_serving() {
    let world = World::new();
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "the first sync", || {
        (world.greeting().as_deref() == Some("one")).then_some(())
    });
    let World {
        _git: git,
        repo,
        server,
        dir,
    } = world;
    drop(git); // the remote goes away
    assert_eq!(agent.push_webhook(SECRET, "main"), 202);
    let error = eventually(WAIT, "the fetch error in /status", || {
        agent.status()["source"]["last_fetch_error"]
            .as_str()
            .map(String::from)
    });
    assert!(
        error.contains(&repo.url) || error.contains("127.0.0.1"),
        "{error}"
    );
    assert!(agent.metric("sextant_git_fetch_errors_total") >= 1.0);
    assert_eq!(agent.get("/healthz").0, 200);
    assert_eq!(
        agent.get("/readyz").0,
        200,
        "what was applied stays applied and served"
    );
    drop((server, dir));
}

const FOREVER: &str = "{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}\n";

#[test]
fn a_commit_linking_a_values_file_out_of_the_snapshot_is_refused_and_the_last_revision_stays() {
    let world = World::new();
    let agent = Agent::start(&world.env("solo"));
    // Applied, and recorded: the status's revision is set once the sync finishes.
    let first = eventually(WAIT, "the first revision applied and recorded", || {
        let revision = agent.status()["environments"]["e"]["revision"].clone();
        (world.greeting().as_deref() == Some("one") && revision.is_string()).then_some(revision)
    });
    // The values file becomes a link to the agent's own kubeconfig.
    let values = world.repo.path().join("environments/e/values.yaml");
    std::fs::remove_file(&values).unwrap();
    std::os::unix::fs::symlink(world.dir.path().join("kubeconfig"), &values).unwrap();
    let hostile = world.repo.commit_and_push("link values to the kubeconfig");
    agent.push_webhook(SECRET, "main");
    let error = eventually(WAIT, "the hostile commit refused", || {
        let status = agent.status();
        let error = status["environments"]["e"]["last_error"].clone();
        (error["revision"] == hostile.as_str()).then_some(error)
    });
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("spec.releases[0].values[0]")
            && message.contains("\"values.yaml\" is a symlink to")
            && message.contains("outside the repository"),
        "{message}"
    );
    assert_eq!(error["stage"], "render");
    assert_eq!(agent.status()["environments"]["e"]["revision"], first);
    assert_eq!(
        world.greeting().as_deref(),
        Some("one"),
        "nothing was applied"
    );
}

#[test]
fn a_render_that_never_finishes_is_killed_at_the_timeout_and_the_next_good_commit_applies() {
    let world = World::new();
    let mut env = world.env("solo");
    env.insert("SEXTANT_RENDER_TIMEOUT", "2s".into());
    let cache = env["SEXTANT_CACHE_DIR"].clone();
    let agent = Agent::start(&env);
    eventually(WAIT, "the first revision applied", || {
        (world.greeting().as_deref() == Some("one")).then_some(())
    });
    world
        .repo
        .write("charts/app/templates/forever.yaml", FOREVER);
    let hung = world.repo.commit_and_push("a template that never ends");
    agent.push_webhook(SECRET, "main");
    let error = eventually(WAIT, "the render timeout reported", || {
        let error = agent.status()["environments"]["e"]["last_error"].clone();
        (error["revision"] == hung.as_str()).then_some(error)
    });
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("release app") && message.contains("helm did not finish within 2s"),
        "{message}"
    );
    assert_eq!(error["stage"], "render");
    assert_eq!(error["error"], "render_timeout");
    assert_eq!(error["transient"], true, "a timeout is tried again");
    assert!(
        agent.metric(
            r#"sextant_reconcile_errors_total{environment="e",error="render_timeout",stage="render"}"#
        ) >= 1.0
    );
    assert_eq!(
        support::processes_mentioning(&cache),
        Vec::<u32>::new(),
        "helm is gone"
    );
    assert_eq!(
        agent.get("/readyz").0,
        200,
        "a timed-out render is not a stuck agent"
    );

    std::fs::remove_file(world.repo.path().join("charts/app/templates/forever.yaml")).unwrap();
    platform(&world.repo, "two");
    world.repo.commit_and_push("fix");
    agent.push_webhook(SECRET, "main");
    eventually(WAIT, "the next good commit applied", || {
        (world.greeting().as_deref() == Some("two")).then_some(())
    });
}

#[test]
fn sigterm_during_a_hung_render_stops_the_agent_and_its_helm() {
    let world = World::new();
    world
        .repo
        .write("charts/app/templates/forever.yaml", FOREVER);
    world.repo.commit_and_push("a template that never ends");
    let mut env = world.env("solo");
    env.insert("SEXTANT_RENDER_TIMEOUT", "10m".into());
    let cache = env["SEXTANT_CACHE_DIR"].clone();
    let mut agent = Agent::start(&env);
    let helm = eventually(WAIT, "helm rendering", || {
        support::processes_mentioning(&cache).first().copied()
    });
    let status = agent.terminate();
    assert!(status.success(), "{status}: {}", agent.log_text());
    assert_eq!(
        support::processes_mentioning(&cache),
        Vec::<u32>::new(),
        "helm {helm} outlived the agent"
    );
    assert!(agent
        .log_text()
        .contains("stopped the helm processes still running"));
}

#[test]
fn a_failed_sync_is_retried_with_backoff_long_before_the_resync() {
    let world = World::new();
    // Every attempt of the first sync's write fails: that sync fails after its retries.
    world.server.inject(
        sextant_testkit::Fault::error(
            sextant_testkit::Match {
                verb: Some(sextant_testkit::Verb::Patch),
                name: Some("greeting".into()),
                ..Default::default()
            },
            503,
        )
        .times(6),
    );
    let mut env = world.env("solo");
    env.insert("SEXTANT_RESYNC_INTERVAL", "1h".into());
    let agent = Agent::start(&env);
    // The sync's write is tried six times, 6.2 s of the cluster client's own backoff, before
    // the sync fails: wait for its first attempt, then for the failure.
    let patches = || {
        world
            .server
            .requests()
            .iter()
            .filter(|r| {
                r.verb == sextant_testkit::Verb::Patch && r.name.as_deref() == Some("greeting")
            })
            .count()
    };
    eventually(WAIT, "the sync's first write", || {
        (patches() > 0).then_some(())
    });
    let retry_at = eventually(WAIT, "the failed sync and its retry time", || {
        let status = agent.status();
        let e = &status["environments"]["e"];
        e["retry_at"].as_str().map(str::to_string)
    });
    assert!(!retry_at.is_empty());
    eventually(
        WAIT,
        "the retry applied without a commit or a resync",
        || (world.greeting().as_deref() == Some("one")).then_some(()),
    );
    eventually(WAIT, "the retry time cleared", || {
        agent.status()["environments"]["e"]["retry_at"]
            .is_null()
            .then_some(())
    });
    assert_eq!(
        agent.metric(r#"sextant_sync_total{environment="e",result="failed"}"#),
        1.0
    );
}

// Drift: live changes seen through watches, handled by each policy.

/// Environment `e` with release `app`: Deployment `web` and ConfigMap `greeting`, under `policy`.
fn drift_platform(repo: &WorkRepo, policy: &str) {
    repo.write(
        "charts/app/templates/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - name: web\n          image: example.com/web:1\n          env: [{name: MODE, value: fast}]\n          resources: {limits: {cpu: 500m, memory: 128Mi}}\n",
    )
    .write(
        "environments/e/environment.yaml",
        &format!(
            "{}  drift:\n    policy: {policy}\n",
            environment(
                "e",
                "    - {name: app, namespace: app, chart: charts/app, values: [values.yaml]}\n"
            )
        ),
    );
}

fn kubectl(world: &World, args: &[&str]) {
    support::kubectl_ok(&world.dir.path().join("kubeconfig"), args);
}

fn replicas(world: &World) -> Option<i32> {
    support::block_on(async {
        let d: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(world.server.client().unwrap(), "app");
        d.get_opt("web").await.ok().flatten()?.spec?.replicas
    })
}

fn drift_world(policy: &str) -> (World, Agent) {
    let world = World::new();
    drift_platform(&world.repo, policy);
    world
        .repo
        .commit_and_push(&format!("drift policy {policy}"));
    let mut env = world.env("solo");
    env.insert("SEXTANT_LEADER_ELECTION", "false".into());
    let agent = Agent::start(&env);
    eventually(WAIT, "watched and in sync", || {
        (agent.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
    (world, agent)
}

#[test]
fn heal_restores_a_scale_an_image_patch_and_a_deleted_object() {
    let (world, agent) = drift_world("heal");
    kubectl(
        &world,
        &["scale", "deployment/web", "-n", "app", "--replicas=5"],
    );
    eventually(WAIT, "the scale healed", || {
        (agent.metric(r#"sextant_drift_heals_total{environment="e",result="succeeded"}"#) >= 1.0
            && replicas(&world) == Some(2))
        .then_some(())
    });
    kubectl(
        &world,
        &[
            "set",
            "image",
            "deployment/web",
            "-n",
            "app",
            "web=example.com/web:evil",
        ],
    );
    kubectl(&world, &["delete", "configmap", "greeting", "-n", "app"]);
    eventually(WAIT, "the image and the deleted ConfigMap healed", || {
        let image_back =
            std::process::Command::new(support::workspace().join(".tools/bin/kubectl"))
                .arg("--kubeconfig")
                .arg(world.dir.path().join("kubeconfig"))
                .args([
                    "get",
                    "deployment/web",
                    "-n",
                    "app",
                    "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}",
                ])
                .output()
                .ok()
                .is_some_and(|o| o.stdout == b"example.com/web:1");
        (image_back && world.greeting().is_some()).then_some(())
    });
    assert!(agent.metric(r#"sextant_drift_detected_total{environment="e",release="app"}"#) >= 3.0);
    // Kubernetes Events mark the objects: paths and managers, no values.
    let reasons = eventually(WAIT, "Drifted and Healed events", || {
        let events = support::block_on(async {
            let api: kube::Api<k8s_openapi::api::events::v1::Event> =
                kube::Api::namespaced(world.server.client().unwrap(), "app");
            api.list(&Default::default()).await.ok()
        })?;
        let reasons: Vec<(String, String)> = events
            .items
            .iter()
            .map(|e| {
                (
                    e.reason.clone().unwrap_or_default(),
                    e.note.clone().unwrap_or_default(),
                )
            })
            .collect();
        let has = |r: &str| reasons.iter().any(|(x, _)| x == r);
        (has("Drifted") && has("Healed")).then_some(reasons)
    });
    let drifted = reasons.iter().find(|(r, _)| r == "Drifted").unwrap();
    assert!(drifted.1.contains("departs from Git"), "{drifted:?}");
    assert!(
        !reasons.iter().any(|(_, n)| n.contains("evil")),
        "no values: {reasons:?}"
    );
    eventually(WAIT, "in sync again", || {
        (agent.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
}

#[test]
fn report_leaves_a_scale_names_its_manager_and_a_resync_does_not_heal_it() {
    let world = World::new();
    drift_platform(&world.repo, "report");
    world.repo.commit_and_push("drift policy report");
    let mut env = world.env("solo");
    env.insert("SEXTANT_LEADER_ELECTION", "false".into());
    env.insert("SEXTANT_RESYNC_INTERVAL", "1s".into());
    let agent = Agent::start(&env);
    eventually(WAIT, "watched and in sync", || {
        (agent.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
    kubectl(
        &world,
        &["scale", "deployment/web", "-n", "app", "--replicas=5"],
    );
    let object = eventually(WAIT, "the scale reported", || {
        let status = agent.status();
        let drift = &status["environments"]["e"]["drift"];
        (drift["state"] == "drifted").then(|| drift["objects"][0].clone())
    });
    assert_eq!(object["object"], "Deployment.apps app/web");
    assert_eq!(object["paths"], serde_json::json!(["/spec/replicas"]));
    assert_eq!(object["managers"], serde_json::json!(["kubectl"]));
    assert_eq!(object["action"], "reported");
    assert!(object["since"].is_string());
    // Resyncs come and go; the scale stays.
    let syncs = agent.metric(r#"sextant_sync_total{environment="e",result="succeeded"}"#);
    eventually(WAIT, "two more resyncs", || {
        (agent.metric(r#"sextant_sync_total{environment="e",result="succeeded"}"#) >= syncs + 2.0)
            .then_some(())
    });
    assert_eq!(replicas(&world), Some(5), "report never heals");
    assert_eq!(
        agent.metric(r#"sextant_drift_objects{environment="e",release="app"}"#),
        1.0
    );
    assert_eq!(
        agent.metric(r#"sextant_drift_heals_total{environment="e",result="succeeded"}"#),
        0.0
    );
}

#[test]
fn a_controller_fighting_over_a_field_is_reported_as_fighting_after_bounded_heals() {
    let (world, agent) = drift_world("heal");
    // Another controller re-scales every 100 ms, as its own field manager.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fighter = {
        let stop = stop.clone();
        let client_url = world.server.url();
        std::thread::spawn(move || {
            support::block_on(async {
                let mut config = kube::Config::new(client_url.parse().unwrap());
                config.default_retry = false;
                let client = kube::Client::try_from(config).unwrap();
                let d: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
                    kube::Api::namespaced(client, "app");
                let patch = serde_json::json!({"spec": {"replicas": 7}});
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = d
                        .patch_scale(
                            "web",
                            &kube::api::PatchParams {
                                field_manager: Some("fighter".into()),
                                ..Default::default()
                            },
                            &kube::api::Patch::Merge(&patch),
                        )
                        .await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        })
    };
    let object = eventually(WAIT, "the fight reported", || {
        let status = agent.status();
        status["environments"]["e"]["drift"]["objects"]
            .as_array()?
            .iter()
            .find(|o| o["action"] == "fighting")
            .cloned()
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    fighter.join().unwrap();
    assert_eq!(object["managers"], serde_json::json!(["fighter"]));
    let heals = agent.metric(r#"sextant_drift_heals_total{environment="e",result="succeeded"}"#);
    assert!(
        (1.0..=sextant::drift::policy::Fights::MAX_HEALS as f64).contains(&heals),
        "bounded heals: {heals}"
    );
    assert_eq!(
        agent.metric(r#"sextant_drift_fighting_objects{environment="e"}"#),
        1.0
    );
}

/// The corpus for "zero false drift": the upstream-shaped test chart (big CRDs, quantities in
/// every notation, int-or-string ports, env lists, empty maps, a Secret with stringData, an HPA,
/// an aggregated ClusterRole) and the repository's own app chart, under `heal`, with the HPA's
/// manager and one field a "webhook" mutates ignored.
fn corpus(world: &World) {
    let ws = support::workspace();
    support::copy_dir(
        &ws.join("agent/tests/fixtures/charts/upstream-shaped"),
        &world.repo.path().join("charts/upstream-shaped"),
    );
    support::copy_dir(
        &ws.join("helm/hash-service"),
        &world.repo.path().join("charts/hash-service"),
    );
    world.repo.write(
        "environments/e/environment.yaml",
        &format!(
            "{}  drift:\n    policy: heal\n    ignoreManagers: [kube-controller-manager]\n    ignore:\n      - {{kind: Deployment, name: demo-app, paths: [/spec/revisionHistoryLimit]}}\n  sync:\n    waveTimeout: 60s\n",
            environment(
                "e",
                "    - {name: app, namespace: app, chart: charts/app, values: [values.yaml]}\n    - {name: demo, namespace: corpus, chart: charts/upstream-shaped, values: [demo.yaml]}\n    - {name: hash-service, namespace: hash-service, chart: charts/hash-service, values: [hash-service.yaml]}\n"
            )
        ),
    );
    world
        .repo
        .write("environments/e/demo.yaml", "podAnnotations: {}\n");
    world.repo.write(
        "environments/e/hash-service.yaml",
        &format!("image:\n  digest: sha256:{}\n", "a".repeat(64)),
    );
    world.repo.commit_and_push("the corpus");
}

/// `{replicas, revisionHistoryLimit, a pod annotation}` of the corpus's HPA-managed Deployment.
fn demo_app(world: &World) -> Option<(i32, i32, Option<String>)> {
    support::block_on(async {
        let d: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(world.server.client().unwrap(), "corpus");
        let spec = d.get_opt("demo-app").await.ok().flatten()?.spec?;
        let annotation = spec
            .template
            .metadata
            .and_then(|m| m.annotations)
            .and_then(|a| a.get("rev").cloned());
        Some((spec.replicas?, spec.revision_history_limit?, annotation))
    })
}

#[test]
fn the_corpus_watched_through_resyncs_shows_zero_drift_and_zero_writes() {
    let world = World::new();
    corpus(&world);
    let mut env = world.env("solo");
    env.insert("SEXTANT_LEADER_ELECTION", "false".into());
    env.insert("SEXTANT_RESYNC_INTERVAL", "1s".into());
    let agent = Agent::start(&env);
    let ok = r#"sextant_sync_total{environment="e",result="succeeded"}"#;
    eventually(WAIT, "the corpus applied", || {
        (agent.metric(ok) >= 1.0).then_some(())
    });
    eventually(WAIT, "the corpus watched", || {
        (agent.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
    // The cluster's own changes: the HPA's metrics ask for 3 replicas (Git says 2), and a
    // mutating "webhook" lowers revisionHistoryLimit, a field a rule ignores.
    kubectl(
        &world,
        &[
            "annotate",
            "hpa/demo-app",
            "-n",
            "corpus",
            "testkit.sextant.io/desired-replicas=3",
        ],
    );
    kubectl(
        &world,
        &[
            "patch",
            "deployment/demo-app",
            "-n",
            "corpus",
            "--type=merge",
            "--field-manager=policy-webhook",
            "-p",
            r#"{"spec":{"revisionHistoryLimit":5}}"#,
        ],
    );
    eventually(WAIT, "the HPA scaled and the webhook mutated", || {
        (demo_app(&world)? == (3, 5, None)).then_some(())
    });
    let first = agent.metric(ok);
    let writes_before = world
        .server
        .requests()
        .iter()
        .filter(|r| r.is_write())
        .count();
    eventually(WAIT, "three more resyncs", || {
        (agent.metric(ok) >= first + 3.0).then_some(())
    });
    let status = agent.status();
    assert_eq!(
        status["environments"]["e"]["drift"]["state"], "in-sync",
        "{status}"
    );
    let writes: Vec<_> = world
        .server
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .skip(writes_before)
        .map(|r| format!("{:?} {:?} {:?}", r.verb, r.resource, r.name))
        .collect();
    assert_eq!(writes, Vec::<String>::new(), "no resync writes anything");
    for release in ["app", "demo", "hash-service"] {
        assert_eq!(
            agent.metric(&format!(
                r#"sextant_drift_detected_total{{environment="e",release="{release}"}}"#
            )),
            0.0,
            "{release}"
        );
    }
    assert!(agent.metric(r#"sextant_live_objects{environment="e"}"#) > 50.0);
    assert_eq!(demo_app(&world), Some((3, 5, None)));

    // A new revision of the Deployment applies Git's change and still keeps what is ignored.
    world
        .repo
        .write("environments/e/demo.yaml", "podAnnotations: {rev: \"2\"}\n")
        .commit_and_push("annotate the demo pods");
    assert_eq!(agent.push_webhook(SECRET, "main"), 202);
    eventually(WAIT, "the new revision applied", || {
        (demo_app(&world)?.2.as_deref() == Some("2")).then_some(())
    });
    assert_eq!(demo_app(&world), Some((3, 5, Some("2".into()))));
}

#[test]
fn dropped_watches_and_expired_versions_cause_no_false_drift_and_a_down_api_reads_unknown() {
    let git = GitDaemon::start();
    let repo = git.repo("platform");
    drift_platform_into(&repo);
    repo.commit_and_push("first");
    let dir = tempfile::tempdir().unwrap();
    // A short history: resuming a watch soon meets 410 Gone and must re-list.
    let server = TestServer::start(sextant_testkit::Options {
        ready_delay: Duration::from_millis(20),
        history_limit: 5,
        ..sextant_testkit::Options::default()
    })
    .unwrap();
    server
        .write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    let world = World {
        _git: git,
        repo,
        server,
        dir,
    };
    // Every watch is cut after 50 ms, from the start, and writes push the short history on.
    world.server.inject(sextant_testkit::Fault::drop_watch(
        sextant_testkit::Match::default(),
        Duration::from_millis(50),
    ));
    let mut env = world.env("solo");
    env.insert("SEXTANT_LEADER_ELECTION", "false".into());
    let agent = Agent::start(&env);
    eventually(WAIT, "watched and in sync", || {
        (agent.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
    // Annotations Git does not set are no drift either.
    for i in 0..20 {
        let note = format!("noise-{i}=x");
        kubectl(
            &world,
            &["annotate", "configmap", "greeting", "-n", "app", &note],
        );
    }
    let watches = |log: &[sextant_testkit::RequestRecord]| {
        log.iter()
            .filter(|r| r.verb == sextant_testkit::Verb::Watch)
            .count()
    };
    let before = watches(&world.server.requests());
    eventually(WAIT, "the watches cut and resumed several times", || {
        (watches(&world.server.requests()) >= before + 6).then_some(())
    });
    world.server.clear_faults();
    eventually(WAIT, "in sync after the storm", || {
        (agent.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
    assert_eq!(
        agent.metric(r#"sextant_drift_detected_total{environment="e",release="app"}"#),
        0.0,
        "no false drift"
    );
    // The API server goes away (its open watches with it): drift is unknown, never in sync.
    let World {
        server,
        _git,
        repo: _repo,
        dir: _dir,
    } = world;
    drop(server);
    let drift = eventually(WAIT, "drift unknown while the API is down", || {
        let status = agent.status();
        let drift = status["environments"]["e"]["drift"].clone();
        (drift["state"] == "unknown").then_some(drift)
    });
    assert!(drift["reason"].is_string(), "{drift}");
}

fn drift_platform_into(repo: &WorkRepo) {
    platform(repo, "one");
    drift_platform(repo, "report");
}

#[test]
fn a_replica_starting_on_the_revision_already_applied_does_not_heal_reported_drift() {
    let world = World::new();
    drift_platform(&world.repo, "report");
    world.repo.commit_and_push("drift policy report");
    let mut env = world.env("first");
    env.insert("SEXTANT_LEADER_ELECTION", "false".into());
    let mut first = Agent::start(&env);
    eventually(WAIT, "watched and in sync", || {
        (first.status()["environments"]["e"]["drift"]["state"] == "in-sync").then_some(())
    });
    kubectl(
        &world,
        &["scale", "deployment/web", "-n", "app", "--replicas=5"],
    );
    eventually(WAIT, "the scale reported", || {
        (first.status()["environments"]["e"]["drift"]["state"] == "drifted").then_some(())
    });
    first.kill();
    // A new replica, with nothing in memory, starts on the same revision.
    let mut env = world.env("second");
    env.insert("SEXTANT_LEADER_ELECTION", "false".into());
    let second = Agent::start(&env);
    eventually(
        WAIT,
        "the second replica's first sync, and the drift seen again",
        || {
            let status = second.status();
            let e = &status["environments"]["e"];
            (e["last_sync"]["result"] == "succeeded" && e["drift"]["state"] == "drifted")
                .then_some(())
        },
    );
    assert_eq!(replicas(&world), Some(5), "a restart is no reason to heal");
}

#[test]
fn losing_leadership_mid_sync_stops_the_sync_before_its_next_wave() {
    let world = World::new();
    // Wave 0: a Deployment that takes 30 s to become ready; wave 1: a ConfigMap.
    world
        .repo
        .write(
            "charts/app/templates/slow.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: slow\n  annotations:\n    testkit.sextant.io/ready-after-ms: \"30000\"\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: slow}}\n  template:\n    metadata: {labels: {app: slow}}\n    spec:\n      containers: [{name: slow, image: example.com/slow:1}]\n",
        )
        .write(
            "charts/app/templates/later.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\n  annotations:\n    sextant.io/sync-wave: \"1\"\ndata: {a: b}\n",
        )
        .write(
            "environments/e/environment.yaml",
            &format!(
                "{}  sync:\n    waveTimeout: 120s\n",
                environment(
                    "e",
                    "    - {name: app, namespace: app, chart: charts/app, values: [values.yaml]}\n"
                )
            ),
        );
    world.repo.commit_and_push("a slow first wave");
    let agent = Agent::start(&world.env("a"));
    eventually(
        WAIT,
        "leading, with wave 0 applied and its gate waiting",
        || {
            let status = agent.status();
            let waiting = !status["environments"]["e"]["reconciling_since"].is_null();
            let applied = world
                .server
                .requests()
                .iter()
                .any(|r| r.is_write() && r.name.as_deref() == Some("slow"));
            (status["leader"] == true && waiting && applied).then_some(())
        },
    );
    // Another holder takes the Lease (as after a network partition), for an hour.
    let now = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.000000Z"])
        .output()
        .unwrap();
    let now = String::from_utf8_lossy(&now.stdout).trim().to_string();
    kubectl(
        &world,
        &[
            "patch",
            "lease",
            "sextant-leader",
            "-n",
            "sextant-system",
            "--type=merge",
            "-p",
            &format!(
                r#"{{"spec":{{"holderIdentity":"intruder","renewTime":"{now}","leaseDurationSeconds":3600}}}}"#
            ),
        ],
    );
    let status = eventually(WAIT, "the sync stopped as leadership was lost", || {
        let status = agent.status();
        let e = &status["environments"]["e"];
        (status["leader"] == false
            && e["reconciling_since"].is_null()
            && e["last_sync"]["result"] == "failed")
            .then(|| status.clone())
    });
    let error = status["environments"]["e"]["last_sync"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("stopped before wave 1"), "{status}");
    assert!(
        !world
            .server
            .requests()
            .iter()
            .any(|r| r.is_write() && r.name.as_deref() == Some("later")),
        "wave 1 was never written"
    );
}

// A watch that fails once must not end drift detection: whatever failed it, the agent lists the
// kind again, compares it with what was applied and heals. Each fault below ends the open
// watches (`cut_watches`, as a restarting API server or a load balancer reset does), so that the
// agent's next watch meets it.

fn drift_state(agent: &Agent) -> serde_json::Value {
    agent.status()["environments"]["e"]["drift"]["state"].clone()
}

fn wait_for_drift_state(agent: &Agent, state: &str, what: &str) {
    eventually(WAIT, what, || (drift_state(agent) == state).then_some(()));
}

fn heals(agent: &Agent) -> f64 {
    agent.metric(r#"sextant_drift_heals_total{environment="e",result="succeeded"}"#)
}

#[test]
fn after_every_request_answered_503_or_429_for_a_while_a_later_scale_is_healed() {
    let (world, agent) = drift_world("heal");
    let any = sextant_testkit::Match::default;
    for fault in [
        sextant_testkit::Fault::error(any(), 503),
        sextant_testkit::Fault::throttle(any(), Duration::from_secs(1)),
    ] {
        let what = format!("{:?}", fault.action);
        world.server.inject(fault);
        world.server.cut_watches();
        wait_for_drift_state(&agent, "unknown", &format!("drift unknown under {what}"));
        world.server.clear_faults();
        wait_for_drift_state(&agent, "in-sync", "in sync again once the API answers");
        let before = heals(&agent);
        kubectl(
            &world,
            &["scale", "deployment/web", "-n", "app", "--replicas=5"],
        );
        eventually(WAIT, &format!("a scale after {what} healed"), || {
            (heals(&agent) > before && replicas(&world) == Some(2)).then_some(())
        });
        wait_for_drift_state(&agent, "in-sync", "in sync after the heal");
    }
}

#[test]
fn a_scale_made_while_the_watches_are_down_is_healed_when_they_come_back() {
    let (world, agent) = drift_world("heal");
    for verb in [sextant_testkit::Verb::List, sextant_testkit::Verb::Watch] {
        world.server.inject(sextant_testkit::Fault::error(
            sextant_testkit::Match {
                verb: Some(verb),
                ..Default::default()
            },
            503,
        ));
    }
    world.server.cut_watches();
    wait_for_drift_state(
        &agent,
        "unknown",
        "drift unknown while lists and watches fail",
    );
    // Gets and writes still work: a person scales the Deployment the agent cannot watch.
    kubectl(
        &world,
        &["scale", "deployment/web", "-n", "app", "--replicas=5"],
    );
    assert_eq!(replicas(&world), Some(5));
    world.server.clear_faults();
    eventually(WAIT, "the scale made during the outage healed", || {
        (heals(&agent) >= 1.0 && replicas(&world) == Some(2)).then_some(())
    });
    assert!(
        agent.metric(r#"sextant_drift_detected_total{environment="e",release="app"}"#) >= 1.0,
        "reported as drift"
    );
    wait_for_drift_state(&agent, "in-sync", "in sync after the heal");
}

#[test]
fn an_api_server_restarted_empty_gets_its_objects_back_and_a_later_scale_is_healed() {
    let (world, agent) = drift_world("heal");
    let World {
        server,
        _git,
        repo,
        dir,
    } = world;
    let addr = server.addr();
    server.stop();
    wait_for_drift_state(
        &agent,
        "unknown",
        "drift unknown while the API server is down",
    );
    // The same address, nothing stored, resourceVersions below the ones the agent holds: a
    // watch resumed there would wait for them silently; a list shows everything gone.
    let server = TestServer::start(sextant_testkit::Options {
        addr,
        ready_delay: Duration::from_millis(20),
        ..sextant_testkit::Options::default()
    })
    .unwrap();
    let world = World {
        _git,
        repo,
        server,
        dir,
    };
    eventually(WAIT, "the Deployment and ConfigMap re-created", || {
        (replicas(&world) == Some(2) && world.greeting().is_some()).then_some(())
    });
    wait_for_drift_state(&agent, "in-sync", "in sync on the new server");
    let before = heals(&agent);
    kubectl(
        &world,
        &["scale", "deployment/web", "-n", "app", "--replicas=5"],
    );
    eventually(WAIT, "the later scale healed", || {
        (heals(&agent) > before && replicas(&world) == Some(2)).then_some(())
    });
}

/// An environment whose values file is SOPS-encrypted: applied with the value decrypted, one
/// decrypted file counted; a template failing with the value in its message shows the mark in
/// `/status` and the log; then a commit encrypting the file for a recipient the agent has no
/// key for is refused naming the file, counted by reason, and the last revision stays.
#[test]
fn an_encrypted_values_file_is_applied_and_one_no_key_opens_is_refused_and_counted() {
    let world = World::new();
    let (keys, recipient) = support::sops::key_pair();
    let key_file = world.dir.path().join("age-keys.txt");
    std::fs::write(&key_file, keys).unwrap();
    let values = "greeting: s3cr3t-greeting-0455\n";
    let encrypted = support::sops::encrypt(world.dir.path(), values, &recipient);
    world.repo.write("environments/e/values.yaml", &encrypted);
    world.repo.commit_and_push("encrypt the values");
    let mut env = world.env("solo");
    env.insert("SOPS_AGE_KEY_FILE", key_file.display().to_string());
    let agent = Agent::start(&env);
    let first = eventually(WAIT, "the encrypted revision applied", || {
        let revision = agent.status()["environments"]["e"]["revision"].clone();
        (world.greeting().as_deref() == Some("s3cr3t-greeting-0455") && revision.is_string())
            .then_some(revision)
    });
    assert_eq!(
        agent.metric(r#"sextant_values_decrypted_files{environment="e"}"#),
        1.0
    );

    // A template that fails quoting the decrypted value: the message shows the mark instead.
    world.repo.write(
        "charts/app/templates/check.yaml",
        "{{- fail (printf \"greeting %s is refused\" .Values.greeting) }}\n",
    );
    let failing = world
        .repo
        .commit_and_push("a template that quotes the value");
    agent.push_webhook(SECRET, "main");
    let error = eventually(WAIT, "the failing template reported", || {
        let error = agent.status()["environments"]["e"]["last_error"].clone();
        (error["revision"] == failing.as_str()).then_some(error)
    });
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("greeting (encrypted value) is refused"),
        "{message}"
    );
    std::fs::remove_file(world.repo.path().join("charts/app/templates/check.yaml")).unwrap();

    let (_, stranger) = support::sops::key_pair();
    let other = support::sops::encrypt(world.dir.path(), "greeting: other-0456\n", &stranger);
    world.repo.write("environments/e/values.yaml", &other);
    let refused = world.repo.commit_and_push("encrypt for someone else");
    agent.push_webhook(SECRET, "main");
    let error = eventually(WAIT, "the commit refused", || {
        let error = agent.status()["environments"]["e"]["last_error"].clone();
        (error["revision"] == refused.as_str()).then_some(error)
    });
    assert_eq!(error["error"], "values_undecryptable");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("environments/e/values.yaml: cannot decrypt: no age key here decrypts")
            && message.contains(&stranger),
        "{message}"
    );
    assert_eq!(
        agent.metric(r#"sextant_values_decrypt_failures_total{environment="e",reason="no_key"}"#),
        1.0
    );
    assert_eq!(agent.status()["environments"]["e"]["revision"], first);
    assert_eq!(world.greeting().as_deref(), Some("s3cr3t-greeting-0455"));
    let shown = format!("{}\n{}", agent.status(), agent.log_text());
    assert!(
        !shown.contains("s3cr3t-greeting-0455") && !shown.contains("other-0456"),
        "{shown}"
    );
}
