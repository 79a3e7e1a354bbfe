//! Table tests of the promotion loop: one pass at a time over fakes of its ports (the forge, the
//! registry, the records, the live state as a plain index) under a paused clock and a manual
//! wall clock, so a soak of an hour passes in no time and every pass is deterministic.

use super::*;
use crate::apply::record::ConfigMaps;
use crate::daemon::status::Status;
use crate::metrics::Metrics;
use sextant_fakes::FakeCluster;
use std::sync::Mutex;

/// The records, as ConfigMaps in the agent's namespace of the in-memory cluster.
type Kept = ConfigMaps<FakeCluster>;
use crate::daemon::status::PromotionStatus;
use crate::drift::pr::Kind;
use crate::drift::ObjectDrift;
use crate::live::Index;
use crate::object::{Object, ObjectRef};
use serde_json::{json, Value};
use sextant_fakes::{FakeForge, FakeRegistry};

const REPOSITORY: &str = "registry.example/hash-service";
const DEPLOYMENT: (&str, &str, &str) = ("apps", "v1", "Deployment");
const PROD_VALUES: &str = "environments/prod/values/hash-service.yaml";
const DEV_VALUES: &str = "environments/dev/values/hash-service.yaml";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn values(digest: &str) -> String {
    format!("# overrides\nimage:\n  repository: {REPOSITORY}\n  digest: {digest}   # promoted\nreplicaCount: 1\n")
}

fn environment(name: &str, extra: &str) -> String {
    format!("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n  releases:\n    - {{name: hash-service, namespace: hash-service, chart: helm/hash-service, values: [values/hash-service.yaml]}}\n{extra}")
}

/// prod's promotion block: from dev, with `checks` (YAML lines) when given.
fn promotion(mode: &str, soak: &str, checks: &str) -> String {
    format!("  promotion:\n    from: dev\n    mode: {mode}\n    soak: {soak}\n    images:\n      - {{release: hash-service, path: image.digest, repository: \"{REPOSITORY}\"}}\n{checks}")
}

/// A check no one answers: a port just closed.
fn unanswered_check() -> String {
    let addr = service_kit::testing::closed_port();
    format!("    checks:\n      - http: {{url: \"http://{addr}/ready\"}}\n")
}

/// A Prometheus check of a server that is gone: a port just closed.
fn unanswered_prometheus() -> String {
    let addr = service_kit::testing::closed_port();
    format!("    checks:\n      - prometheus: {{url: \"http://{addr}\", query: \"errors\", condition: \"< 0.01\"}}\n")
}

/// dev's Deployment as the watches see it: running `digest`, rolled out or not.
fn deployment(digest: &str, healthy: bool) -> Value {
    let available = i64::from(healthy);
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hash-service", "namespace": "hash-service", "generation": 1},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "app", "image": format!("{REPOSITORY}@{digest}")}]}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
            "availableReplicas": available}})
}

/// The repository (on disk and in the forge), dev's agent's view of it, and the loop.
struct World {
    repo: tempfile::TempDir,
    forge: Arc<FakeForge>,
    registry: Arc<FakeRegistry>,
    live: Arc<Mutex<Index>>,
    records: Arc<Kept>,
    clock: Clock,
    status: Arc<Mutex<Status>>,
    metrics: Metrics,
    applied: watch::Sender<Option<Arc<Applied>>>,
    snapshots: watch::Sender<Option<Arc<Snapshot>>>,
    feed: watch::Sender<Arc<DriftFeed>>,
    leading: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

impl World {
    /// dev and prod both at `running`; prod promotes from dev with `promotion`.
    fn new(promotion: &str, running: &str) -> World {
        let repo = tempfile::tempdir().unwrap();
        let forge = Arc::new(FakeForge::new());
        let registry = Arc::new(FakeRegistry::new());
        registry.push(REPOSITORY, running);
        let (applied, _) = watch::channel(None);
        let (snapshots, _) = watch::channel(None);
        let (feed, _) = watch::channel(Arc::new(DriftFeed {
            known: true,
            ..DriftFeed::default()
        }));
        let world = World {
            repo,
            forge,
            registry,
            live: Arc::new(Mutex::new(Index::default())),
            records: Arc::new(ConfigMaps {
                cluster: Arc::new(FakeCluster::new().with_namespace("sextant-system")),
                namespace: "sextant-system".into(),
            }),
            clock: Clock::manual(1_800_000_000),
            status: Arc::default(),
            metrics: Metrics::new().unwrap(),
            applied,
            snapshots,
            feed,
            leading: watch::channel(true).0,
            stop: watch::channel(false).0,
        };
        world.write(&[
            ("helm/hash-service/Chart.yaml", "name: hash-service\n"),
            ("environments/dev/environment.yaml", &environment("dev", "")),
            (
                "environments/prod/environment.yaml",
                &environment("prod", promotion),
            ),
            (DEV_VALUES, &values(running)),
            (PROD_VALUES, &values(running)),
        ]);
        world.live(running, true);
        world
    }

