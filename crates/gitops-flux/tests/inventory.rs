//! `StatusInventory` against a real kube-apiserver: the inventory lives in the Kustomization's
//! status, and a store made from an object the caller has just read serves its first load from
//! that object instead of reading it again.

use gitops_core::InventoryStore;
use gitops_core::inventory::{Entry, Inventory};
use gitops_flux::StatusInventory;
use gitops_flux::api::{CrossNamespaceReference, Kustomization, KustomizationSpec};
use gitops_flux::crds;
use kube::Api;
use kube::api::PostParams;

fn inventory(ids: &[(&str, &str)]) -> Inventory {
    let entries: Vec<Entry> = ids
        .iter()
        .map(|(id, v)| Entry {
            id: id.to_string(),
            v: v.to_string(),
        })
        .collect();
    Inventory::from_entries("test", &entries).expect("an inventory")
}

#[tokio::test]
async fn saves_to_status_and_serves_the_first_load_from_the_object_already_read() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let client = kube.client().await;
    let ns = kube.namespace().await;
    crds::install(&client).await.unwrap();
    let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let spec = KustomizationSpec {
        source_ref: CrossNamespaceReference {
            kind: "GitRepository".into(),
            name: "flux-system".into(),
            ..CrossNamespaceReference::default()
        },
        interval: "10m".into(),
        ..KustomizationSpec::default()
    };
    api.create(
        &PostParams::default(),
        &Kustomization::new(&ns, "apps", spec),
    )
    .await
    .unwrap();

    let store = StatusInventory::new(client.clone(), &ns, "apps");
    assert_eq!(store.load().await.unwrap(), None, "nothing applied yet");
    let first = inventory(&[("apps_web_apps_Deployment", "v1")]);
    store.save(&first).await.unwrap();
    let read = api.get("apps").await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(first.clone()));

    // Another writer moves the stored inventory on after `read` was taken: the store made from
    // `read` answers its first load from `read` (no second GET), later loads from the server.
    let second = inventory(&[
        ("apps_web_apps_Deployment", "v1"),
        ("apps_web__Service", "v1"),
    ]);
    StatusInventory::new(client.clone(), &ns, "apps")
        .save(&second)
        .await
        .unwrap();
    let preloaded = StatusInventory::of(client.clone(), &read);
    assert_eq!(preloaded.load().await.unwrap(), Some(first));
    assert_eq!(preloaded.load().await.unwrap(), Some(second));
}
