//! A whole reconcile pass of gitops-core with this applier and a ConfigMap inventory: apply,
//! then prune what the next render lacks, honouring prune-disabled, with the inventory kept in
//! the cluster.

mod common;

use std::sync::Arc;

use gitops_core::apply::{ApplyOptions, Owner};
use gitops_core::reconcile::Options;
use gitops_core::{Action, Applier, InventoryStore, ObjectRef, Reconciler};
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

/// A Reconciler for the Kustomization `name` in `ns`, rendering `dir` whole, its inventory in a
/// ConfigMap of its own.
async fn kustomization(
    kube: &gitops_testenv::KubeEnv,
    ns: &str,
    name: &str,
    dir: &std::path::Path,
) -> (Reconciler, Arc<ConfigMapInventory>, kube::Client) {
    let (applier, _) = common::applier(kube, KubeApplierOptions::default()).await;
    let client = applier.client().clone();
    let store = Arc::new(ConfigMapInventory::new(
        client.clone(),
        ns,
        format!("{name}-inventory"),
    ));
    let reconciler = Reconciler::new(
        ObjectRef::new(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            Some(ns),
            name,
        ),
        Arc::new(DirectorySource::new(dir)),
        Arc::new(PlainRenderer::new()),
        Arc::new(applier),
    )
    .with_inventory_store(store.clone())
    .with_options(Options::default().with_prune(true));
    (reconciler, store, client)
}

/// A cluster-scoped CRD of kind `kind` in the group `{ns}.example.com` (`{ns}` left for the
/// caller to fill in).
fn cluster_scoped_crd(kind: &str, plural: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata: {{name: {plural}.{{ns}}.example.com}}\n\
         spec:\n  group: {{ns}}.example.com\n  scope: Cluster\n\
         \x20 names: {{plural: {plural}, kind: {kind}, listKind: {kind}List}}\n\
         \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n\
         \x20   schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n"
    )
}

/// kustomize's `namespace:` puts a namespace on custom resources whose scope it cannot know.
/// A pass that fails after recording its intent (here one invalid object) must not leave an
/// identity behind that makes the next good pass delete the live cluster-scoped object, which
/// is still in the render.
#[tokio::test]
async fn a_failed_pass_never_leads_to_pruning_a_cluster_scoped_resource_still_in_git() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text.replace("{ns}", &ns)).unwrap();
    };
    write("crd.yaml", &cluster_scoped_crd("Gadget", "gadgets"));
    // As `kustomize build` prints it under `namespace: {ns}`.
    write(
        "gadget.yaml",
        "apiVersion: {ns}.example.com/v1\nkind: Gadget\nmetadata: {name: keep-me, namespace: {ns}}\nspec: {size: 1}\n",
    );
    write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: {ns}}\ndata: {k: v}\n",
    );
    let (reconciler, store, client) = kustomization(kube, &ns, "gadgets", dir.path()).await;
    let api_version = format!("{ns}.example.com/v1");
    let gadget = || common::live(&client, &api_version, "Gadget", "gadgets", None, "keep-me");

    let first = reconciler.reconcile(None).await.unwrap();
    assert!(gadget().await.is_some());

    // One invalid object: the server refuses it, the pass fails after saving its intent.
    write(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, namespace: {ns}}\ndata: {k: [not, a, string]}\n",
    );
    let failed = reconciler
        .reconcile(Some(&first.revision))
        .await
        .unwrap_err();
    assert_eq!(
        failed.stage,
        gitops_core::reconcile::Stage::Apply,
        "{failed}"
    );

    // Fixed in Git: the next pass succeeds and the Gadget, still in the render, stays.
    std::fs::remove_file(dir.path().join("bad.yaml")).unwrap();
    let fixed = reconciler.reconcile(None).await.unwrap();
    assert_eq!(
        fixed.changes.count(Action::Deleted),
        0,
        "{:?}",
        fixed.changes
    );
    assert!(
        gadget().await.is_some(),
        "the Gadget in Git was deleted: {:?}",
        fixed.changes
    );
    let recorded: Vec<String> = store
        .load()
        .await
        .unwrap()
        .unwrap()
        .iter()
        .filter(|id| id.kind == "Gadget")
        .map(ToString::to_string)
        .collect();
    assert_eq!(recorded, [format!("Gadget.{ns}.example.com/keep-me")]);
}

