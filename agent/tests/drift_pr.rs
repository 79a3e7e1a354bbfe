//! Drift pull requests end to end, all on 127.0.0.1: the fake GitHub holds the repository (a
//! real bare repository, served to the agent by `git daemon`), the test API server is the
//! cluster, real kubectl makes the live change, and `sextant run` maps it back to the values file,
//! opens the pull request, and syncs the merge.

mod support;

use std::time::Duration;
use support::agent::{eventually, Agent, WAIT};
use support::pr::{prod_environment, World, PROD_VALUES, VALUES};

fn in_sync(agent: &Agent) -> bool {
    agent.status()["environments"]["prod"]["drift"]["state"] == "in-sync"
}

/// The lines two texts differ in: (removed, added).
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for c in diff.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Delete => removed.push(c.value().to_string()),
            similar::ChangeTag::Insert => added.push(c.value().to_string()),
            similar::ChangeTag::Equal => {}
        }
    }
    (removed, added)
}

#[test]
fn a_scale_in_prod_opens_one_pull_request_whose_merge_the_agent_syncs() {
    let world = World::new(&prod_environment(""));
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        (in_sync(&agent) && world.replicas() == Some(3)).then_some(())
    });

    world.scale(5);
    // Opened, then labelled: wait for both.
    let pr = eventually(WAIT, "the labelled drift pull request", || {
        world
            .open_pulls()
            .into_iter()
            .find(|p| !p.labels.is_empty())
    });
    assert_eq!(world.fake.pulls().len(), 1);
    assert_eq!(pr.title, "drift(prod/hash-service): replicaCount 3 → 5");
    assert_eq!(pr.head, "sextant/drift/prod/hash-service");
    let mut labels: Vec<String> = pr.labels.clone();
    labels.sort();
    assert_eq!(labels, ["prod", "sextant-drift"]);
    // The policy is pull-request: the live change stays.
    assert_eq!(world.replicas(), Some(5));

    // Exactly one line of the values file changed, and every other byte is the author's.
    let proposed = world
        .fake
        .file("sextant/drift/prod/hash-service", VALUES)
        .expect("the values file on the PR branch");
    let proposed = String::from_utf8(proposed).unwrap();
    assert_eq!(
        changed_lines(PROD_VALUES, &proposed),
        (
            vec!["replicaCount: 3   # one per zone\n".to_string()],
            vec!["replicaCount: 5   # one per zone\n".to_string()]
        )
    );
    assert_eq!(
        proposed,
        PROD_VALUES.replace("replicaCount: 3", "replicaCount: 5")
    );
    for part in [
        "| `Deployment.apps hash-service/hash-service` | `/spec/replicas` | `3` | `5` | kubectl",
        "-replicaCount: 3   # one per zone",
        "+replicaCount: 5   # one per zone",
        "## Proof",
        "close without merging",
    ] {
        let body = pr.body.as_deref().unwrap_or_default();
        assert!(body.contains(part), "{part:?} in:\n{body}");
    }
    let status = agent.status();
    assert_eq!(
        status["environments"]["prod"]["drift_requests"]["open"][0]["number"], pr.number,
        "{status}"
    );

    // Merged: the agent syncs the merge commit, Git now equals live, and no PR follows.
    let merge = world.fake.merge(pr.number).unwrap();
    eventually(WAIT, "the merge commit applied and in sync", || {
        let status = agent.status();
        (status["environments"]["prod"]["revision"] == merge.as_str() && in_sync(&agent))
            .then_some(())
    });
    assert_eq!(world.replicas(), Some(5));
    // The merge commit's status: pending while its sync ran, then success.
    let said = eventually(WAIT, "the merge commit's status", || {
        let said: Vec<(String, String)> = world
            .fake
            .statuses(&merge)
            .into_iter()
            .map(|s| (s.context, s.state))
            .collect();
        (said.last().is_some_and(|(_, s)| s != "pending")).then_some(said)
    });
    assert_eq!(
        said,
        [
            ("sextant/prod".to_string(), "pending".to_string()),
            ("sextant/prod".to_string(), "success".to_string()),
        ]
    );
    let shown = world
        .fake
        .statuses(&merge)
        .pop()
        .unwrap()
        .description
        .unwrap();
    assert!(shown.starts_with("applied and healthy: "), "{shown}");
    // And the merge commit's deployment to prod, on the repository's Environments page.
    let deployed = eventually(WAIT, "the merge commit's deployment", || {
        let d = world
            .fake
            .deployments()
            .into_iter()
            .find(|d| d.sha == merge && d.environment == "prod")?;
        let states: Vec<String> = d.statuses.iter().map(|s| s.state.clone()).collect();
        (states.len() == 2).then_some(states)
    });
    assert_eq!(deployed, ["in_progress", "success"]);
    assert_eq!(
        world
            .fake
            .deployments()
            .iter()
            .filter(|d| d.sha == merge)
            .count(),
        1,
        "one deployment per commit and environment"
    );
    eventually(
        WAIT,
        "the merged pull request no longer listed as open",
        || {
            let open =
                agent.metric(r#"sextant_drift_pull_requests{environment="prod",state="open"}"#);
            let listed = agent.status()["environments"]["prod"]["drift_requests"]["open"]
                .as_array()
                .is_some_and(|a| a.is_empty());
            (open == 0.0 && listed).then_some(())
        },
    );
    // Several more passes over the forge (each lists pulls and issues twice): still one PR.
    let seen = world.fake.requests().len();
    eventually(WAIT, "more passes over the forge", || {
        (world.fake.requests().len() >= seen + 8).then_some(())
    });
    assert_eq!(world.fake.pulls().len(), 1, "no second pull request");
    assert!(world.open_pulls().is_empty());
    assert!(
        world
            .fake
            .issues()
            .iter()
            .all(|i| i.pull_merged_at.is_some()),
        "no issue either"
    );
}

