//! The fake GitHub's answers held to real ones: Octokit's recordings (`@octokit/fixtures`,
//! installed by `make tools`) of creating a label with a bad colour (the `errors` scenario),
//! creating and reading a label (`labels`), labelling an issue (`add-labels-to-issue`),
//! paging through issues (`paginate-issues`) and creating and listing commit statuses
//! (`create-status`). The recorded request is sent to the fake over
//! HTTP and its answer compared with the recorded one, field by field where the fake makes the
//! same object, and in shape (the same keys) where ids and URLs differ by nature.

mod common;

use common::*;
use forge_testkit::fixtures::{self, Exchange};
use forge_testkit::FakeGitHub;
use serde_json::{json, Value};

/// The fake's answer to a request: status, JSON body (Null if none) and `Link` header.
async fn send(fake: &FakeGitHub, method: &str, rest: &str, body: &Value) -> (u16, Value, String) {
    let o = fake.options();
    let url = format!("{}/repos/{}/{}{rest}", fake.url(), o.owner, o.repo);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(&o.token)
        .header("accept", "application/vnd.github+json");
    if !body.is_null() {
        req = req.json(body);
    }
    let resp = req.send().await.expect("the fake answers");
    let status = resp.status().as_u16();
    let link = resp
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json, link)
}