/// Flux's ownership: an object that moved from one Kustomization to another carries the new
/// owner's labels, and the one it left must not delete it, neither by pruning nor when it is
/// deleted itself (its inventory pruned whole).
#[tokio::test]
async fn prune_never_deletes_what_another_kustomization_took_over() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let volume = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: data-volume, namespace: {ns}}\ndata: {precious: yes}\n"
        .replace("{ns}", &ns);
    let only_a = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: only-a, namespace: {ns}}\n"
        .replace("{ns}", &ns);
    std::fs::write(a_dir.path().join("volume.yaml"), &volume).unwrap();
    std::fs::write(a_dir.path().join("only-a.yaml"), &only_a).unwrap();
    let (a, a_store, client) = kustomization(kube, &ns, "team-a", a_dir.path()).await;
    let (b, _, _) = kustomization(kube, &ns, "team-b", b_dir.path()).await;
    let exists = |name: &'static str| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            common::live(&client, "v1", "ConfigMap", "configmaps", Some(&ns), name)
                .await
                .is_some()
        }
    };

    a.reconcile(None).await.unwrap();
    // The object moves from A to B in Git: B applies it first, then A reconciles.
    std::fs::write(b_dir.path().join("volume.yaml"), &volume).unwrap();
    std::fs::remove_file(a_dir.path().join("volume.yaml")).unwrap();
    b.reconcile(None).await.unwrap();
    let pruned = a.reconcile(None).await.unwrap();
    assert!(
        exists("data-volume").await,
        "A deleted B's object: {:?}",
        pruned.changes
    );
    assert_eq!(
        pruned.changes.count(Action::Deleted),
        0,
        "{:?}",
        pruned.changes
    );

    // A is deleted: its finalizer prunes its whole inventory, which may still name the moved
    // object (an inventory from before the move); only what A owns goes.
    let (applier, _) = common::applier(kube, KubeApplierOptions::default()).await;
    let a_owner = ApplyOptions::default().with_owner(Owner::of(&ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some(&ns),
        "team-a",
    )));
    let doomed = [
        ObjectRef::new("", "v1", "ConfigMap", Some(&ns), "data-volume"),
        ObjectRef::new("", "v1", "ConfigMap", Some(&ns), "only-a"),
    ];
    let finalized = applier.delete(&doomed, &a_owner).await.unwrap();
    assert_eq!(finalized.count(Action::Deleted), 1, "{finalized:?}");
    assert!(!exists("only-a").await);
    assert!(
        exists("data-volume").await,
        "A deleted B's object: {finalized:?}"
    );
    assert!(a_store.load().await.unwrap().is_some());
}

/// An inventory store that reports its first save, so a test can stop a pass right after it
/// recorded its intent, as a controller killed at that moment would.
struct SignalsFirstSave {
    inner: Arc<ConfigMapInventory>,
    saved: tokio::sync::Notify,
    saves: std::sync::atomic::AtomicUsize,
}

#[gitops_core::async_trait]
impl InventoryStore for SignalsFirstSave {
    async fn load(&self) -> Result<Option<gitops_core::Inventory>, gitops_core::inventory::Error> {
        self.inner.load().await
    }

    async fn save(
        &self,
        inventory: &gitops_core::Inventory,
    ) -> Result<(), gitops_core::inventory::Error> {
        self.inner.save(inventory).await?;
        if self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            self.saved.notify_one();
        }
        Ok(())
    }
}