#[test]
fn a_pull_request_closed_without_merge_is_healed_and_not_proposed_again() {
    let world = World::new(&prod_environment(""));
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.scale(4);
    let pr = eventually(WAIT, "the drift pull request", || {
        world.open_pulls().into_iter().next()
    });
    world.fake.close(pr.number).unwrap();
    eventually(WAIT, "the rejected drift healed", || {
        (world.replicas() == Some(3) && in_sync(&agent)).then_some(())
    });
    // The same drift again: healed, not proposed.
    world.scale(4);
    eventually(WAIT, "the same drift healed again", || {
        (world.replicas() == Some(3) && in_sync(&agent)).then_some(())
    });
    assert_eq!(
        world.fake.pulls().len(),
        1,
        "no new pull request for a rejected drift"
    );
}

#[test]
fn drift_undone_before_merge_closes_the_pull_request_and_new_values_update_it() {
    let world = World::new(&prod_environment(""));
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.scale(5);
    let pr = eventually(WAIT, "the drift pull request", || {
        world.open_pulls().into_iter().next()
    });
    // New live values: the same pull request, a new title and commit.
    world.scale(6);
    eventually(WAIT, "the pull request updated", || {
        let p = world.fake.pull(pr.number)?;
        (p.title == "drift(prod/hash-service): replicaCount 3 → 6").then_some(())
    });
    let file = world
        .fake
        .file("sextant/drift/prod/hash-service", VALUES)
        .unwrap();
    assert!(String::from_utf8(file)
        .unwrap()
        .contains("replicaCount: 6   # one per zone"));
    assert_eq!(world.fake.pulls().len(), 1);
    // Undone live: the pull request closes with a comment, and its branch goes.
    world.scale(3);
    eventually(
        WAIT,
        "the pull request closed and its branch deleted",
        || {
            let closed = !world.fake.pull(pr.number)?.open;
            let gone = world
                .fake
                .branch_sha("sextant/drift/prod/hash-service")
                .is_none();
            (closed && gone).then_some(())
        },
    );
    let comments = world.fake.comments(pr.number);
    assert!(
        comments.iter().any(|c| c.body.contains("drift is gone")),
        "{comments:?}"
    );
    assert_eq!(world.fake.pulls().len(), 1);
    // The same drift as the closed PR's, again: the agent closed that one itself, so this is
    // proposed anew, not taken for a rejection and healed.
    world.scale(6);
    let again = eventually(WAIT, "a new pull request for the drift again", || {
        world
            .open_pulls()
            .into_iter()
            .find(|p| p.number != pr.number && !p.labels.is_empty())
    });
    assert_eq!(again.title, "drift(prod/hash-service): replicaCount 3 → 6");
    assert_eq!(world.replicas(), Some(6), "not healed");
}

