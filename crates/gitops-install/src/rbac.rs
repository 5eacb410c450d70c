//! The controller's rights, split in two so each can be read on its own:
//!
//! - [`controller_rules`]: what the controller needs to run at all — read and update Flux's
//!   objects and their status, read the Secrets and ConfigMaps they name, record events, act
//!   as a tenant's ServiceAccount, hold its Lease (a Role in its own namespace only).
//! - [`reconciler_rules`]: what it may apply and prune for Kustomizations — namespaced workloads
//!   and their configuration, namespaces, and Flux's kinds — or `cluster-admin` when asked
//!   ([`ReconcileRights::ClusterAdmin`], Flux's own default).
//!
//! Nothing here lets the controller change cluster-wide RBAC, CRDs, nodes or admission
//! webhooks under the default rights: a repository that holds such objects fails with the API
//! server's `forbidden` in its Kustomization's condition.

use serde_json::{Value, json};

use crate::{CONTROLLER, InstallOptions, ReconcileRights};

/// The name of the ClusterRole (and binding) of [`reconciler_rules`].
pub const RECONCILER: &str = "gitops-reconciler";

/// The API groups of Flux's kinds.
pub const TOOLKIT_GROUPS: [&str; 5] = [
    "source.toolkit.fluxcd.io",
    "kustomize.toolkit.fluxcd.io",
    "helm.toolkit.fluxcd.io",
    "image.toolkit.fluxcd.io",
    "notification.toolkit.fluxcd.io",
];

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// The rules the controller runs with, whatever it reconciles.
pub fn controller_rules() -> Value {
    json!([
        // Its own kinds: watch them, write their status and finalizers, and set the
        // `requestedAt` annotation a Receiver asks for.
        {"apiGroups": TOOLKIT_GROUPS, "resources": ["*"],
         "verbs": ["get", "list", "watch", "patch", "update"]},
        // Git and registry credentials, SOPS keys, `postBuild.substituteFrom`, provider tokens.
        {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": READ},
        // Events on the objects it reconciles (`gitops events`, `kubectl events`).
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
         "verbs": ["create", "patch", "update"]},
        // Acting as a Kustomization's `serviceAccountName` (or `--default-service-account`):
        // service accounts only, never users or groups, so `system:masters` stays out of
        // reach; the API server adds the account's groups itself.
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
        // Waiting for CRDs a repository brings to be established.
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
         "verbs": READ},
    ])
}

/// The rules for what Kustomizations apply and prune under [`ReconcileRights::Namespaced`].
pub fn reconciler_rules() -> Value {
    json!([
        {"apiGroups": [""], "verbs": WRITE, "resources": [
            "namespaces", "configmaps", "secrets", "services", "serviceaccounts",
            "persistentvolumeclaims", "resourcequotas", "limitranges"]},
        // Health checks look at the Pods of what they wait for; nothing creates Pods directly.
        {"apiGroups": [""], "resources": ["pods"], "verbs": READ},
        {"apiGroups": ["apps"], "verbs": WRITE,
         "resources": ["deployments", "statefulsets", "daemonsets"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": READ},
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": WRITE},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": WRITE},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": WRITE},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"],
         "verbs": WRITE},
        // Namespaced RBAC only; the API server still refuses a Role that grants more than
        // these rules (no `escalate` or `bind`).
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
         "verbs": WRITE},
        // Kustomizations that apply Flux's objects (the sample's clusters/ folder).
        {"apiGroups": TOOLKIT_GROUPS, "resources": ["*"], "verbs": WRITE},
    ])
}

/// The ServiceAccount, ClusterRoles, bindings and the Lease Role of an installation.
pub fn objects(options: &InstallOptions) -> Vec<Value> {
    let ns = options.namespace.as_str();
    let subject = json!([{"kind": "ServiceAccount", "name": CONTROLLER, "namespace": ns}]);
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": CONTROLLER, "namespace": ns}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": CONTROLLER}, "rules": controller_rules()}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": CONTROLLER},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": CONTROLLER},
               "subjects": subject}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": CONTROLLER, "namespace": ns},
               "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                          "verbs": ["get", "list", "watch", "create", "update", "patch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": CONTROLLER, "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": CONTROLLER},
               "subjects": subject}),
    ];
    let granted = match options.rights {
        ReconcileRights::Namespaced => {
            objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1",
                                "kind": "ClusterRole", "metadata": {"name": RECONCILER},
                                "rules": reconciler_rules()}));
            RECONCILER
        }
        ReconcileRights::ClusterAdmin => "cluster-admin",
    };
    if options.bootstrap {
        let account = crate::bootstrap::BOOTSTRAP_ACCOUNT;
        objects.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                            "metadata": {"name": account, "namespace": ns}}));
        objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1",
                            "kind": "ClusterRoleBinding", "metadata": {"name": account},
                            "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                        "kind": "ClusterRole", "name": "cluster-admin"},
                            "subjects": [{"kind": "ServiceAccount", "name": account,
                                          "namespace": ns}]}));
    }
    objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "ClusterRoleBinding", "metadata": {"name": RECONCILER},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                    "kind": "ClusterRole", "name": granted},
                        "subjects": subject}));
    objects
}