/// A controller killed between the intent save and the final save, then started again (a new
/// process: new client, no discovery cache, no memory of the last apply): the next pass deletes
/// nothing that is in Git and converges.
#[tokio::test]
async fn a_pass_stopped_between_intent_and_final_save_loses_nothing_on_restart() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text.replace("{ns}", &ns)).unwrap();
    };
    write("crd.yaml", &cluster_scoped_crd("Dial", "dials"));
    write(
        "dial.yaml",
        "apiVersion: {ns}.example.com/v1\nkind: Dial\nmetadata: {name: volume, namespace: {ns}}\nspec: {level: 11}\n",
    );
    let configs = |generation: u32, count: u32| {
        (0..count)
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: {ns}}}\ndata: {{gen: \"{generation}\"}}\n---\n"
                )
            })
            .collect::<String>()
    };
    std::fs::write(dir.path().join("configs.yaml"), configs(1, 30)).unwrap();
    let (first, _, client) = kustomization(kube, &ns, "dials", dir.path()).await;
    first.reconcile(None).await.unwrap();

    // A new commit changes every ConfigMap and adds five; the pass is stopped right after it
    // recorded its intent (the old and the new objects), before the final save.
    std::fs::write(dir.path().join("configs.yaml"), configs(2, 35)).unwrap();
    let (applier, _) = common::applier(kube, KubeApplierOptions::default()).await;
    let signalling = Arc::new(SignalsFirstSave {
        inner: Arc::new(ConfigMapInventory::new(
            client.clone(),
            &ns,
            "dials-inventory",
        )),
        saved: tokio::sync::Notify::new(),
        saves: std::sync::atomic::AtomicUsize::new(0),
    });
    let me = ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some(&ns),
        "dials",
    );
    let killed = Reconciler::new(
        me,
        Arc::new(DirectorySource::new(dir.path())),
        Arc::new(PlainRenderer::new()),
        Arc::new(applier),
    )
    .with_inventory_store(signalling.clone())
    .with_options(Options::default().with_prune(true));
    tokio::select! {
        result = killed.reconcile(None) => panic!("the pass ended before it was stopped: {result:?}"),
        () = signalling.saved.notified() => {}
    }
    drop(killed);

    // Restarted: a fresh client and applier.
    let (restarted, _, _) = kustomization(kube, &ns, "dials", dir.path()).await;
    let outcome = restarted.reconcile(None).await.unwrap();
    assert_eq!(
        outcome.changes.count(Action::Deleted),
        0,
        "{:?}",
        outcome.changes
    );
    let dial = common::live(
        &client,
        &format!("{ns}.example.com/v1"),
        "Dial",
        "dials",
        None,
        "volume",
    )
    .await;
    assert!(
        dial.is_some(),
        "the Dial in Git was deleted: {:?}",
        outcome.changes
    );
    for i in 0..35 {
        let name = format!("c{i}");
        let live = common::live(&client, "v1", "ConfigMap", "configmaps", Some(&ns), &name)
            .await
            .unwrap_or_else(|| panic!("{name} in Git was deleted"));
        assert_eq!(live["data"]["gen"], "2", "{name} did not converge");
    }
    let again = restarted.reconcile(None).await.unwrap();
    assert!(!again.changes.has_changes(), "{:?}", again.changes);
}