#[test]
fn a_restarted_agent_finds_its_pull_request_and_opens_no_second() {
    let world = World::new(&prod_environment(""));
    let mut first = Agent::start(&world.env("first"));
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&first).then_some(())
    });
    world.scale(5);
    let pr = eventually(WAIT, "the drift pull request", || {
        world.open_pulls().into_iter().next()
    });
    let opened = r#"sextant_drift_pull_request_opened_timestamp_seconds{environment="prod",release="hash-service"}"#;
    let first_saw = eventually(WAIT, "the request's age published", || {
        Some(first.metric(opened)).filter(|v| *v > 0.0)
    });
    first.terminate();
    let second = Agent::start(&world.env("second"));
    eventually(
        WAIT,
        "the restarted agent lists the open pull request",
        || {
            let status = second.status();
            (status["environments"]["prod"]["drift_requests"]["open"][0]["number"] == pr.number)
                .then_some(())
        },
    );
    assert_eq!(world.fake.pulls().len(), 1, "no duplicate after a restart");
    // The age is the forge's: the restart does not reset it (the stale alert reads it).
    let second_saw = eventually(WAIT, "the age published again", || {
        Some(second.metric(opened)).filter(|v| *v > 0.0)
    });
    assert_eq!(second_saw, first_saw);
    assert_eq!(
        first_saw,
        world.fake.pull(pr.number).unwrap().created_at as f64
    );
    assert_eq!(world.replicas(), Some(5), "not healed by the restart");
}

#[test]
fn a_secret_changed_live_opens_an_issue_that_shows_no_secret_anywhere() {
    let releases = "    - {name: creds, namespace: hash-service, chart: charts/creds, values: [values/creds.yaml]}\n";
    let environment = prod_environment("").replace("  drift:\n", &format!("{releases}  drift:\n"));
    let world = World::with(
        &environment,
        &[
            ("charts/creds/Chart.yaml", "apiVersion: v2\nname: creds\nversion: 0.1.0\n"),
            (
                "charts/creds/templates/secret.yaml",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: Opaque\nstringData:\n  password: {{ .Values.password | quote }}\n",
            ),
            ("environments/prod/values/creds.yaml", "password: s3cr3t-in-git\n"),
        ],
    );
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.kubectl(&[
        "patch",
        "secret/creds",
        "-n",
        "hash-service",
        "--type=merge",
        "-p",
        r#"{"stringData":{"password":"hunter2-live"}}"#,
    ]);
    let issue = eventually(WAIT, "the drift issue, labelled", || {
        world
            .fake
            .issues()
            .into_iter()
            .find(|i| i.pull_merged_at.is_none() && !i.labels.is_empty())
    });
    assert_eq!(
        world.fake.pulls().len(),
        0,
        "a Secret is never written to Git"
    );
    assert_eq!(world.fake.branch_sha("sextant/drift/prod/creds"), None);
    let body = issue.body.clone().unwrap_or_default();
    assert!(body.contains("(Secret value changed)"), "{body}");
    assert!(body.contains("`/data/password`"), "{body}");
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let published = format!(
        "{}\n{}\n{:?}\n{}",
        issue.title,
        body,
        issue.labels,
        agent.log_text()
    );
    for secret in ["hunter2-live", "s3cr3t-in-git"] {
        assert!(!published.contains(secret), "{secret} leaked");
        assert!(
            !published.contains(&b64(secret)),
            "{secret} (base64) leaked"
        );
    }
    // The forge saw no secret in any request either.
    for r in world.fake.requests() {
        let text = format!("{} {:?} {:?}", r.path, r.query, r.body);
        assert!(!text.contains("hunter2-live") && !text.contains(&b64("hunter2-live")));
    }
}

