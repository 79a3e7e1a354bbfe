//! Pull request previews end to end, all on 127.0.0.1: the fake GitHub holds the repository and
//! its pull requests (a real bare repository with `refs/pull/N/head`, served by `git daemon`),
//! the test API server is prod's cluster, and `sextant run` comments on each pull request what it
//! would do to prod and sets `sextant/preview/prod` on the head. Nothing is applied from a pull
//! request.

mod support;

use support::agent::{eventually, Agent, WAIT};
use support::pr::{prod_environment, World, PROD_VALUES, VALUES};

const MARKER: &str = "<!-- sextant:preview:prod -->";
const CONTEXT: &str = "sextant/preview/prod";

fn world() -> World {
    World::new(&prod_environment("  preview:\n    enabled: true\n"))
}

fn started(world: &World, name: &str) -> Agent {
    let agent = Agent::start(&world.env(name));
    eventually(WAIT, "prod applied", || {
        (world.replicas() == Some(3)
            && agent.status()["environments"]["prod"]["revision"].is_string())
        .then_some(())
    });
    agent
}

/// The preview comments on pull request `number`.
fn previews(world: &World, number: u64) -> Vec<String> {
    world
        .fake
        .comments(number)
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b.starts_with(MARKER))
        .collect()
}

/// The last `sextant/preview/prod` status on `sha`: (state, description).
fn preview_status(world: &World, sha: &str) -> Option<(String, String)> {
    world
        .fake
        .statuses(sha)
        .into_iter()
        .rfind(|s| s.context == CONTEXT)
        .map(|s| (s.state, s.description.unwrap_or_default()))
}

/// A branch with one commit over main, and a pull request from it into main.
fn open_pull(world: &World, branch: &str, files: &[(&str, &str)]) -> (u64, String) {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
    let head = world.fake.seed(branch, &files, branch).unwrap();
    let number = world.fake.seed_pull(branch, branch, &[]).unwrap();
    (number, head)
}

