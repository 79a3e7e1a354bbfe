//! One list of expectations of the cluster port (kinds, reads, server-side apply with its dry
//! runs and conflicts, lists, deletes, Events), run against the in-memory fake
//! (`sextant_fakes::FakeCluster`) and against the real edge (`KubeCluster`, kube-rs over
//! kube-testkit, which real `kubectl` works against and which follows the Kubernetes docs on
//! server-side apply). A behaviour a table test relies on and the fake gets wrong fails here.

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::{json, Value};
use sextant::apply::cluster::KubeCluster;
use sextant_core::object::ObjectRef;
use sextant_core::ports::cluster::{Cluster, ClusterError, Event};
use sextant_fakes::FakeCluster;
use sextant_testkit::{Options, TestServer};

/// What the expectations need beyond the port: another field manager's write.
trait World {
    async fn set_by(&self, manager: &str, r: &ObjectRef, key: &str, value: &str);
}

impl World for FakeCluster {
    async fn set_by(&self, manager: &str, r: &ObjectRef, key: &str, value: &str) {
        FakeCluster::set_by(self, manager, r, &format!("/data/{key}"), json!(value));
    }
}

struct Real {
    cluster: KubeCluster,
    client: kube::Client,
    _server: TestServer,
}

impl World for Real {
    async fn set_by(&self, manager: &str, r: &ObjectRef, key: &str, value: &str) {
        let ar = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        let api: kube::Api<DynamicObject> =
            kube::Api::namespaced_with(self.client.clone(), r.namespace.as_deref().unwrap(), &ar);
        let patch = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": r.name, "namespace": r.namespace}, "data": {key: value}});
        api.patch(
            &r.name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&patch),
        )
        .await
        .expect("another manager's write");
    }
}

fn reference(group: &str, version: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        namespace: ns.map(str::to_string),
        name: name.into(),
    }
}

fn configmap(name: &str, labels: Value, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "contract", "labels": labels}, "data": data})
}

