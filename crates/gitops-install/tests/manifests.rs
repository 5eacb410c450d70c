//! The installation's objects, without a cluster: what `gitops install --export` prints.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use gitops_core::Object;
use gitops_install::{
    CONTROLLER, Component, Error, InstallOptions, PART_OF, ReconcileRights, export, manifests, rbac,
};
use serde_json::Value;

fn by_kind<'a>(objects: &'a [Object], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| o.id().kind == kind)
        .map(Object::value)
        .collect()
}

#[test]
fn the_controllers_objects_as_exported() {
    // CRDs are Flux's schemas, tested with gitops-flux; the rest is ours and reviewed here.
    let objects: Vec<Object> = manifests(&InstallOptions::default())
        .unwrap()
        .into_iter()
        .filter(|o| o.id().kind != "CustomResourceDefinition")
        .collect();
    insta::assert_snapshot!(gitops_core::object::to_yaml(&objects).unwrap());
}

#[test]
fn every_object_is_labelled_and_in_apply_order() {
    let objects = manifests(&InstallOptions::default()).unwrap();
    assert_eq!(
        by_kind(&objects, "CustomResourceDefinition").len(),
        gitops_flux::crds::FILES.len()
    );
    for object in &objects {
        assert_eq!(
            object.value()["metadata"]["labels"][PART_OF.0],
            PART_OF.1,
            "{}",
            object.id()
        );
    }
    let ranks: Vec<u8> = objects
        .iter()
        .map(|o| gitops_core::apply::apply_rank(o.id()))
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
    // The export is the same objects, as YAML.
    let text = export(&InstallOptions::default()).unwrap();
    let parsed = gitops_core::object::parse_yaml("export", &text).unwrap();
    assert_eq!(parsed.len(), objects.len());
    assert!(
        parsed
            .iter()
            .zip(&objects)
            .all(|(a, b)| a.value() == b.value())
    );
}

#[test]
fn the_namespace_option_reaches_every_namespaced_object_and_subject() {
    let options = InstallOptions {
        namespace: "gitops".into(),
        ..InstallOptions::default()
    };
    let objects = manifests(&options).unwrap();
    for object in &objects {
        if let Some(ns) = &object.id().namespace {
            assert_eq!(ns, "gitops", "{}", object.id());
        }
        for subject in object.value()["subjects"].as_array().into_iter().flatten() {
            assert_eq!(subject["namespace"], "gitops");
        }
    }
    let deployment = by_kind(&objects, "Deployment")[0];
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--lease-namespace=gitops"),
        "{args}"
    );
}

#[test]
fn the_deployment_is_hardened() {
    let options = InstallOptions {
        image: "registry.example/gitops-controller:v9".into(),
        ..InstallOptions::default()
    };
    let objects = manifests(&options).unwrap();
    let pod = &by_kind(&objects, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], CONTROLLER);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/gitops-controller:v9");
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert!(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--log-encoding=json")
    );
}

/// Whether any rule grants `verb` on `resource` of `group`.
fn grants(rules: &Value, group: &str, resource: &str, verb: &str) -> bool {
    rules.as_array().unwrap().iter().any(|rule| {
        let has = |field: &str, want: &str| {
            rule[field]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == want || v == "*")
        };
        has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
    })
}

