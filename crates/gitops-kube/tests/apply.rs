//! The applier against a real kube-apiserver: staging, no-op passes, drift, prune, immutable
//! fields, conflicts, unknown kinds, invalid objects, RBAC and the inventory store.

mod common;

use std::time::Duration;

use common::{applier, live, objects};
use gitops_core::apply::{ApplyOptions, Drift, Error};
use gitops_core::{Action, Applier, Inventory, InventoryStore, ObjectRef};
use gitops_kube::{ConfigMapInventory, KubeApplierOptions, SecretInventory};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};

const CRD_AND_CR: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: {ns}}
spec: {size: 3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: {ns}-app}
data: {mode: fast}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.{ns}.example.com}
spec:
  group: {ns}.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: v1
kind: Namespace
metadata: {name: {ns}-app}
"#;

#[tokio::test]
async fn crd_namespace_and_custom_resource_in_one_apply_then_a_noop_pass() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let yaml = CRD_AND_CR.replace("example.com/v1", &format!("{ns}.example.com/v1"));
    let objs = objects(&ns, &yaml);
    let (applier, counter) = applier(kube, KubeApplierOptions::default()).await;

    let changes = applier
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap();
    let order: Vec<(&str, Action)> = changes
        .changes
        .iter()
        .map(|c| (c.id.kind.as_str(), c.action))
        .collect();
    assert_eq!(
        order,
        [
            ("CustomResourceDefinition", Action::Created),
            ("Namespace", Action::Created),
            ("ConfigMap", Action::Created),
            ("Widget", Action::Created),
        ]
    );
    let client = applier.client();
    let widget = live(
        client,
        &format!("{ns}.example.com/v1"),
        "Widget",
        "widgets",
        Some(&ns),
        "w1",
    )
    .await
    .expect("the custom resource exists");
    assert_eq!(widget["spec"]["size"], 3);

    // A second pass on unchanged objects writes nothing and reads once per resource/namespace.
    counter.take();
    let again = applier
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(again.count(Action::Unchanged), 4, "{again:?}");
    assert!(!again.has_changes());
    assert!(counter.take() <= 4, "one read per group at most");

    // A fresh applier (no memory of the last pass) agrees, and the diff is empty.
    let (fresh, _) = common::applier(kube, KubeApplierOptions::default()).await;
    let again = fresh.apply(&objs, &ApplyOptions::default()).await.unwrap();
    assert_eq!(again.count(Action::Unchanged), 4);
    assert!(fresh.diff(&objs).await.unwrap().is_empty());
}

#[tokio::test]
async fn hand_edits_are_reported_as_drift_and_corrected() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let objs = objects(
        &ns,
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: {ns}}
data: {level: info, color: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: {ns}}
stringData: {password: hunter2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: {ns}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27", resources: {limits: {cpu: 500m}}}]
"#,
    );
    let (applier, counter) = applier(kube, KubeApplierOptions::default()).await;
    let changes = applier
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(changes.count(Action::Created), 3);
    counter.take();
    assert!(
        !applier
            .apply(&objs, &ApplyOptions::default())
            .await
            .unwrap()
            .has_changes()
    );
    assert!(counter.take() <= 3);

    // Hand edits the way kubectl makes them: updates by other managers.
    let client = applier.client().clone();
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    kube::Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .patch(
            "app",
            &edit,
            &Patch::Merge(serde_json::json!({"data": {"level": "debug"}})),
        )
        .await
        .unwrap();
    kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), &ns)
        .patch(
            "web",
            &edit,
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), &ns)
        .patch(
            "creds",
            &edit,
            &Patch::Merge(serde_json::json!({"stringData": {"password": "letmein"}})),
        )
        .await
        .unwrap();

    let drifts = applier.diff(&objs).await.unwrap();
    assert_eq!(drifts.len(), 3, "{drifts:?}");
    let fields = |kind: &str| -> Vec<(String, Option<String>, Option<String>)> {
        drifts
            .iter()
            .find(|d| d.id().kind == kind)
            .map(|d| match d {
                Drift::Changed { fields, .. } => fields
                    .iter()
                    .map(|f| (f.path.clone(), f.desired.clone(), f.live.clone()))
                    .collect(),
                Drift::Missing(_) => Vec::new(),
            })
            .unwrap_or_default()
    };
    assert_eq!(
        fields("ConfigMap"),
        [(
            "/data/level".into(),
            Some("\"info\"".into()),
            Some("\"debug\"".into())
        )]
    );
    assert_eq!(
        fields("Deployment"),
        [("/spec/replicas".into(), Some("2".into()), Some("5".into()))]
    );
    let secret = fields("Secret");
    assert_eq!(secret.len(), 1);
    assert_eq!(secret[0].0, "/data/password");
    let text = gitops_kube::render_diff(&drifts);
    assert!(!text.contains("hunter2") && !text.contains("aHVudGVyMg") && !text.contains("letmein"));
    assert!(text.contains("/spec/replicas"), "{text}");
    assert_eq!(gitops_kube::diff_exit_code(&Ok(drifts)), 1);

    // The next apply takes the fields back; then all is in sync again.
    let changes = applier
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(changes.count(Action::Configured), 3, "{changes:?}");
    let drifts = applier.diff(&objs).await;
    assert_eq!(gitops_kube::diff_exit_code(&drifts), 0, "{drifts:?}");
    let cm = kube::Api::<ConfigMap>::namespaced(client, &ns)
        .get("app")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["level"], "info");
}

