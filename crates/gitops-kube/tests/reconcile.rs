//! A whole reconcile pass of gitops-core with this applier and a ConfigMap inventory: apply,
//! then prune what the next render lacks, honouring prune-disabled, with the inventory kept in
//! the cluster.

mod common;

use std::sync::Arc;

use gitops_core::reconcile::Options;
use gitops_core::{Action, InventoryStore, ObjectRef, Reconciler};
use gitops_kube::{ConfigMapInventory, KubeApplierOptions};
use gitops_local::{DirectorySource, PlainRenderer};

#[tokio::test]
async fn reconcile_applies_prunes_and_keeps_the_inventory_in_a_config_map() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (applier, _) = common::applier(kube, KubeApplierOptions::default()).await;
    let client = applier.client().clone();
    let store = Arc::new(ConfigMapInventory::new(
        client.clone(),
        &ns,
        "app-inventory",
    ));
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text.replace("{ns}", &ns)).unwrap();
    };
    write(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: {ns}}\ndata: {k: v}\n",
    );
    write(
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: {ns}}\n",
    );
    write(
        "c.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: {ns}, annotations: {kustomize.toolkit.fluxcd.io/prune: disabled}}\n",
    );
    let reconciler = Reconciler::new(
        ObjectRef::new(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            Some(&ns),
            "app",
        ),
        Arc::new(DirectorySource::new(dir.path())),
        Arc::new(PlainRenderer::new()),
        Arc::new(applier),
    )
    .with_inventory_store(store.clone())
    .with_options(Options::default().with_prune(true));

    let outcome = reconciler.reconcile(None).await.unwrap();
    assert_eq!(outcome.changes.count(Action::Created), 3);
    assert_eq!(store.load().await.unwrap().unwrap().len(), 3);

    std::fs::remove_file(dir.path().join("b.yaml")).unwrap();
    std::fs::remove_file(dir.path().join("c.yaml")).unwrap();
    let outcome = reconciler.reconcile(Some(&outcome.revision)).await.unwrap();
    assert_eq!(
        outcome.changes.count(Action::Deleted),
        1,
        "{:?}",
        outcome.changes
    );
    assert_eq!(outcome.changes.count(Action::Skipped), 1);
    assert_eq!(outcome.changes.count(Action::Unchanged), 1);
    let left: Vec<String> = store
        .load()
        .await
        .unwrap()
        .unwrap()
        .iter()
        .map(|id| id.name.clone())
        .collect();
    assert_eq!(left, ["a"]);
    assert!(
        common::live(&client, "v1", "ConfigMap", "configmaps", Some(&ns), "b")
            .await
            .is_none()
    );
    assert!(
        common::live(&client, "v1", "ConfigMap", "configmaps", Some(&ns), "c")
            .await
            .is_some()
    );

    let outcome = reconciler.reconcile(Some(&outcome.revision)).await.unwrap();
    assert!(!outcome.changes.has_changes(), "{:?}", outcome.changes);
}
