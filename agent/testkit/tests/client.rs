//! The kube-rs client against the test server: typed and dynamic APIs, subresources,
//! CRDs, finalizers, simulated controllers, faults and the request log.

mod common;

use std::time::Duration;

use common::{configmap as cm, eventually, start};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use serde_json::json;
use sextant_testkit::{Fault, Match, Options, Verb, FAIL_READINESS};

const WAIT: Duration = Duration::from_secs(10);

fn status_code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn patch_apply_creates_then_updates_with_generation_on_spec_changes_only() {
    let (_server, client) = start(Options::default());
    let api: Api<Deployment> = Api::default_namespaced(client);
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}});
    let created = common::apply(&api, "web", "sextant", &d).await.unwrap();
    let meta = &created.metadata;
    assert!(
        meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some()
    );
    assert_eq!(meta.generation, Some(1));
    d["metadata"]["labels"] = json!({"team": "shop"});
    let relabelled = common::apply(&api, "web", "sextant", &d).await.unwrap();
    assert_eq!(
        relabelled.metadata.generation,
        Some(1),
        "metadata changes leave generation alone"
    );
    d["spec"]["replicas"] = json!(3);
    let scaled = common::apply(&api, "web", "sextant", &d).await.unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    assert_eq!(scaled.metadata.uid, created.metadata.uid);
}

#[tokio::test]
async fn namespaced_objects_need_their_namespace() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::namespaced(client, "missing");
    let err = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(cm("a", json!({}))).unwrap(),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert!(
        status.message.contains("namespaces \"missing\" not found"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn create_conflicts_on_existing_names_and_update_on_stale_versions() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let obj: ConfigMap = serde_json::from_value(cm("a", json!({}))).unwrap();
    let first = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(
        status_code(api.create(&PostParams::default(), &obj).await.unwrap_err()),
        409
    );
    let mut fresh = first.clone();
    fresh.data = Some([("k".to_string(), "w".to_string())].into());
    api.replace("a", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(
        status_code(
            api.replace("a", &PostParams::default(), &fresh)
                .await
                .unwrap_err()
        ),
        409,
        "stale resourceVersion"
    );
}

#[tokio::test]
async fn json_patch_and_label_and_field_selectors() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        common::apply(&api, name, "t", cm(name, json!({"app": app})))
            .await
            .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app=web"))
                .await
                .unwrap()
        ),
        vec!["a", "b"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app in (db),app!=web"))
                .await
                .unwrap()
        ),
        vec!["c"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        vec!["b"]
    );
    let patched = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(json!([
        {"op": "add", "path": "/data/extra", "value": "1"}, {"op": "remove", "path": "/data/k"}]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.data.unwrap().into_iter().collect::<Vec<_>>(),
        vec![("extra".to_string(), "1".to_string())]
    );
}

#[tokio::test]
async fn status_and_scale_subresources_are_separate_from_the_main_resource() {
    let (_server, client) = start(Options {
        controllers: false,
        ..Options::default()
    });
    let api: Api<Deployment> = Api::default_namespaced(client);
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}}},
        "status": {"replicas": 99}});
    let created = common::apply(&api, "web", "t", &d).await.unwrap();
    assert!(
        created.status.is_none(),
        "status sent to the main resource is ignored"
    );
    let with_status = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 4}, "spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(with_status.status.unwrap().replicas, Some(4));
    assert_eq!(
        with_status.spec.unwrap().replicas,
        Some(1),
        "spec sent to status is ignored"
    );
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    api.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 6}})),
    )
    .await
    .unwrap();
    assert_eq!(
        api.get("web").await.unwrap().spec.unwrap().replicas,
        Some(6)
    );
}

#[tokio::test]
async fn a_crd_serves_its_kind_cluster_scoped_and_goes_with_its_deletion() {
    let (_server, client) = start(Options::default());
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Gadget", "plural": "gadgets"},
                 "versions": [{"name": "v1", "served": true, "storage": true}, {"name": "v2", "served": true, "storage": false}]}});
    common::apply(&crds, "gadgets.example.com", "t", &crd)
        .await
        .unwrap();
    let established = eventually("CRD Established", WAIT, async || {
        let c = crds.get("gadgets.example.com").await.ok()?;
        let conds = c.data.pointer("/status/conditions")?.as_array()?.clone();
        conds
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
            .then_some(c)
    })
    .await;
    assert_eq!(
        established.data.pointer("/status/storedVersions"),
        Some(&json!(["v1"]))
    );
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v2", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let g = json!({"apiVersion": "example.com/v2", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"size": 2}});
    common::apply(&gadgets, "g1", "t", &g).await.unwrap();
    let v1: Api<DynamicObject> = Api::all_with(
        client,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
            "gadgets",
        ),
    );
    assert_eq!(
        v1.get("g1").await.unwrap().types.unwrap().api_version,
        "example.com/v1",
        "every served version sees the object"
    );
    crds.delete("gadgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(status_code(gadgets.get("g1").await.unwrap_err()), 404);
}