#[test]
fn a_pull_request_scaling_prod_gets_one_comment_edited_on_each_new_head_and_a_status() {
    let world = world();
    let mut agent = started(&world, "solo");
    let applied = world.requests_to_cluster_that_write();

    let scaled = PROD_VALUES.replace("replicaCount: 3", "replicaCount: 4");
    let (number, head) = open_pull(&world, "scale", &[(VALUES, &scaled)]);
    let comment = eventually(WAIT, "the preview comment", || {
        previews(&world, number).pop()
    });
    for part in [
        "### Sextant preview: `prod`",
        "Verdict: **success**",
        "| 0 | hash-service | `Deployment.apps hash-service/hash-service` | changed |",
        "-  replicas: 3",
        "+  replicas: 4",
        "| hash-service | `replicaCount` | `3` | `4` | `Deployment.apps hash-service/hash-service /spec/replicas` |",
    ] {
        assert!(comment.contains(part), "{part:?} in:\n{comment}");
    }
    let (state, description) =
        eventually(WAIT, "the head's status", || preview_status(&world, &head));
    assert_eq!(state, "success", "{description}");
    assert!(
        description.starts_with("1 object(s) change"),
        "{description}"
    );

    // A new commit on the pull request: the same comment, edited; the status on the new head.
    let rescaled = PROD_VALUES.replace("replicaCount: 3", "replicaCount: 6");
    let newer = world
        .fake
        .seed("scale", &[(VALUES, rescaled.as_bytes())], "scale more")
        .unwrap();
    eventually(WAIT, "the comment edited for the new head", || {
        let all = previews(&world, number);
        (all.len() == 1 && all[0].contains("+  replicas: 6")).then_some(())
    });
    let (state, _) = eventually(WAIT, "the new head's status", || {
        preview_status(&world, &newer)
    });
    assert_eq!(state, "success");

    // Nothing of a pull request is applied, and the token is nowhere in what was posted.
    assert_eq!(world.replicas(), Some(3));
    assert_eq!(world.requests_to_cluster_that_write(), applied);
    let token = world.fake.options().token.clone();
    let posted: Vec<String> = world
        .fake
        .comments(number)
        .into_iter()
        .map(|c| c.body)
        .chain(
            world
                .fake
                .statuses(&newer)
                .into_iter()
                .filter_map(|s| s.description),
        )
        .collect();
    assert!(posted.iter().all(|p| !p.contains(&token)));
    assert!(!agent.log_text().contains(&token));
    assert!(!agent.get("/metrics").1.contains(&token));

    let status = agent.status();
    let record = &status["environments"]["prod"]["previews"]["pulls"][0];
    assert_eq!(record["number"], number, "{status}");
    assert_eq!(record["head"], newer.as_str(), "{status}");
    assert_eq!(record["verdict"], "success", "{status}");
    assert!(agent.metric(r#"sextant_previews_total{environment="prod",result="success"}"#) >= 2.0);

    // A restart previews again and finds its comment: still one.
    agent.terminate();
    let agent = started(&world, "solo-again");
    eventually(WAIT, "the restarted agent's preview recorded", || {
        let status = agent.status();
        (status["environments"]["prod"]["previews"]["pulls"][0]["head"] == newer.as_str())
            .then_some(())
    });
    assert_eq!(previews(&world, number).len(), 1, "no second comment");
}

#[test]
fn forks_and_changes_that_do_not_touch_prod_get_nothing_failures_say_why_and_secrets_stay_masked() {
    let world = world();
    let agent = started(&world, "solo");

    let docs = open_pull(&world, "docs", &[("docs/notes.md", "notes\n")]);
    let fork_values = PROD_VALUES.replace("replicaCount: 3", "replicaCount: 9");
    let fork = world
        .fake
        .seed_fork_pull(
            "someone",
            &[(VALUES, fork_values.as_bytes())],
            "from a fork",
        )
        .unwrap();
    let broken = open_pull(
        &world,
        "broken",
        &[(
            "helm/hash-service/templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.nothing | nosuchfunction }}\n",
        )],
    );
    let emptied = open_pull(
        &world,
        "remove-release",
        &[(
            "environments/prod/environment.yaml",
            "apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  releases: []\n  preview:\n    enabled: true\n",
        )],
    );
    // A Secret the change adds: shown only as added, its value masked in the dry-run's diff.
    let secret = open_pull(
        &world,
        "secret",
        &[(
            "helm/hash-service/templates/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cr3t-in-a-pull-request\n",
        )],
    );

    let (state, description) = eventually(WAIT, "the broken template's status", || {
        preview_status(&world, &broken.1)
    });
    assert_eq!(state, "failure");
    assert!(
        description.starts_with("the head does not render")
            && description.contains("configmap.yaml:6"),
        "{description}"
    );
    let (state, description) = eventually(WAIT, "the removed release's status", || {
        preview_status(&world, &emptied.1)
    });
    assert_eq!(
        (state.as_str(), description.as_str()),
        ("failure", "the mass-prune guard would stop the sync")
    );
    let comment = previews(&world, emptied.0).pop().expect("a comment");
    assert!(
        comment.contains("- `Deployment.apps hash-service/hash-service`"),
        "the prunes listed: {comment}"
    );

    let (state, _) = eventually(WAIT, "the Secret's status", || {
        preview_status(&world, &secret.1)
    });
    let comment = previews(&world, secret.0).pop().expect("a comment");
    assert_eq!(state, "success", "{comment}");
    assert!(!comment.contains("s3cr3t"), "the Secret's value: {comment}");
    for part in [
        "| 0 | hash-service | `Secret hash-service/db` | added |",
        "<details><summary><code>Secret hash-service/db</code> (hash-service)</summary>",
        "+++ dry-run/Secret/hash-service/db",
        "+  password: \"***\"",
    ] {
        assert!(comment.contains(part), "{part:?} in:\n{comment}");
    }

    // The passes that previewed those looked at the docs and fork pull requests too.
    eventually(WAIT, "the three previews recorded", || {
        let status = agent.status();
        let pulls = status["environments"]["prod"]["previews"]["pulls"]
            .as_array()?
            .len();
        (pulls == 3).then_some(())
    });
    for number in [docs.0, fork] {
        assert!(
            world.fake.comments(number).is_empty(),
            "#{number} is not previewed"
        );
    }
    assert_eq!(preview_status(&world, &docs.1), None);
    assert_eq!(world.replicas(), Some(3), "nothing applied");
    // An idle look at the pull requests costs one conditional request answered 304.
    eventually(WAIT, "a look answered 304", || {
        world
            .fake
            .requests()
            .iter()
            .any(|r| {
                r.method == "GET"
                    && r.path.ends_with("/pulls")
                    && r.if_none_match
                    && r.status == 304
            })
            .then_some(())
    });
}

#[test]
fn a_signed_pull_request_webhook_previews_at_once_without_waiting_for_the_poll() {
    let world = world();
    let secret = "a webhook secret";
    let secret_file = world.dir.path().join("webhook-secret");
    std::fs::write(&secret_file, secret).unwrap();
    let mut env = world.env("solo");
    // A poll far beyond the test's waits: only the webhook can bring the preview in time.
    env.insert("SEXTANT_POLL_INTERVAL", "1h".into());
    env.insert(
        "SEXTANT_WEBHOOK_SECRET_FILE",
        secret_file.display().to_string(),
    );
    let agent = Agent::start(&env);
    eventually(WAIT, "prod applied", || {
        (world.replicas() == Some(3)).then_some(())
    });
    // The pass after the first sync has run: it found no pull request.
    eventually(WAIT, "the first look at the pull requests", || {
        world
            .fake
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/pulls"))
            .then_some(())
    });

    let scaled = PROD_VALUES.replace("replicaCount: 3", "replicaCount: 4");
    let (number, _) = open_pull(&world, "scale", &[(VALUES, &scaled)]);
    let body = serde_json::to_vec(&serde_json::json!({
        "action": "opened",
        "number": number,
        "pull_request": {"number": number, "base": {"ref": "main"}, "head": {"ref": "scale"}},
    }))
    .unwrap();
    let deliver = |secret: &str| {
        let signature = sextant_source::webhook::signature_header(secret.as_bytes(), &body);
        let headers = [
            ("X-GitHub-Event", "pull_request"),
            ("X-Hub-Signature-256", signature.as_str()),
        ];
        agent.request("POST", "/hooks/github", &headers, &body).0
    };
    assert_eq!(deliver("not the secret"), 401);
    assert_eq!(deliver(secret), 202);
    eventually(WAIT, "the preview comment", || {
        previews(&world, number).pop()
    });
}

/// Gatekeeper end to end: prod runs the platform's policies (`helm/policies`; the test server's
/// Gatekeeper makes each template's constraint kind), and a pull request making hash-service's
/// container privileged gets `failure` naming the constraint; the comment lists the finding.
#[test]
fn a_pull_request_adding_a_privileged_container_fails_naming_the_gatekeeper_constraint() {
    let mut files = Vec::new();
    support::pr::files_under(&support::workspace(), "helm/policies", &mut files);
    let files: Vec<(String, String)> = files
        .into_iter()
        .map(|(p, b)| (p, String::from_utf8(b).unwrap()))
        .collect();
    let extra: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let environment = prod_environment("  preview:\n    enabled: true\n").replace(
        "  releases:\n",
        "  releases:\n    - {name: policies, namespace: gatekeeper-system, chart: helm/policies, requires: [{kind: templates.gatekeeper.sh/v1/ConstraintTemplate, from: cluster}]}\n",
    );
    let world = World::with(&environment, &extra);
    // Gatekeeper itself (its ConstraintTemplate CRD) is installed before prod's policies, as
    // the platform's Gatekeeper release does.
    let crd = std::process::Command::new(support::workspace().join(".tools/bin/helm"))
        .args(["template", "gatekeeper"])
        .arg(support::workspace().join("agent/tests/fixtures/charts/platform-shaped"))
        .args(["--show-only", "templates/constrainttemplate-crd.yaml"])
        .output()
        .unwrap();
    assert!(
        crd.status.success(),
        "{}",
        String::from_utf8_lossy(&crd.stderr)
    );
    let crd_file = world.dir.path().join("constrainttemplate-crd.yaml");
    std::fs::write(&crd_file, &crd.stdout).unwrap();
    world.kubectl(&["apply", "-f", crd_file.to_str().unwrap()]);
    let _agent = started(&world, "solo");

    let path = "helm/hash-service/templates/deployment.yaml";
    let template = std::fs::read_to_string(support::workspace().join(path)).unwrap();
    assert!(template.contains("privileged: false"));
    let privileged = template.replace("privileged: false", "privileged: true");
    let (number, head) = open_pull(&world, "privileged", &[(path, &privileged)]);
    let (state, description) =
        eventually(WAIT, "the head's status", || preview_status(&world, &head));
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.starts_with("K8sNoPrivileged/baseline-no-privileged denies Deployment.apps hash-service/hash-service"),
        "{description}"
    );
    let comment = previews(&world, number).pop().unwrap();
    assert!(
        comment.contains("| `Deployment.apps hash-service/hash-service` | `K8sNoPrivileged/baseline-no-privileged` | deny |"),
        "{comment}"
    );
}