    /// A commit of `files` on main, in the forge and in dev's checkout, which dev's agent
    /// then applies.
    fn write(&self, files: &[(&str, &str)]) {
        for (path, text) in files {
            let file = self.repo.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        let seeded: Vec<(&str, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
        let revision = self.forge.seed("main", &seeded);
        let env = crate::environment::load(self.repo.path(), "dev").unwrap();
        let reference = ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: Some("hash-service".into()),
            name: "hash-service".into(),
        };
        let object = Object {
            reference,
            release: "hash-service".into(),
            source: "hash-service/templates/deployment.yaml".into(),
            wave: crate::environment::Wave(0),
            hook: None,
            hash: String::new(),
            manifest: Value::Null,
        };
        let applied = Applied::new(env, Some(revision.clone()), vec![object]);
        self.applied.send_replace(Some(Arc::new(applied)));
        self.snapshots.send_replace(Some(Arc::new(Snapshot {
            revision,
            path: self.repo.path().to_path_buf(),
        })));
    }

    /// dev's agent applied `digest`.
    fn deploy_dev(&self, digest: &str) {
        self.write(&[(DEV_VALUES, &values(digest))]);
        self.live(digest, true);
    }

    /// What the watches see of dev's Deployment.
    fn live(&self, digest: &str, healthy: bool) {
        let kind = (
            DEPLOYMENT.0.to_string(),
            DEPLOYMENT.1.to_string(),
            DEPLOYMENT.2.to_string(),
        );
        let mut index = self.live.lock().unwrap();
        index.track(kind.clone());
        index.init(&kind);
        index.apply(&kind, deployment(digest, healthy));
        index.init_done(&kind);
    }

    /// The drift watch reports dev's Deployment drifted (or nothing, with `false`).
    fn drifted(&self, drifted: bool) {
        let reference = ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: Some("hash-service".into()),
            name: "hash-service".into(),
        };
        let objects = drifted
            .then(|| ObjectDrift {
                release: "hash-service".into(),
                object: reference.to_string(),
                reference,
                deleted: false,
                fields: Vec::new(),
            })
            .into_iter()
            .collect();
        self.feed.send_replace(Arc::new(DriftFeed {
            known: true,
            objects,
            live: HashMap::new(),
        }));
    }

    /// dev's promotion loop, as a (re)started agent builds it.
    fn promoter(&self) -> Promoter<FakeForge, FakeRegistry, Kept> {
        Promoter {
            source: "dev".into(),
            forge: self.forge.clone(),
            registry: self.registry.clone(),
            trust: None,
            base: "main".into(),
            applied: self.applied.subscribe(),
            snapshots: self.snapshots.subscribe(),
            feed: self.feed.subscribe(),
            cache: self.live.clone(),
            records: self.records.clone(),
            shared: Shared {
                leading: self.leading.subscribe(),
                stop: self.stop.subscribe(),
                metrics: self.metrics.clone(),
                status: self.status.clone(),
                retry: crate::config::RETRY,
            },
            tick: Duration::from_secs(1),
            log: None,
            clock: self.clock.clone(),
            targets_of: crate::promotion::targets,
        }
    }