/// A live change to a field an encrypted value feeds: the pull request's values file stays a
/// SOPS file for its recipients, only the value's ciphertext and the MAC change, the real
/// `sops` decrypts it to the live value, and the agent syncs the merge. No value shows in the
/// title, the body, the status, the log or any request to the forge.
#[test]
fn a_live_change_fed_by_an_encrypted_value_is_proposed_encrypted_and_its_merge_syncs() {
    const IN_GIT: &str = "s3cr3t-in-git-0453";
    const LIVE: &str = "r0tated-live-0454";
    let releases =
        "    - {name: db, namespace: hash-service, chart: charts/db, values: [values/db.yaml]}\n";
    let environment = prod_environment("").replace("  drift:\n", &format!("{releases}  drift:\n"));
    let keys_dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = support::sops::key_pair();
    let key_file = keys_dir.path().join("keys.txt");
    std::fs::write(&key_file, keys).unwrap();
    let plain = format!("# the database\ndatabase:\n  password: {IN_GIT}\n  host: db\n");
    let encrypted = support::sops::encrypt(keys_dir.path(), &plain, &recipient);
    let file = "environments/prod/values/db.yaml";
    let world = World::with(
        &environment,
        &[
            ("charts/db/Chart.yaml", "apiVersion: v2\nname: db\nversion: 0.1.0\n"),
            (
                "charts/db/templates/configmap.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\ndata:\n  dsn: \"postgres://app:{{ .Values.database.password }}@{{ .Values.database.host }}\"\n",
            ),
            (file, encrypted.as_str()),
        ],
    );
    let mut env = world.env("solo");
    env.insert("SOPS_AGE_KEY_FILE", key_file.display().to_string());
    let agent = Agent::start(&env);
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.kubectl(&[
        "patch",
        "configmap/db",
        "-n",
        "hash-service",
        "--type=merge",
        "-p",
        &format!(r#"{{"data":{{"dsn":"postgres://app:{LIVE}@db"}}}}"#),
    ]);
    let pr = eventually(WAIT, "the labelled drift pull request", || {
        world
            .open_pulls()
            .into_iter()
            .find(|p| !p.labels.is_empty())
    });
    assert_eq!(
        pr.title,
        "drift(prod/db): database.password (encrypted value changed)"
    );
    let proposed = world
        .fake
        .file("sextant/drift/prod/db", file)
        .expect("the values file on the PR branch");
    let proposed = String::from_utf8(proposed).unwrap();
    let (removed, added) = changed_lines(&encrypted, &proposed);
    let keys_of = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| l.trim().split(':').next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(keys_of(&removed), ["password", "lastmodified", "mac"]);
    assert_eq!(keys_of(&added), ["password", "lastmodified", "mac"]);
    std::fs::write(keys_dir.path().join("proposed.yaml"), &proposed).unwrap();
    let clear = support::sops::decrypt(keys_dir.path(), "proposed.yaml", &key_file);
    assert_eq!(clear["database"]["password"], LIVE);
    assert_eq!(clear["database"]["host"], "db");

    let body = pr.body.clone().unwrap_or_default();
    assert!(body.contains("(encrypted value changed)"), "{body}");
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let published = format!(
        "{}\n{body}\n{}\n{}",
        pr.title,
        agent.status(),
        agent.log_text()
    );
    let requests: Vec<String> = world
        .fake
        .requests()
        .iter()
        .map(|r| format!("{} {:?} {:?}", r.path, r.query, r.body))
        .collect();
    for secret in [IN_GIT, LIVE] {
        for text in std::iter::once(&published).chain(&requests) {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
            assert!(
                !text.contains(&b64(secret)),
                "{secret} (base64) leaked: {text}"
            );
        }
    }

    // Merged: the agent decrypts the file it wrote, and Git now equals live.
    let merge = world.fake.merge(pr.number).unwrap();
    eventually(WAIT, "the merge commit applied and in sync", || {
        let status = agent.status();
        (status["environments"]["prod"]["revision"] == merge.as_str() && in_sync(&agent))
            .then_some(())
    });
}

#[test]
fn forge_failures_are_reported_typed_retried_where_they_can_be_and_never_duplicate() {
    use forge_testkit::{Fault, Match};
    let world = World::new(&prod_environment(""));
    // A bad token first: every request is refused.
    world
        .fake
        .inject(Fault::unauthorized(Match::path("/repos/")));
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.scale(5);
    let error = eventually(WAIT, "the forge error in status", || {
        agent.status()["environments"]["prod"]["drift_requests"]["last_error"]
            .as_str()
            .map(str::to_string)
    });
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains(&world.fake.options().token), "{error}");
    assert!(world.fake.pulls().is_empty());
    assert!(
        agent.metric(r#"sextant_forge_requests_total{code="401",operation="list_pulls"}"#) >= 1.0,
        "{}",
        agent.get("/metrics").1
    );

    // The token fixed; the forge then fails transiently (5xx on creating the pull request, a
    // secondary rate limit on listing): retried, and exactly one pull request in the end.
    world.fake.clear_faults();
    world
        .fake
        .inject(Fault::server_error(Match::path("/pulls").method("POST"), 502).times(2));
    world.fake.inject(
        Fault::secondary_rate_limit(Match::path("/issues").method("GET"), Duration::from_secs(1))
            .times(1),
    );
    let pr = eventually(WAIT, "the pull request, once the forge recovers", || {
        world
            .open_pulls()
            .into_iter()
            .find(|p| !p.labels.is_empty())
    });
    eventually(WAIT, "the error cleared", || {
        agent.status()["environments"]["prod"]["drift_requests"]["last_error"]
            .is_null()
            .then_some(())
    });
    assert_eq!(world.fake.pulls().len(), 1, "{:?}", world.fake.pulls());
    assert_eq!(pr.title, "drift(prod/hash-service): replicaCount 3 → 5");
}

/// The `LOG_LEVEL` env var of prod's hash-service Deployment, as the test API server holds it.
fn log_level(world: &World) -> Option<String> {
    let out = support::kubectl_out(
        &world.dir.path().join("kubeconfig"),
        &[
            "get",
            "deployment/hash-service",
            "-n",
            "hash-service",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env[?(@.name==\"LOG_LEVEL\")].value}",
        ],
    );
    Some(out.trim().to_string()).filter(|s| !s.is_empty())
}

/// The CPU limit of prod's hash-service container.
fn cpu_limit(world: &World) -> String {
    support::kubectl_out(
        &world.dir.path().join("kubeconfig"),
        &[
            "get",
            "deployment/hash-service",
            "-n",
            "hash-service",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].resources.limits.cpu}",
        ],
    )
    .trim()
    .to_string()
}

/// A new commit while a drift is left in place (issue: every sync failed on the scale
/// subresource's conflict, and later waves never applied): the commit applies in full, the
/// drifted field keeps its live value, and the merge brings it back without a conflict.
#[test]
fn a_commit_while_a_drift_pull_request_is_open_applies_in_full_and_leaves_the_drift() {
    let world = World::new(&prod_environment(""));
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        (in_sync(&agent) && world.replicas() == Some(3)).then_some(())
    });
    world.scale(5);
    let pr = eventually(WAIT, "the drift pull request", || {
        world
            .open_pulls()
            .into_iter()
            .find(|p| !p.labels.is_empty())
    });

    // Someone pushes an unrelated change to the same values file (far enough from the PR's
    // line for Git to merge both): it changes the Deployment.
    let edited = PROD_VALUES.replace("limits: {cpu: 200m", "limits: {cpu: 300m");
    let commit = world
        .fake
        .seed("main", &[(VALUES, edited.as_bytes())], "more cpu")
        .unwrap();
    let status = eventually(WAIT, "the new commit applied", || {
        let s = agent.status();
        let e = &s["environments"]["prod"];
        (e["last_sync"]["revision"] == commit.as_str()).then(|| s.clone())
    });
    let e = &status["environments"]["prod"];
    assert_eq!(e["last_sync"]["result"], "succeeded", "{status}");
    assert_eq!(e["revision"], commit.as_str(), "{status}");
    assert_eq!(cpu_limit(&world), "300m");
    assert_eq!(world.replicas(), Some(5), "the drift is left in place");
    assert!(
        world.fake.pull(pr.number).unwrap().open,
        "its PR stays open"
    );

    // Merged: Git now says 5, the agent applies it without a conflict and is in sync.
    let merge = world.fake.merge(pr.number).unwrap();
    eventually(WAIT, "the merge commit applied and in sync", || {
        let s = agent.status();
        let e = &s["environments"]["prod"];
        (e["revision"] == merge.as_str()
            && e["last_sync"]["result"] == "succeeded"
            && in_sync(&agent))
        .then_some(())
    });
    assert_eq!(world.replicas(), Some(5));
    assert_eq!(cpu_limit(&world), "300m");
}