#[tokio::test]
async fn prune_deletes_and_honours_prune_disabled() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let objs = objects(
        &ns,
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: gone, namespace: {ns}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kept
  namespace: {ns}
  annotations: {kustomize.toolkit.fluxcd.io/prune: disabled}
"#,
    );
    let (applier, _) = applier(kube, KubeApplierOptions::default()).await;
    applier
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap();
    let ids: Vec<ObjectRef> = objs.iter().map(|o| o.id().clone()).collect();
    let missing = ObjectRef::new("", "v1", "ConfigMap", Some(&ns), "never-existed");
    let unserved = ObjectRef::new("nope.example.com", "v1", "Gadget", Some(&ns), "g");
    let all = [ids.clone(), vec![missing, unserved]].concat();
    let changes = applier
        .delete(&all, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(changes.count(Action::Deleted), 1, "{changes:?}");
    assert_eq!(changes.count(Action::Skipped), 1);
    let client = applier.client();
    assert!(
        live(client, "v1", "ConfigMap", "configmaps", Some(&ns), "gone")
            .await
            .is_none()
    );
    assert!(
        live(client, "v1", "ConfigMap", "configmaps", Some(&ns), "kept")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn inventory_stores_round_trip_and_skip_unchanged_writes() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (applier, counter) = applier(kube, KubeApplierOptions::default()).await;
    let client = applier.client().clone();
    let inventory: Inventory = [
        ObjectRef::new("apps", "v1", "Deployment", Some("web"), "api"),
        ObjectRef::new("", "v1", "Namespace", None, "web"),
    ]
    .into_iter()
    .collect();
    let store =
        ConfigMapInventory::from_flag(client.clone(), &format!("{ns}/app-inventory")).unwrap();
    assert!(store.load().await.unwrap().is_none());
    store.save(&inventory).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(inventory.clone()));
    counter.take();
    store.save(&inventory).await.unwrap();
    assert_eq!(counter.take(), 0, "saving what is stored sends nothing");
    let cm = kube::Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("app-inventory")
        .await
        .unwrap();
    assert!(cm.data.unwrap()["inventory"].contains("web_api_apps_Deployment"));

    let secret = SecretInventory::new(client, &ns, "app-inventory");
    secret.save(&inventory).await.unwrap();
    assert_eq!(secret.load().await.unwrap(), Some(inventory));
}

#[tokio::test]
async fn immutable_fields_are_named_and_force_recreates() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let deployment = |app: &str| {
        objects(
            &ns,
            &r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: {ns}}
spec:
  selector: {matchLabels: {app: APP}}
  template:
    metadata: {labels: {app: APP}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: {ns}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "busybox:APP"}]
---
apiVersion: v1
kind: Service
metadata: {name: fixed, namespace: {ns}}
spec: {clusterIP: 10.0.0.OCTET, ports: [{port: 80}]}
"#
            .replace("APP", app)
            .replace("OCTET", if app == "one" { "201" } else { "202" }),
        )
    };
    let (applier, _) = applier(kube, KubeApplierOptions::default()).await;
    applier
        .apply(&deployment("one"), &ApplyOptions::default())
        .await
        .unwrap();
    let old_uid = live(
        applier.client(),
        "apps/v1",
        "Deployment",
        "deployments",
        Some(&ns),
        "web",
    )
    .await
    .unwrap()["metadata"]["uid"]
        .clone();

    let err = applier
        .apply(&deployment("two"), &ApplyOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    // Services come before Deployments: the first immutable field met is the cluster IP.
    assert!(
        text.contains("immutable field spec.clusterIPs[0]") && text.contains("force"),
        "{text}"
    );
    let selector_only: Vec<_> = deployment("two")
        .into_iter()
        .filter(|o| o.id().kind == "Deployment")
        .collect();
    let err = applier
        .apply(&selector_only, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("immutable field spec.selector"),
        "{err}"
    );

    let changes = applier
        .apply(
            &deployment("two"),
            &ApplyOptions::default().with_force(true),
        )
        .await
        .unwrap();
    assert_eq!(changes.count(Action::Configured), 3, "{changes:?}");
    let now = live(
        applier.client(),
        "apps/v1",
        "Deployment",
        "deployments",
        Some(&ns),
        "web",
    )
    .await
    .unwrap();
    assert_ne!(now["metadata"]["uid"], old_uid);
    assert_eq!(now["spec"]["selector"]["matchLabels"]["app"], "two");
    let job = live(
        applier.client(),
        "batch/v1",
        "Job",
        "jobs",
        Some(&ns),
        "migrate",
    )
    .await
    .unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:two"
    );
}

