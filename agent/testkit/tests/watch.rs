//! Watches through kube-rs: the runtime watcher, resumption, `410 Gone`, bookmarks,
//! selectors and dropped streams.

mod common;

use std::time::Duration;

use common::{configmap as cm, eventually, start};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, WatchEvent, WatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;
use sextant_testkit::{Fault, Match, Options, Verb};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn runtime_watcher_sees_applies_and_deletes() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    common::apply(&api, "before", "t", cm("before", json!({})))
        .await
        .unwrap();
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut next = async || {
        tokio::time::timeout(WAIT, events.try_next())
            .await
            .expect("an event in time")
            .expect("no watch error")
            .expect("stream open")
    };
    assert!(matches!(next().await, watcher::Event::Init));
    assert!(
        matches!(next().await, watcher::Event::InitApply(c) if c.metadata.name.as_deref() == Some("before"))
    );
    assert!(matches!(next().await, watcher::Event::InitDone));
    common::apply(&api, "after", "t", cm("after", json!({})))
        .await
        .unwrap();
    assert!(
        matches!(next().await, watcher::Event::Apply(c) if c.metadata.name.as_deref() == Some("after"))
    );
    api.delete("before", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        matches!(next().await, watcher::Event::Delete(c) if c.metadata.name.as_deref() == Some("before"))
    );
}

#[tokio::test]
async fn watch_resumes_from_a_version_and_expired_versions_get_410() {
    let (server, client) = start(Options {
        bookmark_interval: Duration::from_millis(50),
        ..Options::default()
    });
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let a = common::apply(&api, "a", "t", cm("a", json!({})))
        .await
        .unwrap();
    common::apply(&api, "b", "t", cm("b", json!({})))
        .await
        .unwrap();
    let rv = a.metadata.resource_version.unwrap();
    let mut resumed = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(WAIT, resumed.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("b")),
        "only what happened after {rv}"
    );
    let bookmark = tokio::time::timeout(WAIT, resumed.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(bookmark, WatchEvent::Bookmark(_)),
        "bookmarks arrive when asked for"
    );

    server.compact();
    let mut expired = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(WAIT, expired.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dropped_watch_stream_is_resumed_by_the_runtime_watcher() {
    let (server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    server.inject(Fault::drop_watch(Match::default(), Duration::from_millis(100)).times(1));
    let mut events = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    common::apply(&api, "a", "t", cm("a", json!({})))
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("a"));
    // Keep the watcher polled (it is lazy) until the cut watch has been re-established.
    let end = std::time::Instant::now() + WAIT;
    while server
        .requests()
        .iter()
        .filter(|r| r.verb == Verb::Watch)
        .count()
        < 2
    {
        assert!(
            std::time::Instant::now() < end,
            "the dropped watch was not re-established"
        );
        let _ = tokio::time::timeout(Duration::from_millis(20), events.try_next()).await;
    }
    common::apply(&api, "b", "t", cm("b", json!({})))
        .await
        .unwrap();
    let second = eventually("b through the new watch", WAIT, async || {
        let c = tokio::time::timeout(WAIT, events.try_next())
            .await
            .ok()?
            .ok()??;
        (c.metadata.name.as_deref() == Some("b")).then_some(c)
    })
    .await;
    assert_eq!(second.metadata.name.as_deref(), Some("b"));
}

#[tokio::test]
async fn a_label_selected_watch_sees_objects_enter_and_leave_the_selection() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let config = watcher::Config::default().labels("app=web");
    let mut events = watcher(api.clone(), config).boxed();
    let mut next = async || {
        tokio::time::timeout(WAIT, events.try_next())
            .await
            .expect("an event in time")
            .expect("no watch error")
            .expect("stream open")
    };
    assert!(matches!(next().await, watcher::Event::Init));
    assert!(matches!(next().await, watcher::Event::InitDone));
    common::apply(&api, "a", "t", cm("a", json!({"app": "db"})))
        .await
        .unwrap();
    common::apply(&api, "a", "t", cm("a", json!({"app": "web"})))
        .await
        .unwrap();
    assert!(
        matches!(next().await, watcher::Event::Apply(c) if c.metadata.name.as_deref() == Some("a"))
    );
    common::apply(&api, "a", "t", cm("a", json!({"app": "api"})))
        .await
        .unwrap();
    assert!(
        matches!(next().await, watcher::Event::Delete(c) if c.metadata.name.as_deref() == Some("a"))
    );
}

#[tokio::test]
async fn streaming_list_watches_send_initial_events_then_the_end_bookmark() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    common::apply(&api, "a", "t", cm("a", json!({})))
        .await
        .unwrap();
    let config = watcher::Config::default().streaming_lists();
    let mut events = watcher(api.clone(), config).boxed();
    let mut next = async || {
        tokio::time::timeout(WAIT, events.try_next())
            .await
            .expect("an event in time")
            .expect("no watch error")
            .expect("stream open")
    };
    assert!(matches!(next().await, watcher::Event::Init));
    assert!(
        matches!(next().await, watcher::Event::InitApply(c) if c.metadata.name.as_deref() == Some("a"))
    );
    assert!(
        matches!(next().await, watcher::Event::InitDone),
        "the initial-events-end bookmark ends the list"
    );
    common::apply(&api, "b", "t", cm("b", json!({})))
        .await
        .unwrap();
    assert!(
        matches!(next().await, watcher::Event::Apply(c) if c.metadata.name.as_deref() == Some("b"))
    );
}
