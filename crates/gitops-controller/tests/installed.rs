//! `gitops install` on the test API server, and the controller run with exactly the installed
//! ServiceAccount's rights (through impersonation): the sample repository reconciles end to
//! end, which proves the RBAC is enough, and what lies outside those rights is refused with
//! the API server's message, which proves it is not more. Then `gitops uninstall` removes the
//! controller and keeps the user's objects.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::time::Duration;

use gitops_core::Applier;
use gitops_core::apply::Action;
use gitops_flux::{FluxObject, GitRepository, Kustomization};
use gitops_install::{CONTROLLER, InstallOptions, Removal};
use gitops_kube::{KubeApplier, KubeApplierOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

mod support;

/// A copy of `admin`'s kubeconfig that acts as the ServiceAccount `namespace/name`, with the
/// groups the API server gives a ServiceAccount token.
fn impersonating(admin: &Path, namespace: &str, name: &str, out: &Path) {
    let text = std::fs::read_to_string(admin).unwrap();
    let mut config: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    let user = &mut config["users"][0]["user"];
    user["as"] = json!(format!("system:serviceaccount:{namespace}:{name}"));
    user["as-groups"] = json!([
        "system:serviceaccounts",
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated"
    ]);
    std::fs::write(out, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_rights_are_enough_for_the_sample_and_no_more() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let admin = kube_env.client().await;
    let options = InstallOptions::default();

    // 1. Install with the library (no wait: the test API server runs no Pods), then with
    //    `gitops install` as a user types it: the second apply changes nothing.
    let applier = KubeApplier::with_options(
        admin.clone(),
        KubeApplierOptions::default().with_field_manager(gitops_install::FIELD_MANAGER),
    );
    let first = gitops_install::install(&applier, &options, None)
        .await
        .unwrap();
    assert!(
        first.changes.iter().all(|c| c.action == Action::Created),
        "{first:?}"
    );
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), "flux-system");
    let install = || {
        let out = support::cli()
            .args(["install", "--no-wait", "--kubeconfig"])
            .arg(kube_env.kubeconfig_path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // A hand edit is taken back by the next install; the one after changes nothing.
    let edit = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "manager", "image": "edited.example/controller:1"}]}}}});
    deployments
        .patch(CONTROLLER, &PatchParams::default(), &Patch::Strategic(edit))
        .await
        .unwrap();
    let total = first.changes.len();
    let printed = install();
    assert!(
        printed.contains(&format!("1 of {total} objects changed")),
        "{printed}"
    );
    let image = |d: Deployment| d.spec.template.spec.unwrap().containers[0].image.clone();
    assert_eq!(
        image(deployments.get(CONTROLLER).await.unwrap()),
        Some(options.image.clone())
    );
    let printed = install();
    assert!(
        printed.contains(&format!("0 of {total} objects changed")),
        "a second install changes nothing:\n{printed}"
    );
    let installed = deployments.get(CONTROLLER).await.unwrap();
    let pod = installed.spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(CONTROLLER));

    // 2. The fleet repository and the user's Secrets, written by the admin.
    let mut files = support::sample_files();
    // A path whose objects lie outside the rights: a ClusterRoleBinding to cluster-admin.
    files.insert(
        "escalate/binding.yaml".into(),
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: take-over}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: default, namespace: default}]\n".into(),
    );
    let repo = git.create_repo("fleet").unwrap();
    let listed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let commit = repo.commit_files("main", &listed, "fleet").unwrap();
    support::create_secrets(
        &admin,
        "flux-system",
        &[
            ("sops-age", json!({"age.agekey": support::sample_age_key()})),
            (
                "git-credentials",
                json!({"username": git.http_username(), "password": git.http_password()}),
            ),
        ],
    )
    .await;

    // 3. The controller, acting as the installed ServiceAccount and nothing else.
    let work = tempfile::tempdir().unwrap();
    let kubeconfig = work.path().join("controller-kubeconfig");
    impersonating(
        kube_env.kubeconfig_path(),
        "flux-system",
        CONTROLLER,
        &kubeconfig,
    );
    let free = || {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut command = support::controller();
    command
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--storage-path")
        .arg(work.path().join("storage"))
        .args(["--allow-insecure-http", "--requeue-dependency", "1s"])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free())])
        .args(["--receiver-addr", &format!("127.0.0.1:{}", free())])
        .env("RUST_LOG", "info,kube=warn");
    let controller =
        gitops_testenv::Process::spawn("installed-controller", command, work.path()).unwrap();

    // 4. Flux's objects, written by the admin as a user would commit them.
    let flux = format!(
        r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: flux-system, namespace: flux-system}}
