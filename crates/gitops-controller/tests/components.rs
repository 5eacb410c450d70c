//! An installation with some components: only the source and kustomize CRDs. The controller
//! watches the kinds the API server serves and reconciles them; the others it leaves alone
//! instead of retrying watches that cannot succeed. Then `uninstall --delete-user-objects`
//! removes the CRDs with the Flux objects and leaves what they applied.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use gitops_core::Applier;
use gitops_install::{Component, InstallOptions};
use gitops_kube::{KubeApplier, KubeApplierOptions};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_installation_reconciles_what_it_serves() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let admin = kube_env.client().await;
    let applier = KubeApplier::with_options(
        admin.clone(),
        KubeApplierOptions::default().with_field_manager(gitops_install::FIELD_MANAGER),
    );
    let options = InstallOptions {
        components: vec![Component::SourceController, Component::KustomizeController],
        ..InstallOptions::default()
    };
    gitops_install::install(&applier, &options, None)
        .await
        .unwrap();

    let repo = git.create_repo("partial").unwrap();
    let commit = repo
        .commit_files(
            "main",
            &[(
                "app/config.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: partial, namespace: default}\ndata: {a: b}\n",
            )],
            "app",
        )
        .unwrap();
    support::create_secrets(
        &admin,
        "flux-system",
        &[(
            "git-credentials",
            serde_json::json!({"username": git.http_username(), "password": git.http_password()}),
        )],
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let (controller, _) =
        support::start_installed_controller(&admin, kube_env.kubeconfig_path(), work.path(), &[])
            .await;
    let flux = format!(
        r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: partial, namespace: flux-system}}
spec: {{interval: 1m, url: "{url}", ref: {{branch: main}}, secretRef: {{name: git-credentials}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: partial, namespace: flux-system}}
spec: {{interval: 10m, path: ./app, prune: true, sourceRef: {{kind: GitRepository, name: partial}}}}
"#,
        url = repo.http_url()
    );
    applier
        .apply(&support::objects(&flux), &Default::default())
        .await
        .unwrap();
    let kustomizations: kube::Api<gitops_flux::Kustomization> =
        kube::Api::namespaced(admin.clone(), "flux-system");
    support::ready_at(
        &controller,
        &kustomizations,
        &["partial"],
        &format!("main@sha1:{commit}"),
    )
    .await;
    let log = controller.log();
    for kind in [
        "ImageRepository",
        "ImagePolicy",
        "ImageUpdateAutomation",
        "Provider",
        "Alert",
        "Receiver",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("not served by the API server") && l.contains(kind)),
            "{kind} is reported as not watched:\n{log}"
        );
    }
    assert!(
        !log.contains("watch failed") && !log.contains("WARN kube_runtime"),
        "no watch retries:\n{log}"
    );

    drop(controller);

    // Uninstalled with the user's objects: finalizers released, CRDs (and so the Flux objects)
    // and the namespace deleted, and what the Kustomization applied left in place.
    let removed =
        gitops_install::uninstall(&admin, &options, gitops_install::Removal::DeleteUserObjects)
            .await
            .unwrap();
    assert!(
        removed
            .iter()
            .any(|id| id.contains("kustomizations.kustomize.toolkit.fluxcd.io")),
        "{removed:?}"
    );
    let crds: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(admin.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while crds
        .get_opt("kustomizations.kustomize.toolkit.fluxcd.io")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the CRD is still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(admin.clone(), "default");
    assert!(
        maps.get_opt("partial").await.unwrap().is_some(),
        "an uninstall never prunes what was applied"
    );
}
