//! Promotion end to end, all on 127.0.0.1: two test API servers (the dev and prod clusters), an
//! agent in each, `git daemon` serving the fake GitHub's repository to both, and the real
//! registry (CNCF distribution) holding pushed images. A digest committed to dev is applied,
//! soaks, is verified in the registry and becomes exactly one pull request changing prod's
//! `image.digest`; its merge is applied by prod's agent. A digest that fails in prod is rolled
//! back at once, reverted in Git and never proposed again; so is one whose error ratio, read by a
//! real Prometheus from a real hash-service process, breaches prod's `verify` window.

mod support;

use support::agent::{eventually, Agent, WAIT};
use support::promo::{promotion, values, Promo, PROD_VALUES};

fn gate(agent: &Agent) -> serde_json::Value {
    agent.status()["environments"]["dev"]["promotions"][0].clone()
}

/// prod's `rejected.yaml` on a branch of the fake GitHub.
fn rejected_on(world: &Promo, branch: &str) -> String {
    let bytes = world
        .fake
        .file(branch, "environments/prod/rejected.yaml")
        .expect("rejected.yaml");
    String::from_utf8(bytes).unwrap()
}

fn runs(server: &sextant_testkit::TestServer, digest: &str) -> bool {
    Promo::image(server).is_some_and(|i| i.ends_with(digest))
}