/// Under `report`, a drift made with a plain `kubectl patch` is left in place by a commit that
/// changes something else, and by one that changes the drifted field itself: only `heal` (or a
/// human) makes Git win over a live change (docs/environments.md).
#[test]
fn under_report_a_patched_field_keeps_its_live_value_through_new_commits() {
    let environment = prod_environment("").replace("policy: pull-request", "policy: report");
    let world = World::new(&environment);
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        (in_sync(&agent) && world.replicas() == Some(3)).then_some(())
    });
    world.kubectl(&[
        "patch",
        "deployment/hash-service",
        "-n",
        "hash-service",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":6}}"#,
    ]);
    eventually(WAIT, "the patch reported as drift", || {
        (agent.status()["environments"]["prod"]["drift"]["state"] == "drifted").then_some(())
    });

    for (values, message, level) in [
        (
            PROD_VALUES.replace("logLevel: 'info'", "logLevel: 'warn'"),
            "warn logs",
            "warn",
        ),
        (
            PROD_VALUES
                .replace("logLevel: 'info'", "logLevel: 'warn'")
                .replace("replicaCount: 3", "replicaCount: 4"),
            "four replicas",
            "warn",
        ),
    ] {
        let commit = world
            .fake
            .seed("main", &[(VALUES, values.as_bytes())], message)
            .unwrap();
        let status = eventually(WAIT, message, || {
            let s = agent.status();
            (s["environments"]["prod"]["last_sync"]["revision"] == commit.as_str())
                .then(|| s.clone())
        });
        let e = &status["environments"]["prod"];
        assert_eq!(e["last_sync"]["result"], "succeeded", "{message}: {status}");
        assert_eq!(log_level(&world).as_deref(), Some(level), "{message}");
        assert_eq!(world.replicas(), Some(6), "{message}: the drift is left");
    }
    eventually(
        WAIT,
        "the drift still reported, against Git's new value",
        || {
            let s = agent.status();
            (s["environments"]["prod"]["drift"]["state"] == "drifted").then_some(())
        },
    );
    assert!(world.open_pulls().is_empty(), "report opens nothing");
}

