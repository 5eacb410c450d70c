//! The core's applier conformance suite against the real test kube-apiserver.

mod common;

use gitops_kube::KubeApplierOptions;

#[tokio::test]
async fn kube_applier_passes_the_applier_suite() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let (applier, _) = common::applier(kube, KubeApplierOptions::default()).await;
    // The suite creates and deletes its own namespace.
    let name = format!("conformance-{}", std::process::id());
    gitops_core::conformance::applier(&applier, &name)
        .await
        .unwrap();
}