#[tokio::test]
async fn conflicts_with_another_apply_manager_are_reported_or_forced() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (applier, _) = applier(kube, KubeApplierOptions::default()).await;
    let other = PatchParams::apply("other-tool");
    kube::Api::<ConfigMap>::namespaced(applier.client().clone(), &ns)
        .patch(
            "shared",
            &other,
            &Patch::Apply(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "shared"}, "data": {"owner": "other"}})),
        )
        .await
        .unwrap();
    let objs = objects(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: {ns}}\ndata: {owner: us}\n",
    );
    let err = applier
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::Conflict {
            manager, fields, ..
        } => {
            assert_eq!(manager, "other-tool");
            assert_eq!(fields, &[".data.owner".to_owned()]);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let changes = applier
        .apply(&objs, &ApplyOptions::default().with_force(true))
        .await
        .unwrap();
    assert_eq!(changes.count(Action::Configured), 1);
}

#[tokio::test]
async fn unknown_kinds_and_invalid_objects_are_named() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (applier, _) = applier(kube, KubeApplierOptions::default()).await;
    let objs = objects(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first, namespace: {ns}}\n---\n\
         apiVersion: nope.example.com/v1\nkind: Gadget\nmetadata: {name: g, namespace: {ns}}\n",
    );
    let err = applier
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownKind { .. }), "{err:?}");
    assert!(
        err.to_string().contains("nope.example.com/v1/Gadget"),
        "{err}"
    );
    assert!(
        live(
            applier.client(),
            "v1",
            "ConfigMap",
            "configmaps",
            Some(&ns),
            "first"
        )
        .await
        .is_none(),
        "nothing is written when a kind is unknown"
    );
    assert!(applier.diff(&objs).await.is_err());

    let invalid = objects(
        &ns,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad, namespace: {ns}}\nspec: {template: {}}\n",
    );
    let err = applier
        .apply(&invalid, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    assert!(err.to_string().contains("spec.selector"), "{err}");
    assert!(!err.is_transient());

    // A field the schema does not know is the object's fault, named by the server.
    let unknown_field = objects(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: odd, namespace: {ns}}\nspec: {x: 1}\n",
    );
    let err = applier
        .apply(&unknown_field, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    assert!(err.to_string().contains(".spec"), "{err}");
}

#[tokio::test]
async fn target_namespace_defaults_only_namespaced_objects() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (applier, _) = applier(kube, KubeApplierOptions::default()).await;
    let objs = objects(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: {ns}-reader}\nrules: []\n",
    );
    let changes = applier
        .apply(
            &objs,
            &ApplyOptions::default().with_target_namespace(ns.clone()),
        )
        .await
        .unwrap();
    let ids: Vec<String> = changes.changes.iter().map(|c| c.id.to_string()).collect();
    assert!(ids.contains(&format!("ConfigMap/{ns}/plain")), "{ids:?}");
    assert!(
        ids.contains(&format!(
            "ClusterRole.rbac.authorization.k8s.io/{ns}-reader"
        )),
        "{ids:?}"
    );
    assert!(
        live(
            applier.client(),
            "v1",
            "ConfigMap",
            "configmaps",
            Some(&ns),
            "plain"
        )
        .await
        .is_some()
    );
}