/// Helm keeps release records of up to 1 MiB in Secrets next to ours: a pass must not read a
/// namespace's every Secret each time it applies, and a health wait must not poll them. Once
/// the applier has applied a group, it reads it through the owner's label selector only.
#[tokio::test]
async fn reads_after_the_first_pass_list_only_what_the_owner_manages() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (applier, counter) = common::applier(kube, KubeApplierOptions::default()).await;
    let client = applier.client().clone();
    // Someone else's Secrets in the same namespace.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), &ns);
    let blob = "x".repeat(64 * 1024);
    for i in 0..5 {
        let foreign: k8s_openapi::api::core::v1::Secret =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("sh.helm.release.v1.other.v{i}"), "namespace": ns},
                "stringData": {"release": blob},
            }))
            .unwrap();
        secrets.create(&Default::default(), &foreign).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let ours: String = (0..4)
        .map(|i| {
            format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s{i}, namespace: {ns}}}\nstringData: {{k: v{i}}}\n---\n")
        })
        .collect();
    std::fs::write(dir.path().join("secrets.yaml"), ours).unwrap();
    let reconciler = Reconciler::new(
        ObjectRef::new(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            Some(&ns),
            "lean",
        ),
        Arc::new(DirectorySource::new(dir.path())),
        Arc::new(PlainRenderer::new()),
        Arc::new(applier),
    )
    .with_options(Options::default().with_prune(true).with_wait(true));

    reconciler.reconcile(None).await.unwrap();
    counter.take_recent();
    let again = reconciler.reconcile(None).await.unwrap();
    assert!(!again.changes.has_changes(), "{:?}", again.changes);
    let lists: Vec<String> = counter
        .take_recent()
        .into_iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/secrets?"))
        .collect();
    assert!(!lists.is_empty(), "the pass read no Secret list");
    for list in &lists {
        assert!(
            list.contains("labelSelector=kustomize.toolkit.fluxcd.io%2Fname%3Dlean"),
            "an unfiltered read of the namespace's Secrets: {list}"
        );
    }
}

/// A host that holds its artifact (a controller's source pass stored it) hands it to the pass:
/// nothing is fetched, and the source counts as changed only for a revision not applied yet.
/// Health checks are part of the pass: an object that is healthy lets it succeed with a report,
/// one that never becomes healthy fails it at the health stage after the objects were applied.
#[tokio::test]
async fn a_held_artifact_is_applied_without_a_fetch_and_health_checks_gate_the_pass() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (applier, _) = common::applier(kube, KubeApplierOptions::default()).await;
    let client = applier.client().clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: held, namespace: {ns}}}\n"),
    )
    .unwrap();
    let artifact = gitops_core::Source::fetch(&DirectorySource::new(dir.path()), None)
        .await
        .unwrap()
        .artifact()
        .clone();
    let me = ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some(&ns),
        "held",
    );
    let held = ObjectRef::new("", "v1", "ConfigMap", Some(&ns), "held");
    let reconciler = Reconciler::for_artifacts(
        me.clone(),
        Arc::new(PlainRenderer::new()),
        Arc::new(applier.clone()),
    )
    .with_options(Options::default().with_health_checks(vec![held.clone()]));

    // Without an artifact there is nothing to fetch from.
    let failure = reconciler.reconcile(None).await.expect_err("no source");
    assert_eq!(failure.stage, gitops_core::reconcile::Stage::Fetch);

    let outcome = reconciler
        .reconcile_artifact(&artifact, None)
        .await
        .unwrap();
    assert!(outcome.source_changed);
    assert_eq!(outcome.changes.count(Action::Created), 1);
    let health = outcome.health.expect("the health checks were waited for");
    assert!(
        health.is_healthy() && health.objects.len() == 1,
        "{health:?}"
    );
    let again = reconciler
        .reconcile_artifact(&artifact, Some(&artifact.revision))
        .await
        .unwrap();
    assert!(!again.source_changed && !again.changes.has_changes());

    // A health check on a Deployment that does not exist fails the pass after the apply.
    let missing = ObjectRef::new("apps", "v1", "Deployment", Some(&ns), "never");
    let gated = Reconciler::for_artifacts(me, Arc::new(PlainRenderer::new()), Arc::new(applier))
        .with_options(
            Options::default()
                .with_health_checks(vec![missing])
                .with_timeout(std::time::Duration::from_secs(2)),
        );
    let failure = gated
        .reconcile_artifact(&artifact, None)
        .await
        .expect_err("unhealthy");
    assert_eq!(
        failure.stage,
        gitops_core::reconcile::Stage::Health,
        "{failure}"
    );
    assert!(
        common::live(&client, "v1", "ConfigMap", "configmaps", Some(&ns), "held")
            .await
            .is_some()
    );
}