#[test]
fn default_rights_exclude_cluster_wide_rbac_crds_and_webhooks() {
    for rules in [rbac::controller_rules(), rbac::reconciler_rules()] {
        for (group, resource) in [
            ("rbac.authorization.k8s.io", "clusterroles"),
            ("rbac.authorization.k8s.io", "clusterrolebindings"),
            ("apiextensions.k8s.io", "customresourcedefinitions"),
            (
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
            ),
            ("", "nodes"),
        ] {
            for verb in ["create", "update", "patch", "delete"] {
                assert!(
                    !grants(&rules, group, resource, verb),
                    "{verb} {group}/{resource}"
                );
            }
        }
        for verb in ["escalate", "bind", "impersonate"] {
            assert!(
                !grants(&rules, "rbac.authorization.k8s.io", "roles", verb),
                "{verb}"
            );
        }
    }
    // What the sample repository needs.
    let reconciler = rbac::reconciler_rules();
    for (group, resource) in [
        ("", "namespaces"),
        ("", "secrets"),
        ("", "resourcequotas"),
        ("", "services"),
        ("apps", "deployments"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("kustomize.toolkit.fluxcd.io", "kustomizations"),
    ] {
        assert!(
            grants(&reconciler, group, resource, "create"),
            "{group}/{resource}"
        );
        assert!(
            grants(&reconciler, group, resource, "delete"),
            "prune {group}/{resource}"
        );
    }
}

#[test]
fn cluster_admin_rights_bind_the_builtin_role_instead() {
    let options = InstallOptions {
        rights: ReconcileRights::ClusterAdmin,
        ..InstallOptions::default()
    };
    let objects = manifests(&options).unwrap();
    let roles = by_kind(&objects, "ClusterRole");
    assert!(
        roles
            .iter()
            .all(|r| r["metadata"]["name"] != rbac::RECONCILER)
    );
    let bindings = by_kind(&objects, "ClusterRoleBinding");
    let reconciler = bindings
        .iter()
        .find(|b| b["metadata"]["name"] == rbac::RECONCILER)
        .unwrap();
    assert_eq!(reconciler["roleRef"]["name"], "cluster-admin");
}

#[test]
fn bad_options_are_refused_with_the_value() {
    for namespace in ["", "Flux", "-a", "a_b", &"x".repeat(64)] {
        let options = InstallOptions {
            namespace: namespace.into(),
            ..InstallOptions::default()
        };
        let error = manifests(&options).unwrap_err();
        assert!(matches!(error, Error::Option(_)), "{namespace:?}");
        assert!(error.to_string().contains("namespace"), "{error}");
    }
    let options = InstallOptions {
        image: "has space".into(),
        ..InstallOptions::default()
    };
    assert!(matches!(manifests(&options), Err(Error::Option(_))));
}

#[test]
fn components_choose_the_crds() {
    let crds = |components: &[Component]| -> Vec<String> {
        let options = InstallOptions {
            components: components.to_vec(),
            ..InstallOptions::default()
        };
        manifests(&options)
            .unwrap()
            .iter()
            .filter(|o| o.id().kind == "CustomResourceDefinition")
            .map(|o| o.id().name.clone())
            .collect()
    };
    assert_eq!(crds(&Component::ALL).len(), gitops_flux::crds::FILES.len());
    assert_eq!(
        crds(&[Component::SourceController, Component::KustomizeController]),
        vec![
            "gitrepositories.source.toolkit.fluxcd.io".to_string(),
            "helmrepositories.source.toolkit.fluxcd.io".to_string(),
            "helmcharts.source.toolkit.fluxcd.io".to_string(),
            "ocirepositories.source.toolkit.fluxcd.io".to_string(),
            "kustomizations.kustomize.toolkit.fluxcd.io".to_string()
        ]
    );
    assert_eq!(
        crds(&[Component::HelmController]),
        vec!["helmreleases.helm.toolkit.fluxcd.io".to_string()]
    );
    assert_eq!(
        crds(&[Component::ImageReflectorController]),
        vec![
            "imagerepositories.image.toolkit.fluxcd.io".to_string(),
            "imagepolicies.image.toolkit.fluxcd.io".to_string()
        ]
    );
    assert_eq!(crds(&[Component::ImageAutomationController]).len(), 1);
    assert_eq!(crds(&[Component::NotificationController]).len(), 3);
    let none = InstallOptions {
        components: Vec::new(),
        ..InstallOptions::default()
    };
    assert!(matches!(manifests(&none), Err(Error::Option(_))));
}