#[tokio::test]
async fn impersonated_service_account_is_bound_by_rbac() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (admin, _) = applier(kube, KubeApplierOptions::default()).await;
    let connect = gitops_kube::ConnectOptions::default()
        .with_impersonate(gitops_kube::ServiceAccount::new(&ns, "deployer"))
        .with_read_timeout(Duration::from_secs(10));
    let client = gitops_kube::client_from_config(kube.config().await.unwrap(), &connect).unwrap();
    let deployer = gitops_kube::KubeApplier::new(client);
    let objs = objects(
        &ns,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: {ns}}\ndata: {a: b}\n",
    );

    let err = deployer
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("system:serviceaccount:{ns}:deployer")),
        "{err}"
    );

    let rbac = objects(
        &ns,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: {ns}}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list, create, patch, update, delete]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: {ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects: [{kind: ServiceAccount, name: deployer, namespace: {ns}}]
"#,
    );
    admin.apply(&rbac, &ApplyOptions::default()).await.unwrap();
    // The API server's RBAC authorizer learns of new bindings through its informer cache, a
    // moment after they are stored: retry the forbidden apply for a bounded time.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let changes = loop {
        match deployer.apply(&objs, &ApplyOptions::default()).await {
            Err(Error::Forbidden { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(changes.count(Action::Created), 1);
    let cm = live(
        admin.client(),
        "v1",
        "ConfigMap",
        "configmaps",
        Some(&ns),
        "c",
    )
    .await
    .unwrap();
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["gitops-rs"]);
}

/// Backends without discovery (renderers, the directory applier, the reconciler's fallback)
/// decide scope from gitops-core's table of built-in cluster-scoped kinds: it must agree with
/// what a real API server serves, or a namespace lands on a cluster-scoped object.
#[tokio::test]
async fn the_built_in_scope_table_agrees_with_the_api_server() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let client = kube.client().await;
    let discovery = kube::discovery::Discovery::new(client)
        .run()
        .await
        .expect("discovery");
    let mut disagreements = Vec::new();
    let mut checked = 0;
    for group in discovery.groups() {
        let name = group.name();
        if !(name.is_empty() || name.ends_with(".k8s.io") || !name.contains('.')) {
            continue;
        }
        for (resource, caps) in group.recommended_resources() {
            if resource.plural.contains('/') {
                continue;
            }
            checked += 1;
            let cluster = caps.scope == kube::discovery::Scope::Cluster;
            if gitops_core::object::is_cluster_scoped_kind(&resource.group, &resource.kind)
                != cluster
            {
                disagreements.push(format!(
                    "{}/{} served as {}",
                    resource.group,
                    resource.kind,
                    if cluster {
                        "cluster-scoped"
                    } else {
                        "namespaced"
                    }
                ));
            }
        }
    }
    assert!(checked > 40, "only {checked} built-in kinds served");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

/// Applies `objs` until a pass sends no request at all (the watches have synced), at most 10 s;
/// returns how many requests the passes sent, pass by pass.
async fn passes_until_silent(
    applier: &gitops_kube::KubeApplier,
    counter: &gitops_kube::RequestCounter,
    objs: &[gitops_core::Object],
    options: &ApplyOptions,
) -> Vec<u64> {
    let mut costs = Vec::new();
    for _ in 0..100 {
        counter.take();
        applier
            .apply(objs, options)
            .await
            .expect("a pass of the same objects applies");
        let cost = counter.take();
        costs.push(cost);
        if cost == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    costs
}

#[tokio::test]
async fn watched_owned_objects_make_a_noop_pass_read_nothing_and_edits_are_still_corrected() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let objs = objects(
        &ns,
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: one, namespace: {ns}}
data: {level: info}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: two, namespace: {ns}}
data: {level: info}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: worker, namespace: {ns}}
"#,
    );
    let owner = gitops_core::apply::Owner::of(&ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some("flux-system"),
        "app",
    ));
    let options = ApplyOptions::default().with_owner(owner);
    let (applier, counter) =
        applier(kube, KubeApplierOptions::default().with_watch_owned(true)).await;
    let changes = applier.apply(&objs, &options).await.unwrap();
    assert_eq!(changes.count(Action::Created), 3, "{changes:?}");

    // Once the watches have synced, a pass on unchanged objects sends nothing.
    let costs = passes_until_silent(&applier, &counter, &objs, &options).await;
    assert_eq!(costs.last(), Some(&0), "requests per pass: {costs:?}");
    counter.take();
    let again = applier.apply(&objs, &options).await.unwrap();
    assert_eq!(again.count(Action::Unchanged), 3, "{again:?}");
    assert_eq!(counter.take(), 0, "a no-op pass reads from the watches");

    // A hand edit reaches the watch and the next passes put Git's value back.
    let configmaps = kube::Api::<ConfigMap>::namespaced(applier.client().clone(), &ns);
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    configmaps
        .patch(
            "one",
            &edit,
            &Patch::Merge(serde_json::json!({"data": {"level": "debug"}})),
        )
        .await
        .unwrap();
    let mut corrected = false;
    for _ in 0..50 {
        let changes = applier.apply(&objs, &options).await.unwrap();
        if changes.count(Action::Configured) == 1 {
            corrected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(corrected, "the edit was never seen");
    let live = configmaps.get("one").await.unwrap();
    assert_eq!(live.data.unwrap()["level"], "info");

    // An object deleted by hand is created again.
    configmaps.delete("two", &Default::default()).await.unwrap();
    let mut recreated = false;
    for _ in 0..50 {
        let changes = applier.apply(&objs, &options).await.unwrap();
        if changes.count(Action::Created) == 1 {
            recreated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recreated, "the deletion was never seen");
    assert!(configmaps.get_opt("two").await.unwrap().is_some());
    let costs = passes_until_silent(&applier, &counter, &objs, &options).await;
    assert_eq!(costs.last(), Some(&0), "requests per pass: {costs:?}");
}
