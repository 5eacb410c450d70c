//! `gitops install` on the test API server, and the controller run with exactly the installed
//! ServiceAccount's rights (a token the API server issued to it): the sample repository reconciles end to
//! end, which proves the RBAC is enough, and what lies outside those rights is refused with
//! the API server's message, which proves it is not more. Then `gitops uninstall` removes the
//! controller and keeps the user's objects.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use gitops_core::Applier;
use gitops_core::apply::Action;
use gitops_flux::{FluxObject, GitRepository, Kustomization};
use gitops_install::{CONTROLLER, InstallOptions, Removal};
use gitops_kube::{KubeApplier, KubeApplierOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

mod support;

/// Both tests install the controller cluster-wide (CRDs, ClusterRoles, `flux-system`) on the
/// one API server of this process, and the first uninstalls it at its end: they take turns.
static INSTALLATION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The `Ready` condition of a Kustomization once it is `False`.
async fn refused(
    controller: &gitops_testenv::Process,
    kustomizations: &Api<Kustomization>,
    name: &str,
) -> gitops_flux::FluxCondition {
    support::eventually(
        controller,
        &format!("{name} to fail"),
        Duration::from_secs(90),
        || async {
            let ks = kustomizations.get(name).await.ok()?;
            let conditions = &ks.status.as_ref()?.common.conditions;
            let ready = conditions.iter().find(|c| c.type_ == "Ready")?.clone();
            (ready.status == "False").then_some(ready)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_rights_are_enough_for_the_sample_and_no_more() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let _turn = INSTALLATION.lock().await;
    let admin = kube_env.client().await;
    let options = InstallOptions::default();
    // Installed already when the other test had its turn first (uninstall keeps the CRDs and
    // the namespace, and it does not uninstall): then objects may be there unchanged.
    let installed_before = Api::<CustomResourceDefinition>::all(admin.clone())
        .get_opt("gitrepositories.source.toolkit.fluxcd.io")
        .await
        .unwrap()
        .is_some();

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
        first
            .changes
            .iter()
            .all(|c| c.action == Action::Created
                || installed_before && c.action == Action::Unchanged),
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

    // 3. The controller, with the installed ServiceAccount's token and nothing else.
    let work = tempfile::tempdir().unwrap();
    let (controller, kubeconfig) =
        support::start_installed_controller(&admin, kube_env.kubeconfig_path(), work.path(), &[])
            .await;

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
    support::ready_at(
        &controller,
        &kustomizations,
        &["infra", "security", "apps"],
        &revision,
    )
    .await;
    let sources: Api<GitRepository> = Api::namespaced(admin.clone(), "flux-system");
    assert!(sources.get("flux-system").await.unwrap().is_ready());
    let apps: Api<Deployment> = Api::namespaced(admin.clone(), "apps");
    assert!(apps.get_opt("api-gateway").await.unwrap().is_some());
    let kafka: Api<Secret> = Api::namespaced(admin.clone(), "kafka");
    assert!(kafka.get_opt("kafka-credentials").await.unwrap().is_some());

    // 6. No more: the escalating Kustomization fails with the API server's refusal, and the
    //    binding does not exist.
    let refused = refused(&controller, &kustomizations, "escalate").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_apply_with_their_own_rights_and_cross_namespace_refs_are_refused() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let _turn = INSTALLATION.lock().await;
    let admin = kube_env.client().await;
    let applier = KubeApplier::with_options(
        admin.clone(),
        KubeApplierOptions::default().with_field_manager(gitops_install::FIELD_MANAGER),
    );
    gitops_install::install(&applier, &InstallOptions::default(), None)
        .await
        .unwrap();

    // Two tenants, each with a `deployer` account that may write ConfigMaps in its own
    // namespace only (a Role of our own: the built-in `edit` is aggregated by a controller
    // the test API server does not run).
    let mut tenancy = String::new();
    for team in ["team-a", "team-b"] {
        tenancy.push_str(&format!(
            r#"
apiVersion: v1
kind: Namespace
metadata: {{name: {team}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: deployer, namespace: {team}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: deployer, namespace: {team}}}
rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get, list, watch, create, update, patch, delete]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: deployer, namespace: {team}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}}
subjects: [{{kind: ServiceAccount, name: deployer, namespace: {team}}}]
---
"#
        ));
    }
    applier
        .apply(&support::objects(&tenancy), &Default::default())
        .await
        .unwrap();
    let config_map = |namespace: &str, name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{owner: tenant}}\n"
        )
    };
    let files = [
        ("team-a/app/config.yaml", config_map("team-a", "app")),
        ("team-a/escape/config.yaml", config_map("team-b", "escaped")),
        (
            "team-a/cluster/namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-c}\n".to_string(),
        ),
        ("team-b/app/config.yaml", config_map("team-b", "app")),
    ];
    let repo = git.create_repo("tenants").unwrap();
    let listed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    repo.commit_files("main", &listed, "tenants").unwrap();
    let credentials = json!({"username": git.http_username(), "password": git.http_password()});
    let mut flux = String::new();
    for team in ["team-a", "team-b"] {
        support::create_secrets(&admin, team, &[("git-credentials", credentials.clone())]).await;
        flux.push_str(&format!(
            r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: tenants, namespace: {team}}}
spec: {{interval: 1m, url: "{url}", ref: {{branch: main}}, secretRef: {{name: git-credentials}}}}
---
"#,
            url = repo.http_url()
        ));
    }
    // (namespace, name, path, serviceAccountName, source namespace)
    let kustomizations = [
        ("team-a", "app", "team-a/app", Some("deployer"), "team-a"),
        (
            "team-a",
            "escape",
            "team-a/escape",
            Some("deployer"),
            "team-a",
        ),
        (
            "team-a",
            "cluster",
            "team-a/cluster",
            Some("deployer"),
            "team-a",
        ),
        ("team-b", "app", "team-b/app", Some("deployer"), "team-b"),
        ("team-b", "unnamed", "team-b/app", None, "team-b"),
        ("team-b", "borrow", "team-a/app", Some("deployer"), "team-a"),
    ];
    for (namespace, name, path, account, source_namespace) in kustomizations {
        let account = account.map_or(String::new(), |a| format!(", serviceAccountName: {a}"));
        flux.push_str(&format!(
            r#"
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: {namespace}}}
spec: {{interval: 10m, retryInterval: 2s, path: "./{path}", prune: true, sourceRef: {{kind: GitRepository, name: tenants, namespace: {source_namespace}}}{account}}}
---
"#
        ));
    }

    // The controller with its installed token, locked down as a multi-tenant cluster runs it.
    let work = tempfile::tempdir().unwrap();
    let lockdown = [
        "--default-service-account",
        "default",
        "--no-cross-namespace-refs",
    ];
    let (controller, _) = support::start_installed_controller(
        &admin,
        kube_env.kubeconfig_path(),
        work.path(),
        &lockdown,
    )
    .await;
    applier
        .apply(&support::objects(&flux), &Default::default())
        .await
        .unwrap();

    // Each tenant applies in its own namespace.
    for team in ["team-a", "team-b"] {
        let api: Api<Kustomization> = Api::namespaced(admin.clone(), team);
        support::eventually(
            &controller,
            &format!("{team}/app ready"),
            Duration::from_secs(90),
            || async { api.get("app").await.ok().filter(|k| k.is_ready()) },
        )
        .await;
        let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(admin.clone(), team);
        assert!(
            maps.get_opt("app").await.unwrap().is_some(),
            "{team}/app applied"
        );
    }
    // Not into another tenant's namespace, nor cluster-scoped objects.
    let team_a: Api<Kustomization> = Api::namespaced(admin.clone(), "team-a");
    let team_b: Api<Kustomization> = Api::namespaced(admin.clone(), "team-b");
    for name in ["escape", "cluster"] {
        let ready = refused(&controller, &team_a, name).await;
        assert!(
            ready.message.contains("forbidden")
                && ready
                    .message
                    .contains("system:serviceaccount:team-a:deployer"),
            "{name}: {}",
            ready.message
        );
    }
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(admin.clone(), "team-b");
    assert!(maps.get_opt("escaped").await.unwrap().is_none());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    assert!(namespaces.get_opt("team-c").await.unwrap().is_none());
    // No account named: the default account, which has no rights here.
    let ready = refused(&controller, &team_b, "unnamed").await;
    assert!(
        ready
            .message
            .contains("system:serviceaccount:team-b:default"),
        "{}",
        ready.message
    );
    // Another namespace's source, under the lockdown flag.
    let ready = refused(&controller, &team_b, "borrow").await;
    assert!(
        ready.message.contains("cross-namespace"),
        "{}",
        ready.message
    );
    assert_eq!(ready.reason, "AccessDenied");
}
