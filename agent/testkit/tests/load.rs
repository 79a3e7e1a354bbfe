//! Many objects and concurrent writers stay consistent (how fast: `cargo bench`, not a test).

mod common;

use common::{configmap as cm, start};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use serde_json::json;
use sextant_testkit::Options;

#[tokio::test]
async fn a_thousand_concurrent_applies_are_all_stored_in_order() {
    let (server, client) = start(Options::default());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    futures::stream::iter(0..1000)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("cm-{i:04}");
                common::apply(&api, &name, "load", cm(&name, json!({"batch": "one"}))).await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("every apply succeeds");
    let listed = api
        .list(&ListParams::default().labels("batch=one"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1000);
    let seqs: Vec<u64> = server.requests().iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
}
