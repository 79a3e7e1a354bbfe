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

/// The resourceVersion of the latest write, from a list.
async fn current_rv(api: &Api<ConfigMap>) -> u64 {
    let list = api.list(&Default::default()).await.unwrap();
    list.metadata.resource_version.unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_version_not_reached_yet_is_too_large_for_lists_and_watch_lists_and_awaited_by_a_watch() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let now = current_rv(&api).await;
    let ahead = (now + 2).to_string();
    // A list not older than it: 504 Timeout with the ResourceVersionTooLarge cause.
    let lp = kube::api::ListParams::default()
        .at(&ahead)
        .matching(kube::api::VersionMatch::NotOlderThan);
    match api.list(&lp).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (504, "Timeout"));
            assert_eq!(
                s.message,
                format!("Timeout: Too large resource version: {ahead}, current: {now}")
            );
            let causes = s.details.map(|d| d.causes).unwrap_or_default();
            assert_eq!(causes[0].reason.as_str(), "ResourceVersionTooLarge");
        }
        other => panic!("expected 504 Too large resource version, got {other:?}"),
    }
    // A watch list from it: the same Status as an in-stream ERROR, then the end of the stream.
    let mut watch_list = api
        .watch(&WatchParams::streaming_lists(), &ahead)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(WAIT, watch_list.try_next())
        .await
        .unwrap()
    {
        Ok(Some(WatchEvent::Error(status))) => {
            assert_eq!((status.code, status.reason.as_str()), (504, "Timeout"));
            assert!(status.message.contains("Too large resource version"));
        }
        other => panic!("expected a 504 ERROR event, got {other:?}"),
    }
    assert!(matches!(
        tokio::time::timeout(WAIT, watch_list.try_next())
            .await
            .unwrap(),
        Ok(None)
    ));
    // A plain watch from it waits, and sends only what comes after it.
    let mut waiting = api
        .watch(&WatchParams::default(), &ahead)
        .await
        .unwrap()
        .boxed();
    for name in ["at-1", "at-2", "after"] {
        common::apply(&api, name, "t", cm(name, json!({})))
            .await
            .unwrap();
    }
    let first = tokio::time::timeout(WAIT, waiting.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(&first, WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("after")),
        "nothing at or before {ahead}: {first:?}"
    );
}

#[tokio::test]
async fn cut_watches_end_open_streams_and_a_server_restarted_empty_is_behind_its_clients() {
    let (server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    for name in ["a", "b", "c"] {
        common::apply(&api, name, "t", cm(name, json!({})))
            .await
            .unwrap();
    }
    let before = current_rv(&api).await;
    let mut open = api
        .watch(&WatchParams::default(), &before.to_string())
        .await
        .unwrap()
        .boxed();
    server.cut_watches();
    assert!(
        matches!(
            tokio::time::timeout(WAIT, open.try_next()).await.unwrap(),
            Ok(None)
        ),
        "the open stream ends"
    );
    let addr = server.addr();
    server.stop();
    let (restarted, client) = start(Options {
        addr,
        ..Options::default()
    });
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    assert!(api.get_opt("a").await.unwrap().is_none(), "empty");
    assert!(current_rv(&api).await < before, "its versions start again");
    drop(restarted);
}