#[tokio::test]
async fn controllers_complete_jobs_and_honour_fail_readiness() {
    let (_server, client) = start(Options {
        ready_delay: Duration::from_millis(50),
        ..Options::default()
    });
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}}}});
    common::apply(&jobs, "migrate", "t", &job).await.unwrap();
    eventually("the Job to complete", WAIT, async || {
        let s = jobs.get("migrate").await.ok()?.status?;
        s.conditions?
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")
            .then_some(())
    })
    .await;

    let deploys: Api<Deployment> = Api::default_namespaced(client);
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bad", "annotations": {FAIL_READINESS: "true"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "bad"}}, "template": {"metadata": {"labels": {"app": "bad"}}}}});
    common::apply(&deploys, "bad", "t", &d).await.unwrap();
    let status = eventually("the rollout to report", WAIT, async || {
        deploys.get("bad").await.ok()?.status
    })
    .await;
    assert_eq!(status.ready_replicas, Some(0));
    assert_eq!(status.observed_generation, Some(1));

    let ingresses: Api<DynamicObject> = Api::default_namespaced_with(
        deploys.into_client(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress"),
            "ingresses",
        ),
    );
    let ing = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
        "spec": {"rules": [{"host": "web.example.com"}]}});
    common::apply(&ingresses, "web", "t", &ing).await.unwrap();
    let ip = eventually("an Ingress address", WAIT, async || {
        let i = ingresses.get("web").await.ok()?;
        i.data.pointer("/status/loadBalancer/ingress/0/ip").cloned()
    })
    .await;
    assert_eq!(ip, "127.0.0.1");
}