const BRANCH: &str = "sextant/drift/prod/hash-service";

/// Requests the fake served with `method` whose path ends with `suffix`.
fn served(world: &World, method: &str, suffix: &str) -> usize {
    world
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .count()
}

#[test]
fn a_label_that_exists_in_another_case_leaves_one_pull_request_and_a_close_is_still_a_rejection() {
    let world = World::new(&prod_environment(""));
    // A team that coloured its labels before the agent came: GitHub's label names are unique
    // regardless of case, so the agent's `sextant-drift` attaches this one.
    world.fake.create_label("Sextant-Drift", "5319e7");
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.scale(5);
    let pr = eventually(WAIT, "the labelled drift pull request", || {
        world
            .open_pulls()
            .into_iter()
            .find(|p| !p.labels.is_empty())
    });
    assert!(
        pr.labels.contains(&"Sextant-Drift".to_string()),
        "{:?}",
        pr.labels
    );
    // Several more passes over the forge: the agent sees its request and writes nothing more.
    let seen = world.fake.requests().len();
    eventually(WAIT, "more passes over the forge", || {
        (world.fake.requests().len() >= seen + 10).then_some(())
    });
    assert_eq!(world.fake.pulls().len(), 1, "exactly one pull request");
    assert_eq!(served(&world, "POST", "/pulls"), 1, "no second POST /pulls");
    assert_eq!(served(&world, "POST", "/git/commits"), 1, "one commit");
    assert_eq!(
        served(&world, "PATCH", BRANCH),
        0,
        "the branch is never force-moved"
    );
    assert!(
        agent.status()["environments"]["prod"]["drift_requests"]["last_error"].is_null(),
        "{}",
        agent.status()
    );
    // A reviewer closes it without merging: still a rejection, healed, and not proposed again.
    world.fake.close(pr.number).unwrap();
    eventually(WAIT, "the rejected drift healed", || {
        (world.replicas() == Some(3) && in_sync(&agent)).then_some(())
    });
    assert_eq!(world.fake.pulls().len(), 1, "no second pull request");
}

