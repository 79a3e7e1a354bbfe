//! Sharding end to end: `sextant run` replicas with `SEXTANT_SHARDING` share six environments
//! through Leases in the test API server. A replica joining takes its share through handovers;
//! a replica killed has its environments taken over once its Leases run out. The test server's
//! request log shows, per environment, that no replica wrote after another had begun (every
//! handover ends the old holder's writes before the new holder's first), and that a replica
//! taking over an environment nobody changed re-applies nothing.

mod support;

use sextant_testkit::{RequestRecord, TestServer};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use support::agent::{eventually, Agent};
use support::environment;
use support::git::{GitDaemon, WorkRepo};

const ENVIRONMENTS: [&str; 6] = ["e0", "e1", "e2", "e3", "e4", "e5"];
/// Longer than the process tests' usual bound: a take-over waits out a 3 s Lease.
const WAIT: Duration = Duration::from_secs(20);

/// One release per environment, rendering ConfigMap `greeting` in the environment's namespace.
fn platform(repo: &WorkRepo) {
    repo.write("charts/app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
        .write("charts/app/values.yaml", "greeting: hello\n")
        .write("charts/app/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  text: {{ .Values.greeting | quote }}\n");
    for env in ENVIRONMENTS {
        let release = format!(
            "    - {{name: app, namespace: {env}, chart: charts/app, values: [values.yaml]}}\n"
        );
        repo.write(
            &format!("environments/{env}/environment.yaml"),
            &environment(env, &release),
        )
        .write(
            &format!("environments/{env}/values.yaml"),
            &format!("greeting: hello-{env}\n"),
        );
    }
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
        platform(&repo);
        repo.commit_and_push("six environments");
        let dir = tempfile::tempdir().unwrap();
        let (server, _) = support::test_server(dir.path());
        World {
            _git: git,
            repo,
            server,
            dir,
        }
    }

    fn start(&self, name: &str) -> Agent {
        let d = self.dir.path();
        Agent::start(&HashMap::from([
            ("KUBECONFIG", d.join("kubeconfig").display().to_string()),
            ("SEXTANT_REPO_URL", self.repo.url.clone()),
            ("SEXTANT_BRANCH", "main".into()),
            ("SEXTANT_ENVIRONMENTS", ENVIRONMENTS.join(",")),
            ("SEXTANT_POLL_INTERVAL", "1s".into()),
            (
                "SEXTANT_CACHE_DIR",
                d.join(format!("cache-{name}")).display().to_string(),
            ),
            ("SEXTANT_POD_NAME", name.to_string()),
            ("SEXTANT_SHARDING", "true".into()),
            ("SEXTANT_LEASE_DURATION", "3s".into()),
        ]))
    }
}

/// The holder of each environment once every replica in `agents` sees them all as members and
/// agrees on the holder, each holder owns what it holds and has synced it.
fn settled(agents: &[(&str, &Agent)]) -> BTreeMap<String, String> {
    eventually(WAIT, "every environment held and synced", || {
        let statuses: Vec<_> = agents.iter().map(|(n, a)| (*n, a.status())).collect();
        let names: Vec<&str> = agents.iter().map(|(n, _)| *n).collect();
        if statuses.iter().any(|(_, s)| {
            let members: Vec<&str> = s["members"]
                .as_array()
                .map(|m| m.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            members != names
        }) {
            return None;
        }
        let mut holders = BTreeMap::new();
        for env in ENVIRONMENTS {
            let seen: Vec<_> = statuses
                .iter()
                .map(|(_, s)| s["environments"][env]["shard"]["holder"].as_str())
                .collect();
            let holder = seen[0]?;
            if seen.iter().any(|h| *h != Some(holder)) {
                return None;
            }
            let (_, status) = statuses.iter().find(|(n, _)| *n == holder)?;
            let env_status = &status["environments"][env];
            if env_status["shard"]["owner"] != holder
                || env_status["last_sync"]["result"] != "succeeded"
            {
                return None;
            }
            holders.insert(env.to_string(), holder.to_string());
        }
        Some(holders)
    })
}

/// The replica a request came from, by the User-Agent `sextant/<version> (<identity>)`.
fn replica(r: &RequestRecord) -> Option<String> {
    let ua = r.user_agent.as_deref()?;
    Some(ua.split_once('(')?.1.strip_suffix(')')?.to_string())
}

/// A write to the environment's objects: not a dry run, not a Lease, in its namespace.
fn writes_env(r: &RequestRecord, env: &str) -> bool {
    r.method != "GET"
        && !r.dry_run
        && r.resource.as_deref() != Some("leases")
        && (r.namespace.as_deref() == Some(env)
            || (r.resource.as_deref() == Some("namespaces") && r.name.as_deref() == Some(env)))
}

/// For each environment, the replicas that wrote it, in the order of their first writes, and
/// checks that each one's writes all came before the next one's first.
fn writers(log: &[RequestRecord], env: &str) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for r in log.iter().filter(|r| writes_env(r, env)) {
        let who = replica(r).unwrap_or_else(|| panic!("a write without a replica: {r:?}"));
        if order.last() != Some(&who) {
            assert!(
                !order.contains(&who),
                "{env}: {who} wrote again after {:?} had begun: writes interleaved",
                order.last()
            );
            order.push(who);
        }
    }
    order
}