#[tokio::test]
async fn injected_faults_fail_requests_and_the_log_records_every_request_in_order() {
    let (server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.patch(
        "a",
        &PatchParams::apply("sextant").dry_run(),
        &Patch::Apply(cm("a", json!({}))),
    )
    .await
    .unwrap();
    common::apply(&api, "a", "sextant", cm("a", json!({})))
        .await
        .unwrap();

    server.inject(
        Fault::error(
            Match {
                verb: Some(Verb::Get),
                resource: Some("configmaps".into()),
                ..Match::default()
            },
            500,
        )
        .times(1),
    );
    assert_eq!(status_code(api.get("a").await.unwrap_err()), 500);
    api.get("a").await.expect("the fault fired once");
    // The server's client has kube-rs' own retries off, as the agent's: a 429 reaches the
    // caller, Retry-After and all.
    server.inject(
        Fault::throttle(
            Match {
                verb: Some(Verb::List),
                ..Match::default()
            },
            Duration::from_secs(1),
        )
        .times(1),
    );
    assert_eq!(
        status_code(api.list(&ListParams::default()).await.unwrap_err()),
        429
    );
    api.list(&ListParams::default())
        .await
        .expect("the throttle fired once");

    let log = server.requests();
    let seen: Vec<(Verb, bool, u16)> = log.iter().map(|r| (r.verb, r.dry_run, r.status)).collect();
    assert_eq!(
        seen,
        vec![
            (Verb::Patch, true, 201),
            (Verb::Patch, false, 201),
            (Verb::Get, false, 500),
            (Verb::Get, false, 200),
            (Verb::List, false, 429),
            (Verb::List, false, 200),
        ]
    );
    assert!(log.iter().enumerate().all(|(i, r)| r.seq == i as u64));
    assert_eq!(log[1].field_manager.as_deref(), Some("sextant"));
    assert_eq!(log[1].path, "/api/v1/namespaces/default/configmaps/a");
    let sent = log[1].body.as_ref().expect("writes keep their body");
    assert_eq!(sent["metadata"]["name"], "a");
    assert!(log[2].body.is_none(), "reads have none");
}

#[tokio::test]
async fn lists_paginate_with_limit_and_continue() {
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    for name in ["a", "b", "c", "d", "e"] {
        common::apply(&api, name, "t", cm(name, json!({})))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(2);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        token = page.metadata.continue_.filter(|c| !c.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!((names.join(","), pages), ("a,b,c,d,e".to_string(), 3));
}

/// Pages across namespaces follow the store's order, including namespaces whose names prefix
/// others' (`a`, `a-b`), and with a label selector: every object once, none skipped; the count
/// of what is left comes only without a selector, as the API server gives it.
#[tokio::test]
async fn lists_across_namespaces_paginate_in_order_with_and_without_a_selector() {
    let (_server, client) = start(Options::default());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let mut want = Vec::new();
    for ns in ["a", "a-b", "b"] {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        common::apply(&namespaces, ns, "t", body).await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        for (i, name) in ["x", "y", "z"].iter().enumerate() {
            let labels = json!({"even": (i % 2 == 0).to_string()});
            common::apply(&api, name, "t", common::configmap(name, labels))
                .await
                .unwrap();
            want.push((format!("{ns}/{name}"), i % 2 == 0));
        }
    }
    let all: Api<ConfigMap> = Api::all(client);
    for selector in [None, Some("even=true")] {
        let (mut seen, mut token, mut first_remaining) = (Vec::new(), None::<String>, None);
        loop {
            let mut lp = ListParams::default().limit(2);
            if let Some(s) = selector {
                lp = lp.labels(s);
            }
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = all.list(&lp).await.unwrap();
            first_remaining = first_remaining.or(Some(page.metadata.remaining_item_count));
            seen.extend(page.items.into_iter().map(|c| {
                format!(
                    "{}/{}",
                    c.metadata.namespace.unwrap(),
                    c.metadata.name.unwrap()
                )
            }));
            token = page.metadata.continue_.filter(|c| !c.is_empty());
            if token.is_none() {
                break;
            }
        }
        let expected: Vec<String> = want
            .iter()
            .filter(|(_, even)| selector.is_none() || *even)
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(seen, expected, "{selector:?}");
        let remaining = first_remaining.flatten();
        match selector {
            None => assert_eq!(remaining, Some(expected.len() as i64 - 2)),
            Some(_) => assert_eq!(remaining, None),
        }
    }
}

#[tokio::test]
async fn built_in_defaults_are_filled_in_and_not_owned_by_the_applier() {
    let (_server, client) = start(Options::default());
    let secrets: Api<DynamicObject> = Api::default_namespaced_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Secret")),
    );
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"user": "foo"}});
    let stored = common::apply(&secrets, "creds", "t", &s).await.unwrap();
    assert_eq!(stored.data["data"]["user"], "Zm9v");
    assert!(stored.data.get("stringData").is_none());

    let services: Api<DynamicObject> = Api::default_namespaced_with(
        client,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Service")),
    );
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let first = common::apply(&services, "web", "t", &svc).await.unwrap();
    let ip = first
        .data
        .pointer("/spec/clusterIP")
        .and_then(|v| v.as_str())
        .expect("a cluster IP")
        .to_string();
    assert!(ip.starts_with("10.96."));
    assert_eq!(
        first.data.pointer("/spec/ports/0/targetPort"),
        Some(&json!(80))
    );
    let fields = serde_json::to_string(&first.metadata.managed_fields).unwrap();
    assert!(
        !fields.contains("f:clusterIP") && !fields.contains("f:targetPort"),
        "{fields}"
    );
    let again = common::apply(&services, "web", "t", &svc).await.unwrap();
    assert_eq!(
        again.metadata.resource_version, first.metadata.resource_version,
        "defaults cause no churn"
    );
    assert_eq!(
        again
            .data
            .pointer("/spec/clusterIP")
            .and_then(|v| v.as_str()),
        Some(ip.as_str())
    );
}

#[tokio::test]
async fn the_kube_runtime_event_recorder_publishes_events() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let (_server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let target = common::apply(&api, "a", "t", cm("a", json!({})))
        .await
        .unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "sextant".into(),
            instance: None,
        },
    );
    let reference = kube::Resource::object_ref(&target, &());
    let event = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("applied".into()),
        action: "Apply".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &reference)
        .await
        .expect("published");
    recorder
        .publish(&event, &reference)
        .await
        .expect("published again (a series)");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::default_namespaced(client);
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.items.len(),
        1,
        "the repeat is folded into the first event's series"
    );
    assert_eq!(list.items[0].reason.as_deref(), Some("Synced"));
}