#[test]
fn in_a_busy_repository_each_pass_reads_only_its_own_branch_and_finds_its_pull_request() {
    let world = World::new(&prod_environment(""));
    // 250 open pull requests of other people's, older than the agent's: three pages of 100.
    for i in 0..250 {
        world
            .fake
            .seed_pull(&format!("feature/{i}"), &format!("feature {i}"), &[])
            .unwrap();
    }
    let ours = |world: &World| -> Vec<forge_testkit::PullRequest> {
        world
            .fake
            .pulls()
            .into_iter()
            .filter(|p| p.head == BRANCH)
            .collect()
    };
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.scale(5);
    let pr = eventually(WAIT, "the labelled drift pull request", || {
        ours(&world).into_iter().find(|p| !p.labels.is_empty())
    });
    // 250 more, newer than the agent's: its request is no longer among the first pages.
    for i in 0..250 {
        world
            .fake
            .seed_pull(&format!("later/{i}"), &format!("later {i}"), &[])
            .unwrap();
    }
    world.fake.clear_requests();
    world.scale(6);
    eventually(WAIT, "the same pull request updated", || {
        let p = world.fake.pull(pr.number)?;
        (p.title == "drift(prod/hash-service): replicaCount 3 → 6").then_some(())
    });
    let seen = world.fake.requests().len();
    eventually(WAIT, "more passes over the forge", || {
        (world.fake.requests().len() >= seen + 10).then_some(())
    });
    assert_eq!(ours(&world).len(), 1, "no second pull request");
    let log = world.fake.requests();
    let lists: Vec<_> = log
        .iter()
        .filter(|r| {
            r.method == "GET" && (r.path.ends_with("/pulls") || r.path.ends_with("/issues"))
        })
        .collect();
    for r in &lists {
        assert!(
            !r.query.contains("page=2"),
            "one page per list, whatever the repository holds: {} ?{}",
            r.path,
            r.query
        );
        if r.path.ends_with("/pulls") {
            assert!(
                r.query.contains("head="),
                "pulls found by branch: ?{}",
                r.query
            );
        }
    }
    // A pass: its branch's pull requests and the labelled issues, and what it writes; the
    // requests between two passes' issue lists stay few, independent of the 2,000 others.
    let passes: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "GET" && r.path.ends_with("/issues"))
        .map(|(i, _)| i)
        .collect();
    assert!(passes.len() >= 3, "{passes:?}");
    let most = passes.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(most <= 20, "{most} requests in one pass");
}

#[test]
fn a_refused_token_is_backed_off_and_the_wait_is_shown_in_status() {
    use forge_testkit::{Fault, Match};
    let world = World::new(&prod_environment(""));
    world
        .fake
        .inject(Fault::unauthorized(Match::path("/repos/")));
    let agent = Agent::start(&world.env("solo"));
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.scale(5);
    let waiting =
        |agent: &Agent| agent.status()["environments"]["prod"]["drift_requests"]["waiting"].clone();
    let first = eventually(WAIT, "the wait in status", || {
        Some(waiting(&agent)).filter(|w| !w.is_null())
    });
    assert!(
        first["reason"].as_str().unwrap_or_default().contains("401"),
        "{first}"
    );
    assert!(first["until"].is_string(), "{first}");
    assert!(!first.to_string().contains(&world.fake.options().token));
    // The spacing of the passes that follow (5, 10, 20 s, one request each) is the loop's
    // table test (daemon/pullrequest.rs, under a paused clock with the in-memory forge).
    assert!(world.fake.pulls().is_empty());
}

#[test]
fn a_branch_the_forge_refuses_to_create_is_backed_off_not_rebuilt_every_pass() {
    use forge_testkit::{Fault, Match};
    let world = World::new(&prod_environment(""));
    // Every branch creation is refused as invalid (422): a ruleset, a bad name.
    world.fake.inject(Fault::validation(
        Match::path("/git/refs").method("POST"),
        "Reference update failed",
    ));
    // Waits of 3 s, then 6 s, against passes every second: a pass per second would create
    // three blobs over the first wait.
    let mut env = world.env("solo");
    env.insert("SEXTANT_RETRY_BASE", "3s".into());
    let agent = Agent::start(&env);
    eventually(WAIT, "prod applied and watched", || {
        in_sync(&agent).then_some(())
    });
    world.scale(5);
    let waiting =
        |agent: &Agent| agent.status()["environments"]["prod"]["drift_requests"]["waiting"].clone();
    let first = eventually(WAIT, "the wait in status", || {
        Some(waiting(&agent)).filter(|w| !w.is_null())
    });
    assert!(
        first["reason"].as_str().unwrap_or_default().contains("422"),
        "{first}"
    );
    let blobs = || served(&world, "POST", "/git/blobs");
    let before = blobs();
    let failures = first["failures"].as_u64().unwrap_or(1);
    eventually(WAIT, "one more refused pass", || {
        (waiting(&agent)["failures"].as_u64().unwrap_or(0) > failures).then_some(())
    });
    // One blob, tree, commit and ref per refused pass: one pass over the wait, not one a
    // second. (The schedule of the waits, 5, 10 and 20 s by default, is the loop's table test
    // in daemon/pullrequest.rs.)
    let more = blobs() - before;
    assert!(more <= 1, "{more} blobs over one backoff");
    assert!(world.fake.pulls().is_empty());
}