fn version(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn expectations<C: Cluster>(c: &C, world: &impl World, what: &str) {
    let cm = reference("", "v1", "ConfigMap", Some("contract"), "settings");
    let widget = reference("example.com", "v1", "Widget", Some("contract"), "one");
    let ns = reference("", "v1", "Namespace", None, "contract");

    // Kinds: served with their plural and scope, or not at all.
    let served = c.served(&cm).await.unwrap().expect("ConfigMap is served");
    assert_eq!(
        (served.plural.as_str(), served.namespaced),
        ("configmaps", true),
        "{what}"
    );
    let served = c.served(&ns).await.unwrap().expect("Namespace is served");
    assert!(!served.namespaced, "{what}");
    assert_eq!(c.served(&widget).await.unwrap(), None, "{what}");
    let listable = c.listable().await.unwrap();
    assert!(
        listable
            .iter()
            .any(|(r, s)| r.kind == "ConfigMap" && r.group.is_empty() && s.namespaced),
        "{what}: ConfigMap is listable"
    );

    // Nothing yet: absent, and in a namespace that does not exist a write is refused as not
    // found (the sync creates namespaces first).
    assert_eq!(c.get(&cm).await.unwrap(), None, "{what}");
    assert_eq!(
        c.get(&widget).await.unwrap(),
        None,
        "{what}: an unserved kind has no objects"
    );
    let refused = c
        .apply(
            &cm,
            &configmap("settings", json!({}), json!({})),
            false,
            false,
        )
        .await
        .expect_err("no namespace");
    assert!(refused.is_not_found(), "{what}: {refused}");
    assert!(matches!(
        c.apply(&widget, &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "one"}}), false, false).await,
        Err(ClusterError::UnknownKind { .. })
    ), "{what}");

    // Created, read back, and a repeated apply writes nothing.
    c.apply(
        &ns,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "contract"}}),
        false,
        false,
    )
    .await
    .unwrap();
    let first = c
        .apply(
            &cm,
            &configmap(
                "settings",
                json!({"team": "a"}),
                json!({"k": "v", "gone": "soon"}),
            ),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(first["data"]["k"], "v", "{what}");
    let live = c.get(&cm).await.unwrap().expect("created");
    assert_eq!(live["data"], json!({"k": "v", "gone": "soon"}), "{what}");
    assert!(!version(&live).is_empty(), "{what}: a resourceVersion");
    let again = c
        .apply(
            &cm,
            &configmap(
                "settings",
                json!({"team": "a"}),
                json!({"k": "v", "gone": "soon"}),
            ),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        version(&again),
        version(&live),
        "{what}: a no-op keeps the version"
    );

    // A dry run answers what would be stored, and stores nothing.
    let dry = c
        .apply(
            &cm,
            &configmap(
                "settings",
                json!({"team": "a"}),
                json!({"k": "w", "gone": "soon"}),
            ),
            false,
            true,
        )
        .await
        .unwrap();
    assert_eq!(dry["data"]["k"], "w", "{what}");
    assert_eq!(
        c.get(&cm).await.unwrap().unwrap()["data"]["k"],
        "v",
        "{what}: dry run stored"
    );

    // A field the agent set and no longer sets is removed.
    c.apply(
        &cm,
        &configmap("settings", json!({"team": "a"}), json!({"k": "v"})),
        false,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        c.get(&cm).await.unwrap().unwrap()["data"],
        json!({"k": "v"}),
        "{what}"
    );

    // Another manager's field: a conflict unless forced; forced, the agent's value wins.
    world.set_by("ops", &cm, "k", "theirs").await;
    let conflict = c
        .apply(
            &cm,
            &configmap("settings", json!({"team": "a"}), json!({"k": "mine"})),
            false,
            false,
        )
        .await
        .expect_err("a conflict");
    match &conflict {
        ClusterError::Conflict { message, .. } => {
            assert!(message.contains("\"ops\""), "{what}: {message}")
        }
        e => panic!("{what}: {e:?}"),
    }
    assert_eq!(
        c.get(&cm).await.unwrap().unwrap()["data"]["k"],
        "theirs",
        "{what}"
    );
    c.apply(
        &cm,
        &configmap("settings", json!({"team": "a"}), json!({"k": "mine"})),
        true,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        c.get(&cm).await.unwrap().unwrap()["data"]["k"],
        "mine",
        "{what}"
    );

    // Lists by label, in a namespace; an unserved kind lists nothing.
    let names = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let kind_in_ns = reference("", "v1", "ConfigMap", Some("contract"), "");
    assert_eq!(
        names(c.list(&kind_in_ns, "team=a").await.unwrap()),
        ["settings"],
        "{what}"
    );
    assert!(
        c.list(&kind_in_ns, "team=b").await.unwrap().is_empty(),
        "{what}"
    );
    assert!(c.list(&widget, "").await.unwrap().is_empty(), "{what}");

    // An Event about an object lands in its namespace, as `kubectl events` lists it.
    let web = reference("apps", "v1", "Deployment", Some("contract"), "web");
    let event = Event {
        regarding: web.clone(),
        warning: true,
        reason: "RolledBack".into(),
        action: "Rollback".into(),
        note: "rolled back from sha256:2222 to sha256:1111".into(),
        instance: "sextant-0".into(),
    };
    c.event(&event).await.unwrap();
    let events = c
        .list(
            &reference("events.k8s.io", "v1", "Event", Some("contract"), ""),
            "",
        )
        .await
        .unwrap();
    let found = events
        .iter()
        .find(|e| e["reason"] == "RolledBack")
        .unwrap_or_else(|| panic!("{what}: {events:?}"));
    assert_eq!(found["type"], "Warning", "{what}");
    assert_eq!(found["note"], event.note.as_str(), "{what}");
    assert_eq!(found["action"], "Rollback", "{what}");
    assert_eq!(found["regarding"]["name"], "web", "{what}");
    assert_eq!(found["regarding"]["kind"], "Deployment", "{what}");
    assert_eq!(found["reportingInstance"], "sextant-0", "{what}");

    // Deleted, and deleting again is not an error.
    c.delete(&cm).await.unwrap();
    assert_eq!(c.get(&cm).await.unwrap(), None, "{what}");
    c.delete(&cm).await.unwrap();
}

#[tokio::test]
async fn the_fake_cluster_keeps_the_port_s_contract() {
    let fake = FakeCluster::new();
    expectations(&fake, &fake, "fake").await;
}

#[tokio::test]
async fn the_kube_edge_keeps_the_port_s_contract() {
    let server = TestServer::start(Options::default()).expect("kube-testkit");
    let client = server.client().unwrap();
    let real = Real {
        cluster: KubeCluster::new(client.clone()),
        client,
        _server: server,
    };
    expectations(&real.cluster, &real, "kube").await;
}