#[test]
fn replicas_share_environments_hand_them_over_and_take_over_a_dead_one() {
    let world = World::new();
    let a = world.start("replica-a");
    let b = world.start("replica-b");
    let before = settled(&[("replica-a", &a), ("replica-b", &b)]);
    // Whichever started first held everything for a moment, then handed half over: each
    // environment was written by one replica, and the one it moved to re-applied nothing.
    let log = world.server.requests();
    for env in ENVIRONMENTS {
        assert_eq!(
            writers(&log, env).len(),
            1,
            "{env}: {:?}",
            writers(&log, env)
        );
    }

    // A third replica joins: two environments move to it through handovers, and no one
    // re-applies anything.
    world.server.clear_requests();
    let mut c = world.start("replica-c");
    let after_join = settled(&[("replica-a", &a), ("replica-b", &b), ("replica-c", &c)]);
    for r in ["replica-a", "replica-b", "replica-c"] {
        assert_eq!(
            after_join.values().filter(|h| *h == r).count(),
            2,
            "{after_join:?}"
        );
    }
    assert!(after_join.iter().any(|(env, h)| before[env] != *h));
    let log = world.server.requests();
    for env in ENVIRONMENTS {
        assert_eq!(writers(&log, env), Vec::<String>::new(), "{env} re-applied");
    }
    for x in [&a, &b, &c] {
        assert_eq!(x.metric("sextant_shard_members"), 3.0);
    }

    // The newcomer is killed: its Leases are not released, so the others wait them out, then
    // take over and find nothing to re-apply.
    world.server.clear_requests();
    c.kill();
    let survivors = [("replica-a", &a), ("replica-b", &b)];
    let after_kill = settled(&survivors);
    let log = world.server.requests();
    for env in ENVIRONMENTS {
        assert_eq!(writers(&log, env), Vec::<String>::new(), "{env} re-applied");
    }

    // A commit changing every environment: each is written by its holder alone.
    world.server.clear_requests();
    for env in ENVIRONMENTS {
        world.repo.write(
            &format!("environments/{env}/values.yaml"),
            &format!("greeting: changed-{env}\n"),
        );
    }
    let revision = world.repo.commit_and_push("change every environment");
    eventually(WAIT, "every environment on the new revision", || {
        ENVIRONMENTS
            .iter()
            .all(|env| {
                let (_, holder) = survivors
                    .iter()
                    .find(|(n, _)| *n == after_kill[*env])
                    .expect("a survivor holds it");
                holder.status()["environments"][env]["revision"] == revision.as_str()
            })
            .then_some(())
    });
    let log = world.server.requests();
    for env in ENVIRONMENTS {
        assert_eq!(writers(&log, env), vec![after_kill[env].clone()], "{env}");
    }

    // SIGTERM: replica-a releases what it holds and deletes its member Lease; the killed
    // replica's stays until it has been gone ten Lease durations.
    let mut a = a;
    assert!(a.terminate().success(), "{}", a.log_text());
    let members = support::block_on(async {
        let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
            kube::Api::namespaced(world.server.client().unwrap(), "sextant-system");
        let params = kube::api::ListParams::default().labels("sextant.io/shard-role=member");
        let list = leases.list(&params).await.unwrap();
        list.items
            .into_iter()
            .filter_map(|l| l.metadata.name)
            .collect::<Vec<_>>()
    });
    assert!(
        !members.iter().any(|m| m.ends_with("replica-a")),
        "{members:?}"
    );
    assert!(
        members.iter().any(|m| m.ends_with("replica-c")),
        "{members:?}"
    );
}