/// The part of a recorded path after `/repos/{owner}/{repo}`.
fn rest_of(e: &Exchange) -> String {
    let parts: Vec<&str> = e.path().split('/').skip(4).collect();
    format!("/{}", parts.join("/"))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn scenario(name: &str) -> Option<Vec<Exchange>> {
    fixtures::scenario(name)
}

/// Every field of `recorded` is in `fake` with the same value; the fake's extra fields are
/// only `status`, which GitHub's error bodies carry since the recording was made.
fn same_error(recorded: &Value, fake: &Value) {
    for (k, v) in recorded.as_object().expect("an error object") {
        assert_eq!(
            &fake[k], v,
            "{k}: the fake answered {fake}, GitHub {recorded}"
        );
    }
    let extra: Vec<String> = keys(fake)
        .into_iter()
        .filter(|k| recorded.get(k).is_none())
        .collect();
    assert!(
        extra.iter().all(|k| k == "status"),
        "extra fields {extra:?} in {fake}"
    );
}

#[tokio::test]
async fn a_label_with_a_bad_colour_is_refused_exactly_as_github_recorded() {
    let Some(errors) = scenario("errors") else {
        return;
    };
    let fake = fake();
    let e = &errors[0];
    assert_eq!((e.method().as_str(), e.status()), ("POST", 422));
    assert_eq!(rest_of(e), "/labels");
    let (status, body, _) = send(&fake, "POST", "/labels", e.body()).await;
    assert_eq!(status, e.status());
    same_error(e.response(), &body);
}

#[tokio::test]
async fn a_label_that_exists_in_another_case_is_already_exists_in_the_recorded_shape() {
    let Some(errors) = scenario("errors") else {
        return;
    };
    let fake = fake();
    fake.create_label("Sextant-Drift", "5319e7");
    let (status, body, _) = send(
        &fake,
        "POST",
        "/labels",
        &json!({"name": "sextant-drift", "color": "ededed"}),
    )
    .await;
    assert_eq!(status, 422);
    // GitHub's answer for a taken name: the recorded refusal, with the `already_exists` code
    // GitHub documents for "another resource has the same value as this field" on `name`.
    let mut expected = errors[0].response().clone();
    expected["errors"][0]["code"] = json!("already_exists");
    expected["errors"][0]["field"] = json!("name");
    same_error(&expected, &body);
    assert_eq!(fake.labels().len(), 1, "no second label");
    assert_eq!(fake.labels()[0].name, "Sextant-Drift");
}

#[tokio::test]
async fn a_label_is_created_and_read_in_the_recorded_shape() {
    let Some(labels) = scenario("labels") else {
        return;
    };
    let fake = fake();
    let create = labels
        .iter()
        .find(|e| e.method() == "POST")
        .expect("the recorded create");
    let (status, body, _) = send(&fake, "POST", "/labels", create.body()).await;
    assert_eq!(status, create.status());
    assert_eq!(keys(&body), keys(create.response()));
    for field in ["name", "color", "default", "description"] {
        assert_eq!(body[field], create.response()[field], "{field}");
    }
    let get = labels
        .iter()
        .find(|e| e.method() == "GET" && e.path().ends_with("/labels/test-label"))
        .expect("the recorded read");
    let (status, read, _) = send(&fake, "GET", "/labels/TEST-label", &Value::Null).await;
    assert_eq!(status, get.status());
    assert_eq!(keys(&read), keys(get.response()));
    assert_eq!(read["name"], get.response()["name"]);
    let list = labels
        .iter()
        .find(|e| e.method() == "GET" && e.path().ends_with("/labels"))
        .expect("the recorded list");
    let (_, all, _) = send(&fake, "GET", "/labels", &Value::Null).await;
    assert_eq!(keys(&all[0]), keys(&list.response()[0]));
}

#[tokio::test]
async fn labels_added_to_an_issue_answer_as_recorded_and_match_in_any_case() {
    let Some(add) = scenario("add-labels-to-issue") else {
        return;
    };
    let fake = fake();
    let (create, label) = (&add[0], &add[1]);
    let (status, issue, _) = send(&fake, "POST", "/issues", create.body()).await;
    assert_eq!(status, create.status());
    let n = issue["number"].as_u64().unwrap();
    let (status, body, _) = send(&fake, "POST", &format!("/issues/{n}/labels"), label.body()).await;
    assert_eq!(status, label.status());
    let recorded = label.response().as_array().unwrap();
    let got = body.as_array().unwrap();
    assert_eq!(got.len(), recorded.len());
    for (g, r) in got.iter().zip(recorded) {
        assert_eq!(keys(g), keys(r));
        for field in ["name", "color", "default", "description"] {
            assert_eq!(g[field], r[field], "{field}");
        }
    }
    // The same names in another case attach the labels that exist, in their own case.
    let (_, again, _) = send(
        &fake,
        "POST",
        &format!("/issues/{n}/labels"),
        &json!({"labels": ["foo", "BAR"]}),
    )
    .await;
    let names: Vec<&str> = again
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Foo", "bAr", "baZ"]);
    assert_eq!(fake.labels().len(), 3);
    // The issues list's label filter matches regardless of case, as GitHub's does.
    let (_, found, _) = send(&fake, "GET", "/issues?labels=FOO,baz", &Value::Null).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
}

/// `rel` names of a `Link` header, in order.
fn rels(link: &str) -> Vec<String> {
    link.split(',')
        .filter_map(|part| part.split("rel=\"").nth(1))
        .map(|r| r.trim_end_matches('"').to_string())
        .collect()
}

#[tokio::test]
async fn issues_page_as_github_recorded() {
    let Some(pages) = scenario("paginate-issues") else {
        return;
    };
    let fake = fake();
    let total = pages
        .iter()
        .map(|p| p.response().as_array().map_or(0, Vec::len))
        .sum::<usize>();
    for i in 0..total {
        send(
            &fake,
            "POST",
            "/issues",
            &json!({"title": format!("Issue {}", i + 1)}),
        )
        .await;
    }
    for (i, recorded) in pages.iter().enumerate() {
        let (status, body, link) = send(
            &fake,
            "GET",
            &format!("/issues?per_page=3&page={}", i + 1),
            &Value::Null,
        )
        .await;
        assert_eq!(status, recorded.status());
        let numbers = |v: &Value| -> Vec<u64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x["number"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(
            numbers(&body),
            numbers(recorded.response()),
            "page {}",
            i + 1
        );
        assert_eq!(
            rels(&link),
            rels(recorded.header("link").unwrap_or_default()),
            "page {}: {link}",
            i + 1
        );
    }
}

/// Commit statuses (`create-status`: two statuses created on one commit, then listed): the fake
/// creates them with the recorded code and fields, and lists them newest first, as GitHub
/// recorded. (The recording's combined status, `GET /commits/{ref}/status`, is not served: the
/// agent reads statuses by context from the list.)
#[tokio::test]
async fn statuses_are_created_and_listed_newest_first_as_github_recorded() {
    let Some(recorded) = scenario("create-status") else {
        return;
    };
    let fake = fake();
    let sha = fake
        .seed(
            "main",
            &[("README.md", b"statuses\n".as_slice())],
            "a commit",
        )
        .unwrap();
    let creates: Vec<&Exchange> = recorded.iter().filter(|e| e.method() == "POST").collect();
    assert_eq!(creates.len(), 2);
    for create in &creates {
        let (status, body, _) =
            send(&fake, "POST", &format!("/statuses/{sha}"), create.body()).await;
        assert_eq!(status, create.status(), "{body}");
        assert_eq!(keys(&body), keys(create.response()), "{body}");
        assert_eq!(
            keys(&body["creator"]),
            keys(&create.response()["creator"]),
            "{body}"
        );
        for field in ["state", "description", "target_url", "context"] {
            assert_eq!(body[field], create.response()[field], "{field}");
        }
    }
    let list = recorded
        .iter()
        .find(|e| e.method() == "GET" && e.path().ends_with("/statuses"))
        .expect("the recorded list");
    let (status, body, _) = send(
        &fake,
        "GET",
        &format!("/commits/{sha}/statuses"),
        &Value::Null,
    )
    .await;
    assert_eq!(status, list.status());
    let contexts = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["context"].clone())
            .collect()
    };
    assert_eq!(contexts(&body), contexts(list.response()), "newest first");
    for (g, r) in body
        .as_array()
        .unwrap()
        .iter()
        .zip(list.response().as_array().unwrap())
    {
        assert_eq!(keys(g), keys(r));
    }
}