spec:
  interval: 1m
  url: {url}
  ref: {{branch: main}}
  secretRef: {{name: git-credentials}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: escalate, namespace: flux-system}}
spec:
  interval: 10m
  path: ./escalate
  prune: true
  sourceRef: {{kind: GitRepository, name: flux-system}}
"#,
        url = repo.http_url()
    );
    let mut objects = support::objects(&flux);
    objects.extend(support::sample_kustomizations(&files));
    applier.apply(&objects, &Default::default()).await.unwrap();

    // 5. Enough: the sample converges, its Secret decrypted, its apps applied.
    let revision = format!("main@sha1:{commit}");
    let kustomizations: Api<Kustomization> = Api::namespaced(admin.clone(), "flux-system");
    for name in ["infra", "security", "apps"] {
        support::eventually(
            &controller,
            &format!("{name} ready"),
            Duration::from_secs(90),
            || async {
                kustomizations
                    .get(name)
                    .await
                    .ok()
                    .filter(|k| k.is_ready() && k.revision().as_deref() == Some(revision.as_str()))
            },
        )
        .await;
    }
    let sources: Api<GitRepository> = Api::namespaced(admin.clone(), "flux-system");
    assert!(sources.get("flux-system").await.unwrap().is_ready());
    let apps: Api<Deployment> = Api::namespaced(admin.clone(), "apps");
    assert!(apps.get_opt("api-gateway").await.unwrap().is_some());
    let kafka: Api<Secret> = Api::namespaced(admin.clone(), "kafka");
    assert!(kafka.get_opt("kafka-credentials").await.unwrap().is_some());

    // 6. No more: the escalating Kustomization fails with the API server's refusal, and the
    //    binding does not exist.
    let refused = support::eventually(
        &controller,
        "escalate to fail",
        Duration::from_secs(90),
        || async {
            let ks = kustomizations.get("escalate").await.ok()?;
            let ready = ks
                .status
                .as_ref()?
                .common
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")?
                .clone();
            (ready.status == "False").then_some(ready)
        },
    )
    .await;
    assert!(
        refused.message.contains("forbidden"),
        "the condition carries the API server's answer: {}",
        refused.message
    );
    let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
    assert!(bindings.get_opt("take-over").await.unwrap().is_none());
    // The same identity cannot write outside its rights directly either.
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let as_controller = kube::Client::try_from(config).unwrap();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(as_controller.clone());
    let denied = crds
        .delete(
            "kustomizations.kustomize.toolkit.fluxcd.io",
            &Default::default(),
        )
        .await;
    assert!(
        matches!(&denied, Err(kube::Error::Api(s)) if s.code == 403),
        "deleting a CRD is refused: {denied:?}"
    );
    drop(controller);

    // 7. Uninstall keeps the user's objects; a second uninstall deletes nothing.
    let removed = gitops_install::uninstall(&admin, &options, Removal::KeepUserObjects)
        .await
        .unwrap();
    assert!(
        removed.iter().any(|id| id.contains("Deployment")),
        "{removed:?}"
    );
    assert!(deployments.get_opt(CONTROLLER).await.unwrap().is_none());
    assert!(
        sources.get_opt("flux-system").await.unwrap().is_some(),
        "the GitRepository stays"
    );
    assert!(
        apps.get_opt("api-gateway").await.unwrap().is_some(),
        "workloads stay"
    );
    let again = gitops_install::uninstall(&admin, &options, Removal::KeepUserObjects)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}