    /// A world with `new` in the registry and deployed in dev, after the loop's first pass
    /// over it (its soak begun), with that loop and its memory.
    async fn deployed(
        promotion: &str,
        old: &str,
        new: &str,
    ) -> (World, Promoter<FakeForge, FakeRegistry, Kept>, Memory) {
        let w = World::new(promotion, old);
        w.registry.push(REPOSITORY, new);
        let p = w.promoter();
        let mut m = Memory::default();
        w.deploy_dev(new);
        p.pass(&mut m).await;
        (w, p, m)
    }

    fn gate(&self) -> PromotionStatus {
        self.status.lock().unwrap().environments["dev"].promotions[0].clone()
    }

    fn counted(&self, result: &str) -> u64 {
        self.metrics
            .promotions_total
            .with_label_values(&["dev", "prod", result])
            .get()
    }

    fn pulls(&self) -> Vec<sextant_fakes::Stored> {
        self.forge
            .stored()
            .into_iter()
            .filter(|s| s.kind == Kind::PullRequest)
            .collect()
    }
}

/// A digest dev ran healthily for the soak becomes one labelled pull request changing only
/// prod's digest; later passes and a restarted loop write nothing more.
#[tokio::test(start_paused = true)]
async fn a_digest_soaked_in_dev_becomes_one_pull_request_and_later_passes_write_nothing() {
    let (old, new) = (digest('a'), digest('b'));
    let w = World::new(&promotion("pull-request", "1h", ""), &old);
    w.registry.push(REPOSITORY, &new);
    let p = w.promoter();
    let mut m = Memory::default();
    p.pass(&mut m).await;
    assert_eq!(w.gate().state, "up-to-date", "{:?}", w.gate());

    w.deploy_dev(&new);
    // (seconds on the wall clock since the deploy, the gate, pull requests so far)
    let table = [
        (0, "soaking", 0),
        (1800, "soaking", 0),
        (3600, "qualified", 1),
        (3700, "qualified", 1),
    ];
    let mut at = 0;
    for (second, state, pulls) in table {
        w.clock.advance(second - at);
        at = second;
        p.pass(&mut m).await;
        let g = w.gate();
        assert_eq!(
            (g.state, w.pulls().len()),
            (state, pulls),
            "at {second} s: {g:?}"
        );
        assert_eq!(g.digest.as_deref(), Some(new.as_str()));
    }
    let pr = &w.pulls()[0];
    assert_eq!(
        pr.head.as_deref(),
        Some("sextant/promote/prod/hash-service")
    );
    assert_eq!(pr.labels, [crate::promotion::proposal::LABEL]);
    assert!(
        pr.title
            .starts_with("promote(prod): hash-service sha256:bbbbbbbbbbbb… from dev@"),
        "{}",
        pr.title
    );
    for part in [
        "`registry.example/hash-service`",
        "soak 1h",
        "the manifest's bytes hash",
    ] {
        assert!(
            pr.body.contains(part),
            "the body shows {part:?}: {}",
            pr.body
        );
    }
    let proposed = w
        .forge
        .file_on(pr.head.as_deref().unwrap(), PROD_VALUES)
        .unwrap();
    assert_eq!(
        String::from_utf8(proposed).unwrap(),
        values(&old).replace(&old, &new)
    );
    assert_eq!(
        w.forge.file_on(pr.head.as_deref().unwrap(), DEV_VALUES),
        w.forge.file_on("main", DEV_VALUES),
        "nothing but prod's values changes"
    );
    let g = w.gate();
    assert!(g.healthy_since.is_some() && g.request.is_some(), "{g:?}");
    assert!(
        g.registry
            .as_deref()
            .unwrap()
            .starts_with("verified in registry.example"),
        "{g:?}"
    );
    assert_eq!(w.counted("proposed"), 1);

    // A restarted agent: the soak's start from the record, the request from the forge.
    let restarted = w.promoter();
    let mut fresh = Memory::default();
    restarted.pass(&mut fresh).await;
    assert_eq!(
        w.gate().healthy_since,
        g.healthy_since,
        "the soak went on from the record"
    );
    assert_eq!(w.gate().request, g.request, "the open request found again");
    assert_eq!(w.pulls().len(), 1, "no second pull request");
    assert_eq!(w.forge.count("open_pull"), 1);
}

/// What holds a digest back, each in the gate's state and message, and nothing proposed;
/// once nothing does, the same digest goes through.
#[tokio::test(start_paused = true)]
async fn a_digest_held_back_is_named_in_the_gate_and_never_proposed() {
    enum Hold {
        CheckFails,
        PrometheusGone,
        NotInRegistry,
        RegistrySilent,
        Degraded,
        Drifted,
    }
    // (what holds it, the gate, what the gate or its error says, the registry's row)
    let table = [
        (Hold::CheckFails, "check-failed", "no answer", None),
        (
            Hold::PrometheusGone,
            "check-unknown",
            "check errors cannot say (Prometheus did not answer",
            None,
        ),
        (
            Hold::NotInRegistry,
            "qualified",
            "refused by the registry",
            Some("refused:"),
        ),
        (
            Hold::RegistrySilent,
            "qualified",
            "could not verify the digest yet",
            Some("not verified"),
        ),
        (
            Hold::Degraded,
            "progressing",
            "0 of 1 updated replicas available",
            None,
        ),
        (
            Hold::Drifted,
            "drifted",
            "drifted: Deployment.apps hash-service/hash-service",
            None,
        ),
    ];
    for (hold, state, says, registry) in table {
        let (old, new) = (digest('a'), digest('c'));
        let checks = match hold {
            Hold::CheckFails => unanswered_check(),
            Hold::PrometheusGone => unanswered_prometheus(),
            _ => String::new(),
        };
        let w = World::new(&promotion("pull-request", "10m", &checks), &old);
        if !matches!(hold, Hold::NotInRegistry) {
            w.registry.push(REPOSITORY, &new);
        }
        let p = w.promoter();
        let mut m = Memory::default();
        w.deploy_dev(&new);
        p.pass(&mut m).await;
        match hold {
            Hold::Degraded => w.live(&new, false),
            Hold::Drifted => w.drifted(true),
            Hold::RegistrySilent => {
                for _ in 0..3 {
                    w.registry.fail(FakeRegistry::unavailable());
                }
            }
            _ => {}
        }
        w.clock.advance(600);
        let asked = w.registry.calls().len();
        p.pass(&mut m).await;
        let since = w.gate().since;
        w.clock.advance(5);
        p.pass(&mut m).await;
        p.pass(&mut m).await;
        let g = w.gate();
        assert_eq!(
            g.since, since,
            "in the same state since the same moment: {g:?}"
        );
        if matches!(hold, Hold::RegistrySilent) {
            assert_eq!(w.registry.calls().len(), asked + 3, "asked again each pass");
        }
        let text = format!("{} {}", g.message, g.last_error.clone().unwrap_or_default());
        assert_eq!(g.state, state, "{g:?}");
        assert!(text.contains(says), "{says:?} in {g:?}");
        assert_eq!(
            g.registry.as_deref().map(|r| r.split(' ').next().unwrap()),
            registry.map(|r: &str| r.split(' ').next().unwrap()),
            "{g:?}"
        );
        assert!(w.pulls().is_empty(), "nothing proposed: {g:?}");
        assert_eq!(w.forge.count("commit"), 0);
        let label = match hold {
            Hold::NotInRegistry => Some("not_found"),
            Hold::RegistrySilent => Some("unreachable"),
            _ => None,
        };
        assert_eq!(g.error, label, "the error's label: {g:?}");
        let refused = u64::from(matches!(hold, Hold::NotInRegistry));
        assert_eq!(w.counted("refused"), refused, "a refusal counted once");
        if matches!(hold, Hold::Degraded | Hold::Drifted) {
            assert!(g.healthy_since.is_none(), "the soak is gone: {g:?}");
        }
        if let Hold::PrometheusGone = hold {
            assert!(
                g.healthy_since.is_none(),
                "no soak starts while a check cannot say: {g:?}"
            );
            let says = |state: &str| {
                w.metrics
                    .promotion_checks
                    .with_label_values(&["prod", "hash-service", "checks[0]", state])
                    .get()
            };
            assert_eq!(
                (says("unknown"), says("passing"), says("failing")),
                (1, 0, 0)
            );
        }
    }
}

/// The soak starts again after dev degrades or drifts, from when it holds again.
#[tokio::test(start_paused = true)]
async fn degrading_or_drifting_in_dev_starts_the_soak_again() {
    let (old, new) = (digest('a'), digest('d'));
    let w = World::new(&promotion("pull-request", "1h", ""), &old);
    w.registry.push(REPOSITORY, &new);
    let p = w.promoter();
    let mut m = Memory::default();
    w.deploy_dev(&new);
    p.pass(&mut m).await;
    let first = w.gate().healthy_since.unwrap();
    // Degraded, then drifted: each broken for a minute half-way through the soak.
    for drift in [false, true] {
        let broken = |yes: bool| match drift {
            false => w.live(&new, !yes),
            true => w.drifted(yes),
        };
        w.clock.advance(1800);
        broken(true);
        p.pass(&mut m).await;
        assert!(w.gate().healthy_since.is_none(), "{:?}", w.gate());
        w.clock.advance(60);
        broken(false);
        p.pass(&mut m).await;
        let again = w.gate();
        assert_eq!(again.state, "soaking", "{again:?}");
        assert!(
            again.healthy_since.clone().unwrap() > first,
            "the soak starts again: {again:?}"
        );
        w.clock.advance(1800);
        p.pass(&mut m).await;
        assert_eq!(
            w.gate().state,
            "soaking",
            "half an hour is not the hour: {:?}",
            w.gate()
        );
    }
    assert!(w.pulls().is_empty());
}

/// Once the check passes (prod's Git drops it) and the digest is in the registry, what was
/// held back goes through: it was the gate that held it.
#[tokio::test(start_paused = true)]
async fn a_digest_held_by_a_check_goes_through_once_the_check_is_gone() {
    let (old, new) = (digest('a'), digest('e'));
    let w = World::new(&promotion("pull-request", "1s", &unanswered_check()), &old);
    w.registry.push(REPOSITORY, &new);
    let p = w.promoter();
    let mut m = Memory::default();
    w.deploy_dev(&new);
    w.clock.advance(5);
    p.pass(&mut m).await;
    assert_eq!(w.gate().state, "check-failed");
    w.write(&[(
        "environments/prod/environment.yaml",
        &environment("prod", &promotion("pull-request", "1s", "")),
    )]);
    p.pass(&mut m).await;
    w.clock.advance(5);
    p.pass(&mut m).await;
    assert_eq!(w.gate().state, "qualified");
    assert_eq!(w.pulls().len(), 1);
}

/// `commit` mode: one commit on main carrying the digest, made once.
#[tokio::test(start_paused = true)]
async fn in_commit_mode_a_qualified_digest_is_one_commit_on_main() {
    let (old, new) = (digest('a'), digest('f'));
    let (w, p, mut m) = World::deployed(&promotion("commit", "1s", ""), &old, &new).await;
    w.clock.advance(5);
    for _ in 0..3 {
        p.pass(&mut m).await;
    }
    assert_eq!(w.forge.count("advance"), 1, "one commit: {:?}", w.gate());
    let on_main = String::from_utf8(w.forge.file_on("main", PROD_VALUES).unwrap()).unwrap();
    assert_eq!(on_main, values(&old).replace(&old, &new));
    let head = w.forge.branch_head("main").unwrap();
    assert_eq!(
        w.gate().request.as_deref(),
        Some(head.as_str()),
        "the commit in the gate"
    );
    assert!(w.pulls().is_empty());
    assert_eq!(w.counted("committed"), 1);
}

/// A newer digest qualifying while the older one's request is open updates that request
/// (a commit on its branch, the title, a comment saying a review of the older one does not
/// cover it), never a second one.
#[tokio::test(start_paused = true)]
async fn a_newer_digest_updates_the_open_pull_request() {
    let (old, newer, newest) = (digest('a'), digest('b'), digest('c'));
    let w = World::new(&promotion("pull-request", "1s", ""), &old);
    w.registry.push(REPOSITORY, &newer);
    w.registry.push(REPOSITORY, &newest);
    let p = w.promoter();
    let mut m = Memory::default();
    for d in [&newer, &newest] {
        w.deploy_dev(d);
        p.pass(&mut m).await;
        w.clock.advance(5);
        p.pass(&mut m).await;
    }
    let pulls = w.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert!(pr.title.contains("sha256:cccccccccccc"), "{}", pr.title);
    assert!(
        pr.comments
            .iter()
            .any(|c| c.contains("Updated from") && c.contains("does not cover")),
        "{:?}",
        pr.comments
    );
    let proposed = w
        .forge
        .file_on(pr.head.as_deref().unwrap(), PROD_VALUES)
        .unwrap();
    assert_eq!(String::from_utf8(proposed).unwrap(), values(&newest));
}

/// A forge that refuses the token is left alone for the backoff's wait, and `/status` says
/// until when; the gate keeps being decided meanwhile.
#[tokio::test(start_paused = true)]
async fn a_refused_token_leaves_the_forge_alone_for_the_wait() {
    let (old, new) = (digest('a'), digest('b'));
    let (w, p, mut m) = World::deployed(&promotion("pull-request", "1s", ""), &old, &new).await;
    w.clock.advance(5);
    w.forge.fail("requests", FakeForge::unauthorized(), 1);
    p.pass(&mut m).await;
    let g = w.gate();
    assert_eq!(g.waiting.as_ref().map(|w| w.failures), Some(1), "{g:?}");
    assert!(
        g.last_error.as_deref().is_some_and(|e| e.contains("401")),
        "{g:?}"
    );
    assert_eq!(g.error, Some("unauthorized"), "{g:?}");
    // Within the 5 s wait: not one request to the forge.
    let asked = w.forge.calls().len();
    tokio::time::advance(Duration::from_secs(4)).await;
    p.pass(&mut m).await;
    assert_eq!(w.forge.calls().len(), asked);
    tokio::time::advance(Duration::from_secs(2)).await;
    p.pass(&mut m).await;
    assert_eq!(
        w.pulls().len(),
        1,
        "after the wait: {:?} {:?}",
        w.gate(),
        w.forge.calls()
    );
    assert!(
        w.gate().waiting.is_none() && w.gate().last_error.is_none(),
        "{:?}",
        w.gate()
    );
}

/// A promotion request closed without a merge is a rejection: the digest, though its gate
/// still qualifies on every pass, is not proposed again; a newer digest is.
#[tokio::test(start_paused = true)]
async fn a_request_closed_unmerged_is_a_rejection_and_its_digest_is_not_proposed_again() {
    let (old, new, newer) = (digest('a'), digest('b'), digest('c'));
    let w = World::new(&promotion("pull-request", "1s", ""), &old);
    w.registry.push(REPOSITORY, &new);
    w.registry.push(REPOSITORY, &newer);
    let p = w.promoter();
    let mut m = Memory::default();
    w.deploy_dev(&new);
    p.pass(&mut m).await;
    w.clock.advance(5);
    p.pass(&mut m).await;
    let number = w.pulls()[0].number;
    w.forge.reject(number);
    for _ in 0..3 {
        w.clock.advance(40);
        tokio::time::advance(Duration::from_secs(40)).await;
        p.pass(&mut m).await;
        assert_eq!(w.gate().state, "qualified");
    }
    assert_eq!(w.pulls().len(), 1, "not proposed again");
    assert_eq!(w.forge.count("open_pull"), 1);
    assert_eq!(
        w.forge.count("commit"),
        1,
        "one commit, on the first request's branch"
    );

    w.deploy_dev(&newer);
    p.pass(&mut m).await;
    w.clock.advance(5);
    p.pass(&mut m).await;
    let pulls = w.pulls();
    assert_eq!(pulls.len(), 2, "{pulls:?}");
    assert!(pulls[1].open && pulls[1].title.contains("sha256:cccccccccccc"));
}

/// A panic while the targets are read (a bug in the loader) is not "nothing promotes from
/// here": nothing is decided, nothing is cached, and the next pass reads them again.
#[tokio::test(start_paused = true)]
async fn a_panic_reading_the_targets_decides_nothing_and_the_next_pass_reads_them_again() {
    fn panicking(_: &std::path::Path, _: &str) -> (Vec<Environment>, Vec<String>) {
        panic!("a bug in the loader")
    }
    let (old, new) = (digest('a'), digest('b'));
    let w = World::new(&promotion("pull-request", "1s", ""), &old);
    w.registry.push(REPOSITORY, &new);
    w.deploy_dev(&new);
    let mut m = Memory::default();
    let broken = Promoter {
        targets_of: panicking,
        ..w.promoter()
    };
    broken.pass(&mut m).await;
    assert!(m.targets.is_none(), "nothing cached");
    assert!(m.gates.is_empty(), "nothing decided");
    assert!(
        w.status
            .lock()
            .unwrap()
            .environments
            .get("dev")
            .is_none_or(|e| e.promotions.is_empty()),
        "no gate shown"
    );
    w.promoter().pass(&mut m).await;
    assert_eq!(w.gate().state, "soaking", "read again: {:?}", w.gate());
}

/// dev deploys `digest`; a pass, the wall clock 2 s on (past a 1 s soak), a pass: the gate.
async fn soaked(
    w: &World,
    p: &Promoter<FakeForge, FakeRegistry, Kept>,
    m: &mut Memory,
    digest: &str,
) -> PromotionStatus {
    w.deploy_dev(digest);
    p.pass(m).await;
    w.clock.advance(2);
    p.pass(m).await;
    w.gate()
}

/// prod's promotion block with hash-service's digests verified against `key` (a PEM).
fn signed_promotion(key: &str) -> String {
    let key = key.replace('\n', "\\n");
    format!("  promotion:\n    from: dev\n    mode: pull-request\n    soak: 1s\n    images:\n      - release: hash-service\n        path: image.digest\n        repository: \"{REPOSITORY}\"\n        verify:\n          signature:\n            key: \"{key}\"\n")
}

/// Only a digest signed by the configured key is proposed, its signer in the body; an unsigned
/// one is held as `unverified` with the reason, opens nothing, and is asked again only after a
/// minute; a registry that cannot be read is not a verdict.
#[tokio::test(start_paused = true)]
async fn only_a_digest_signed_by_the_key_is_proposed_and_an_unsigned_one_is_unverified() {
    let key = sextant_fakes::signing::KeyPair::new();
    let (old, unsigned, signed) = (digest('a'), digest('b'), digest('c'));
    let w = World::new(&signed_promotion(&key.public_pem()), &old);
    for d in [&unsigned, &signed] {
        w.registry.push(REPOSITORY, d);
    }
    w.registry
        .sign(REPOSITORY, &signed, key.sign(REPOSITORY, &signed));
    let verifications = |result: &str| {
        w.metrics
            .promotion_verifications_total
            .with_label_values(&["oci", result])
            .get()
    };
    let p = w.promoter();
    let mut m = Memory::default();
    let g = soaked(&w, &p, &mut m, &unsigned).await;
    assert_eq!(g.state, "unverified", "{g:?}");
    assert!(
        g.message.contains("is unverified: unsigned: the registry holds no Sigstore bundle and no cosign signature for sha256:bbbb"),
        "{}",
        g.message
    );
    assert!(
        g.signature
            .as_deref()
            .is_some_and(|s| s.starts_with("refused: unsigned")),
        "{g:?}"
    );
    assert!(w.pulls().is_empty());
    assert_eq!(verifications("unsigned"), 1);
    // Within the minute the refusal stands without asking; after it, it is asked again.
    w.clock.advance(10);
    p.pass(&mut m).await;
    assert_eq!(
        (w.gate().state, verifications("unsigned")),
        ("unverified", 1)
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    p.pass(&mut m).await;
    assert_eq!(
        (w.gate().state, verifications("unsigned")),
        ("unverified", 2)
    );

    // A registry that cannot be read holds the digest without a verdict.
    w.deploy_dev(&signed);
    p.pass(&mut m).await;
    w.clock.advance(2);
    w.registry.fail(FakeRegistry::unavailable());
    p.pass(&mut m).await;
    let g = w.gate();
    assert_eq!((g.state, w.pulls().len()), ("qualified", 0), "{g:?}");
    assert!(
        g.last_error
            .as_deref()
            .is_some_and(|e| e.contains("cannot reach the registry")),
        "{g:?}"
    );
    p.pass(&mut m).await;
    let g = w.gate();
    assert_eq!(
        (g.state, w.pulls().len(), verifications("verified")),
        ("qualified", 1, 1),
        "{g:?}"
    );
    let signer = format!(
        "signed by the key {}",
        sextant_signature::PublicKey::from_pem(&key.public_pem())
            .unwrap()
            .fingerprint()
    );
    assert_eq!(g.signature.as_deref(), Some(signer.as_str()));
    assert!(
        w.pulls()[0]
            .body
            .contains(&format!("| signature | {signer} |")),
        "{}",
        w.pulls()[0].body
    );
}

/// A keyless policy with no trusted root configured refuses every digest, saying what to set.
#[tokio::test(start_paused = true)]
async fn a_keyless_policy_without_a_trusted_root_refuses_saying_so() {
    let (old, new) = (digest('a'), digest('b'));
    let block = promotion("pull-request", "1s", "").replace(
        "repository: \"registry.example/hash-service\"}",
        "repository: \"registry.example/hash-service\", verify: {signature: {keyless: {issuer: \"https://token.actions.githubusercontent.com\", subject: \"x\"}}}}",
    );
    let w = World::new(&block, &old);
    w.registry.push(REPOSITORY, &new);
    w.registry.sign(
        REPOSITORY,
        &new,
        sextant_fakes::signing::KeyPair::new().sign(REPOSITORY, &new),
    );
    let p = w.promoter();
    let mut m = Memory::default();
    let g = soaked(&w, &p, &mut m, &new).await;
    assert_eq!(g.state, "unverified", "{g:?}");
    assert!(
        g.message
            .contains("keyless verification needs a trusted root"),
        "{}",
        g.message
    );
    assert!(w.pulls().is_empty());
}

/// A verified signature stands only under the policy it was verified with: a target that
/// changes its key has the same digest verified again, and refused.
#[tokio::test(start_paused = true)]
async fn a_changed_signature_policy_verifies_the_digest_again() {
    let (first, second) = (
        sextant_fakes::signing::KeyPair::new(),
        sextant_fakes::signing::KeyPair::new(),
    );
    let (old, new) = (digest('a'), digest('b'));
    let w = World::new(&signed_promotion(&first.public_pem()), &old);
    w.registry.push(REPOSITORY, &new);
    w.registry
        .sign(REPOSITORY, &new, first.sign(REPOSITORY, &new));
    let p = w.promoter();
    let mut m = Memory::default();
    let g = soaked(&w, &p, &mut m, &new).await;
    assert_eq!((g.state, w.pulls().len()), ("qualified", 1), "{g:?}");

    w.write(&[(
        "environments/prod/environment.yaml",
        &environment("prod", &signed_promotion(&second.public_pem())),
    )]);
    p.pass(&mut m).await;
    let g = w.gate();
    assert_eq!(g.state, "unverified", "{g:?}");
    assert!(g.message.contains("bad signature"), "{}", g.message);
}

/// A replica that stops leading the source (a shard handed over) withdraws its gate series, so
/// no alert reads its last state beside the new leader's.
#[tokio::test(start_paused = true)]
async fn a_replica_that_stops_leading_withdraws_its_gate_series() {
    let (old, new) = (digest('a'), digest('f'));
    let w = World::new(&promotion("pull-request", "1h", ""), &old);
    w.registry.push(REPOSITORY, &new);
    w.deploy_dev(&new);
    let gauge = |state: &str| {
        w.metrics
            .promotion_gate
            .with_label_values(&["prod", "hash-service", state])
            .get()
    };
    let task = tokio::spawn(w.promoter().run());
    // A few of the loop's one-second ticks, on the paused clock.
    let ticks = || tokio::time::sleep(Duration::from_secs(3));
    ticks().await;
    assert_eq!(gauge("soaking"), 1);
    w.leading.send_replace(false);
    ticks().await;
    assert!(crate::promotion::gate::State::ALL
        .iter()
        .all(|s| gauge(s.as_str()) == 0));
    w.stop.send_replace(true);
    task.await.unwrap();
}
