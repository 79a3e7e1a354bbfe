//! Promotion end to end, all on 127.0.0.1: two test API servers (the dev and prod clusters), an
//! agent in each, `git daemon` serving the fake GitHub's repository to both, and the real
//! registry (CNCF distribution) holding pushed images. A digest committed to dev is applied,
//! soaks, is verified in the registry and becomes exactly one pull request changing prod's
//! `image.digest`; its merge is applied by prod's agent. A digest that fails in prod is rolled
//! back at once, reverted in Git and never proposed again.

mod support;

use std::time::Duration;
use support::agent::{eventually, Agent};
use support::promo::{promotion, values, Promo, PROD_VALUES};

const WAIT: Duration = Duration::from_secs(90);

fn gate(agent: &Agent) -> serde_json::Value {
    agent.status()["environments"]["dev"]["promotions"][0].clone()
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
    world.fake.merge(pr.number).unwrap();
    eventually(WAIT, "prod trying the bad image", || {
        runs(&world.prod, &bad).then_some(())
    });
    // Rolled back without waiting for Git: main still says the bad digest.
    eventually(WAIT, "prod rolled back to the good image", || {
        runs(&world.prod, &good).then_some(())
    });
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
    assert!(
        prod.metric("sextant_rollbacks_total{environment=\"prod\",release=\"hash-service\"}")
            >= 1.0
    );

    // The revert: prod's digest back, the bad one recorded as rejected.
    let revert = eventually(WAIT, "the revert pull request", || {
        world.open_pulls("sextant-rollback").into_iter().next()
    });
    assert_eq!(revert.head, "sextant/rollback/prod/hash-service");
    let reverted = String::from_utf8(world.fake.file(&revert.head, PROD_VALUES).unwrap()).unwrap();
    assert_eq!(reverted, prod_main.replace(&bad, &good));
    let rejected = String::from_utf8(
        world
            .fake
            .file(&revert.head, "environments/prod/rejected.yaml")
            .expect("rejected.yaml"),
    )
    .unwrap();
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