#[test]
fn a_digest_dev_ran_healthily_becomes_one_pull_request_whose_merge_prod_applies() {
    let world = Promo::new(2, |repo| promotion("pull-request", "2s", repo, ""));
    let (old, new) = (world.images[0].clone(), world.images[1].clone());
    let dev = Agent::start(&world.env("dev", "dev-0"));
    let _prod = Agent::start(&world.env("prod", "prod-0"));
    eventually(WAIT, "both clusters running the first image", || {
        (runs(&world.dev, &old) && runs(&world.prod, &old)).then_some(())
    });
    eventually(WAIT, "dev's gate: prod already carries it", || {
        (gate(&dev)["state"] == "up-to-date").then_some(())
    });

    world.bump_dev(&new);
    eventually(WAIT, "dev running the new image", || {
        runs(&world.dev, &new).then_some(())
    });
    let pr = eventually(WAIT, "the labelled promotion pull request", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    assert_eq!(world.fake.pulls().len(), 1, "exactly one pull request");
    assert_eq!(pr.head, "sextant/promote/prod/hash-service");
    let short = &new["sha256:".len()..][..12];
    assert!(
        pr.title.starts_with(&format!(
            "promote(prod): hash-service sha256:{short}… from dev@"
        )),
        "{}",
        pr.title
    );
    let body = pr.body.clone().unwrap_or_default();
    for part in [
        "`127.0.0.1:",
        "the manifest's bytes hash to the digest",
        "linux/amd64",
        "soak 2s",
    ] {
        assert!(body.contains(part), "the body shows {part:?}: {body}");
    }
    // Only prod's image.digest changed, every other byte as its author wrote it.
    let proposed = world
        .fake
        .file(&pr.head, PROD_VALUES)
        .expect("prod's values on the branch");
    assert_eq!(
        String::from_utf8(proposed).unwrap(),
        values(&old, 2).replace(&old, &new)
    );
    let main = world.fake.branch_sha("main").unwrap();
    assert_eq!(
        world
            .fake
            .file(&pr.head, "environments/dev/values/hash-service.yaml"),
        world
            .fake
            .file(&main, "environments/dev/values/hash-service.yaml"),
        "nothing but prod's values changes"
    );
    // The gate's evidence in dev's status.
    let g = gate(&dev);
    assert_eq!(g["digest"], new.as_str());
    assert!(g["healthy_since"].is_string(), "{g}");
    assert!(
        g["registry"].as_str().unwrap().contains("verified in oci"),
        "{g}"
    );
    assert!(
        dev.metric("sextant_promotions_total{from=\"dev\",result=\"proposed\",to=\"prod\"}") >= 1.0
    );

    world.fake.merge(pr.number).unwrap();
    eventually(WAIT, "prod running the promoted image", || {
        runs(&world.prod, &new).then_some(())
    });
    eventually(WAIT, "dev's gate: up to date again", || {
        (gate(&dev)["state"] == "up-to-date" && gate(&dev)["digest"] == new.as_str()).then_some(())
    });
    assert!(
        world.open_pulls("sextant-promotion").is_empty(),
        "no second pull request"
    );
    assert_eq!(world.fake.pulls().len(), 1);
}

#[test]
fn a_promoted_digest_that_fails_in_prod_is_rolled_back_reverted_and_never_proposed_again() {
    let world = Promo::new(2, |repo| promotion("pull-request", "1s", repo, ""));
    let (good, bad) = (world.images[0].clone(), world.images[1].clone());
    // Prod's cluster never gets the bad image ready (dev's does): ProgressDeadlineExceeded.
    world.prod.fail_images([bad.as_str()]);
    let dev = Agent::start(&world.env("dev", "dev-0"));
    let prod = Agent::start(&world.env("prod", "prod-0"));
    eventually(WAIT, "both clusters running the good image", || {
        (runs(&world.dev, &good) && runs(&world.prod, &good)).then_some(())
    });

    world.bump_dev(&bad);
    let pr = eventually(WAIT, "the promotion pull request", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    let merged = world.fake.merge(pr.number).unwrap();
    // prod applied the merge (its rollback is from that revision) and rolled back without
    // waiting for Git: main still says the bad digest.
    eventually(
        WAIT,
        "prod rolled back from the merge to the good image",
        || {
            let r = prod.status()["environments"]["prod"]["rollback"].clone();
            (r["from"] == merged.as_str() && r["rolled_back"] == true && runs(&world.prod, &good))
                .then_some(())
        },
    );
    assert!(
        prod.log_text()
            .contains("a promoted digest failed its health gate"),
        "the bad digest was applied and failed its gate"
    );
    let main = world.fake.branch_sha("main").unwrap();
    let prod_main = String::from_utf8(world.fake.file(&main, PROD_VALUES).unwrap()).unwrap();
    assert!(
        prod_main.contains(&bad),
        "Git still carries the bad digest: the rollback did not wait for it"
    );
    let rb = eventually(WAIT, "the rollback in prod's status", || {
        let r = prod.status()["environments"]["prod"]["rollback"].clone();
        (r["rolled_back"] == true).then_some(r)
    });
    assert_eq!(rb["releases"][0]["bad"], bad.as_str());
    assert_eq!(rb["releases"][0]["previous"], good.as_str());
    // The merge commit's status in prod: failure, with the rollback and its reason.
    let said = eventually(WAIT, "prod's status on the merge commit", || {
        world
            .fake
            .statuses(&merged)
            .into_iter()
            .rfind(|s| s.context == "sextant/prod" && s.state != "pending")
    });
    assert_eq!(said.state, "failure", "{said:?}");
    let why = said.description.unwrap_or_default();
    assert!(why.starts_with("rolled back to "), "{why}");
    assert!(why.chars().count() <= 140, "{why}");
    assert!(
        prod.metric(
            "sextant_rollbacks_total{environment=\"prod\",reason=\"health\",release=\"hash-service\"}"
        )
            >= 1.0
    );

    // The revert: prod's digest back, the bad one recorded as rejected.
    let revert = eventually(WAIT, "the revert pull request", || {
        world.open_pulls("sextant-rollback").into_iter().next()
    });
    assert_eq!(revert.head, "sextant/rollback/prod/hash-service");
    let reverted = String::from_utf8(world.fake.file(&revert.head, PROD_VALUES).unwrap()).unwrap();
    assert_eq!(reverted, prod_main.replace(&bad, &good));
    let rejected = rejected_on(&world, &revert.head);
    assert!(rejected.contains(&bad), "{rejected}");
    assert!(
        runs(&world.prod, &good),
        "Git still on the failed revision: the good rendering holds"
    );

    world.fake.merge(revert.number).unwrap();
    eventually(WAIT, "dev's gate: the bad digest rejected", || {
        (gate(&dev)["state"] == "rejected").then_some(())
    });
    assert!(
        world.open_pulls("sextant-promotion").is_empty(),
        "the bad digest is not proposed again"
    );
    eventually(WAIT, "prod's rollback over once Git moved on", || {
        prod.status()["environments"]["prod"]["rollback"]
            .is_null()
            .then_some(())
    });
    assert!(runs(&world.prod, &good));
}

/// Waits until dev's gate is in `state`, and returns it.
fn gate_in(dev: &Agent, state: &str) -> serde_json::Value {
    eventually(WAIT, &format!("dev's gate {state}"), || {
        let g = gate(dev);
        (g["state"] == state).then_some(g)
    })
}

#[test]
fn a_dev_agent_restarted_during_the_soak_keeps_it_and_after_the_pull_request_opens_no_second() {
    let world = Promo::new(2, |repo| promotion("pull-request", "5s", repo, ""));
    let new = world.images[1].clone();
    let mut dev = Agent::start(&world.env("dev", "dev-0"));
    let _prod = Agent::start(&world.env("prod", "prod-0"));
    world.bump_dev(&new);
    let soaking = gate_in(&dev, "soaking");
    dev.terminate();
    assert!(world.fake.pulls().is_empty());

    let mut dev = Agent::start(&world.env("dev", "dev-0"));
    let pr = eventually(WAIT, "the promotion pull request after the restart", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    let g = gate(&dev);
    assert_eq!(
        g["healthy_since"], soaking["healthy_since"],
        "the soak went on from the recorded start: {g}"
    );
    dev.terminate();

    let dev = Agent::start(&world.env("dev", "dev-0"));
    // A pass after the restart has read the open request back.
    eventually(WAIT, "the request found again", || {
        gate(&dev)["request"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/{}", pr.number)))
            .then_some(())
    });
    assert_eq!(world.fake.pulls().len(), 1, "no second pull request");
}

#[test]
fn a_leader_failover_in_prod_during_a_rollback_still_ends_rolled_back() {
    let world = Promo::new(2, |repo| promotion("pull-request", "1s", repo, ""));
    let (good, bad) = (world.images[0].clone(), world.images[1].clone());
    world.prod.fail_images([bad.as_str()]);
    let replica = |name: &str| {
        let mut env = world.env("prod", name);
        env.remove("SEXTANT_LEADER_ELECTION");
        env.insert("SEXTANT_LEASE_DURATION", "3s".into());
        env
    };
    let _dev = Agent::start(&world.env("dev", "dev-0"));
    let mut a = Agent::start(&replica("prod-a"));
    let mut b = Agent::start(&replica("prod-b"));
    eventually(WAIT, "prod running the good image", || {
        runs(&world.prod, &good).then_some(())
    });
    world.bump_dev(&bad);
    let pr = eventually(WAIT, "the promotion pull request", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    world.fake.merge(pr.number).unwrap();
    // The leader starts the rollback; it dies there, and the other replica takes over.
    let rolling = |x: &Agent| x.log_text().contains("rolling back now");
    let a_led = eventually(WAIT, "the leader rolling back", || {
        if rolling(&a) {
            Some(true)
        } else if rolling(&b) {
            Some(false)
        } else {
            None
        }
    });
    let survivor = if a_led {
        a.kill();
        &b
    } else {
        b.kill();
        &a
    };
    eventually(WAIT, "the survivor leading, prod rolled back", || {
        let s = survivor.status();
        (s["leader"] == true
            && s["environments"]["prod"]["rollback"]["rolled_back"] == true
            && runs(&world.prod, &good))
        .then_some(())
    });
}

#[test]
fn in_commit_mode_a_promotion_and_its_revert_are_one_commit_each_on_main() {
    let world = Promo::new(3, |repo| promotion("commit", "1s", repo, ""));
    let (old, new, bad) = (
        world.images[0].clone(),
        world.images[1].clone(),
        world.images[2].clone(),
    );
    world.prod.fail_images([bad.as_str()]);
    let dev = Agent::start(&world.env("dev", "dev-0"));
    let prod = Agent::start(&world.env("prod", "prod-0"));
    let bumped = world.bump_dev(&new);
    // One commit on main, on top of dev's bump, changing prod's digest and nothing else.
    let promoted = eventually(WAIT, "the promotion commit on main", || {
        let head = world.fake.branch_sha("main")?;
        (head != bumped).then_some(head)
    });
    assert_eq!(world.fake.parents(&promoted), std::slice::from_ref(&bumped));
    let prod_values = String::from_utf8(world.fake.file(&promoted, PROD_VALUES).unwrap()).unwrap();
    assert_eq!(prod_values, values(&old, 2).replace(&old, &new));
    assert_eq!(
        world.fake.file(&promoted, support::promo::DEV_VALUES),
        world.fake.file(&bumped, support::promo::DEV_VALUES)
    );
    assert!(
        world.fake.pulls().is_empty(),
        "commit mode opens no pull request"
    );
    eventually(WAIT, "prod running the promoted image", || {
        runs(&world.prod, &new).then_some(())
    });

    // A bad digest: committed, applied, rolled back, and reverted by a commit with rejected.yaml.
    let bumped = world.bump_dev(&bad);
    eventually(WAIT, "prod rolled back from the bad image", || {
        (prod.status()["environments"]["prod"]["rollback"]["rolled_back"] == true
            && runs(&world.prod, &new))
        .then_some(())
    });
    let revert = eventually(WAIT, "the revert commit on main", || {
        let head = world.fake.branch_sha("main")?;
        let text = world.fake.file(&head, "environments/prod/rejected.yaml")?;
        String::from_utf8(text).ok()?.contains(&bad).then_some(head)
    });
    let reverted = String::from_utf8(world.fake.file(&revert, PROD_VALUES).unwrap()).unwrap();
    assert_eq!(
        reverted,
        values(&old, 2).replace(&old, &new),
        "prod's digest back to the good one"
    );
    assert_ne!(revert, bumped);
    eventually(WAIT, "dev's gate: the bad digest rejected", || {
        (gate(&dev)["state"] == "rejected").then_some(())
    });
}

enum Row {
    Errors,
    Healthy,
    PrometheusGone,
}

#[test]
fn in_prods_verify_window_a_digest_serving_errors_is_rolled_back_reverted_and_rejected() {
    verify_in_prod(Row::Errors);
}

#[test]
fn in_prods_verify_window_a_healthy_digest_stays() {
    verify_in_prod(Row::Healthy);
}

#[test]
fn in_prods_verify_window_a_prometheus_that_is_gone_holds_it_open_and_rolls_nothing_back() {
    verify_in_prod(Row::PrometheusGone);
}

/// prod verifies each promoted digest for a window, with a real Prometheus scraping real
/// hash-service processes: the new digest's pods are played by one process, healthy or serving
/// 5 % errors (`FAULT_ERROR_PERCENT`), and prod's check reads its error ratio. A breach rolls
/// back, reverts and rejects; a healthy digest stays once the window is over; a Prometheus that
/// is gone holds the verification open and rolls nothing back.
fn verify_in_prod(row: Row) {
    use service_kit::testing::Service;
    use support::prometheus::{error_ratio, hash_service, Prometheus};
    let faults: &[(&str, &str)] = match row {
        Row::Errors => &[("FAULT_ERROR_PERCENT", "5")],
        _ => &[],
    };
    let new_pods = Service::start(&hash_service(), faults);
    for _ in 0..100 {
        new_pods.get("/hash/abc");
    }
    let mut prometheus = Prometheus::start(&[new_pods.addr], WAIT);
    prometheus.wait_for_hash_requests(100.0, WAIT);
    let verify = format!(
        "    verify:\n      window: 3s\n      checks:\n        - prometheus: {{url: \"{}\", query: '{}', condition: \"< 0.01\"}}\n",
        prometheus.url(),
        error_ratio(Some(&new_pods.addr.to_string()))
    );
    let world = Promo::new(2, |repo| promotion("pull-request", "1s", repo, &verify));
    let (good, new) = (world.images[0].clone(), world.images[1].clone());
    let _dev = Agent::start(&world.env("dev", "dev-0"));
    let prod = Agent::start(&world.env("prod", "prod-0"));
    eventually(WAIT, "both clusters running the first image", || {
        (runs(&world.dev, &good) && runs(&world.prod, &good)).then_some(())
    });
    if let Row::PrometheusGone = row {
        prometheus.stop();
    }
    world.bump_dev(&new);
    let pr = eventually(WAIT, "the promotion pull request", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    let merged = world.fake.merge(pr.number).unwrap();
    let verification = || prod.status()["environments"]["prod"]["verification"].clone();
    let rollback = || prod.status()["environments"]["prod"]["rollback"].clone();
    match row {
        Row::Errors => {
            let r = eventually(WAIT, "prod rolled back on the error ratio", || {
                let r = rollback();
                (r["from"] == merged.as_str() && r["rolled_back"] == true).then_some(r)
            });
            assert_eq!(r["cause"], "metric", "{r}");
            let reason = r["reason"].as_str().unwrap_or_default();
            assert!(reason.contains("0.05"), "the value seen: {reason}");
            assert!(reason.contains("not < 0.01"), "the threshold: {reason}");
            assert!(runs(&world.prod, &good), "the previous digest runs again");
            let revert = eventually(WAIT, "the revert pull request", || {
                world.open_pulls("sextant-rollback").into_iter().next()
            });
            let rejected = rejected_on(&world, &revert.head);
            assert!(rejected.contains(&new), "{rejected}");
            assert!(
                prod.metric(
                    "sextant_rollbacks_total{environment=\"prod\",reason=\"metric\",release=\"hash-service\"}"
                ) >= 1.0
            );
        }
        Row::Healthy => {
            eventually(WAIT, "prod running the new digest, verified", || {
                (runs(&world.prod, &new)
                    && prod
                        .log_text()
                        .contains("every check held for the verification's window"))
                .then_some(())
            });
            assert!(verification().is_null(), "{}", verification());
            assert!(rollback().is_null(), "{}", rollback());
            assert!(runs(&world.prod, &new), "the healthy digest stays");
        }
        Row::PrometheusGone => {
            let v = eventually(WAIT, "prod's verification held", || {
                let v = verification();
                (v["state"] == "held").then_some(v)
            });
            assert!(
                v["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Prometheus did not answer"),
                "{v}"
            );
            // A look past the 3 s window: still held, nothing rolled back.
            eventually(WAIT, "a look after the window's end", || {
                let v = verification();
                let (looked, ends) = (v["looked"].as_str()?, v["window_ends"].as_str()?);
                (looked > ends).then_some(())
            });
            assert_eq!(verification()["state"], "held");
            assert!(rollback().is_null(), "{}", rollback());
            assert!(runs(&world.prod, &new));
        }
    }
}

/// A chain dev → staging → prod: each target names its own `from`, and each source's agent
/// proposes to its targets only. One digest goes through all three by two pull requests; one
/// that prod then rolls back and rejects is never proposed to prod again from staging, which
/// still runs it.
#[test]
fn a_chain_dev_staging_prod_promotes_one_digest_through_all_three_and_prods_rejection_holds() {
    let world = Promo::chain(3, "1s");
    let staging_cluster = world.staging.as_ref().expect("a third cluster");
    let (first, second, bad) = (
        world.images[0].clone(),
        world.images[1].clone(),
        world.images[2].clone(),
    );
    let _dev = Agent::start(&world.env("dev", "dev-0"));
    let staging = Agent::start(&world.env("staging", "staging-0"));
    let _prod = Agent::start(&world.env("prod", "prod-0"));
    eventually(WAIT, "three clusters running the first image", || {
        (runs(&world.dev, &first) && runs(staging_cluster, &first) && runs(&world.prod, &first))
            .then_some(())
    });

    world.bump_dev(&second);
    let to_staging = eventually(WAIT, "dev's pull request to staging", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    assert_eq!(to_staging.head, "sextant/promote/staging/hash-service");
    world.fake.merge(to_staging.number).unwrap();
    eventually(WAIT, "staging running the second image", || {
        runs(staging_cluster, &second).then_some(())
    });
    let to_prod = eventually(WAIT, "staging's pull request to prod", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    assert_eq!(to_prod.head, "sextant/promote/prod/hash-service");
    assert!(
        to_prod.title.contains("from staging@"),
        "staging proposes, not dev: {}",
        to_prod.title
    );
    world.fake.merge(to_prod.number).unwrap();
    eventually(WAIT, "prod running the second image", || {
        runs(&world.prod, &second).then_some(())
    });
    assert!(runs(&world.dev, &second) && runs(staging_cluster, &second));

    // A digest prod cannot run: through staging, then rolled back in prod and rejected there.
    world.prod.fail_images([bad.as_str()]);
    world.bump_dev(&bad);
    let to_staging = eventually(WAIT, "dev's pull request to staging", || {
        world.open_pulls("sextant-promotion").into_iter().next()
    });
    world.fake.merge(to_staging.number).unwrap();
    let to_prod = eventually(WAIT, "staging's pull request to prod", || {
        world
            .open_pulls("sextant-promotion")
            .into_iter()
            .find(|p| p.head == "sextant/promote/prod/hash-service")
    });
    world.fake.merge(to_prod.number).unwrap();
    let revert = eventually(WAIT, "prod's revert", || {
        world.open_pulls("sextant-rollback").into_iter().next()
    });
    assert!(rejected_on(&world, &revert.head).contains(&bad));
    world.fake.merge(revert.number).unwrap();
    let gate = eventually(WAIT, "staging's gate for prod: rejected", || {
        let g = staging.status()["environments"]["staging"]["promotions"][0].clone();
        (g["state"] == "rejected").then_some(g)
    });
    assert_eq!(gate["target"], "prod", "{gate}");
    assert!(runs(staging_cluster, &bad), "staging still runs it");
    assert!(runs(&world.prod, &second), "prod is back on the second");
    assert!(
        world.open_pulls("sextant-promotion").is_empty(),
        "the rejected digest is not proposed to prod again"
    );
}
