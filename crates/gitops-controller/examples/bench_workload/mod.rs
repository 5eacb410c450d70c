//! The workload both controller benchmarks push: apps of `objects` objects each (a Namespace,
//! then ConfigMaps, ServiceAccounts, headless Services, Deployments, Roles and RoleBindings dealt
//! out in turn), one directory per app with its own `kustomization.yaml`.

use std::collections::BTreeMap;

/// The kinds after the Namespace, in the order objects are dealt out.
const KINDS: [&str; 6] = [
    "configmaps",
    "serviceaccounts",
    "services",
    "deployments",
    "roles",
    "rolebindings",
];

pub fn app_name(index: usize, apps: usize) -> String {
    let width = (apps.saturating_sub(1)).to_string().len().max(2);
    format!("app-{index:0width$}")
}

/// The files of one app: `namespace.yaml`, one file per kind, `kustomization.yaml`. The first
/// ConfigMap carries `version`, the value a push changes.
pub fn app_files(app: &str, objects: usize, version: u64) -> BTreeMap<String, String> {
    let mut files: BTreeMap<&str, String> = BTreeMap::new();
    files.insert(
        "namespace",
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n"),
    );
    for i in 0..objects.saturating_sub(1) {
        let kind = KINDS[i % KINDS.len()];
        let n = i / KINDS.len();
        let text = match kind {
            "configmaps" => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{n}\n\
                 data:\n  app: {app}\n  version: \"{}\"\n  log-level: info\n",
                if n == 0 { version } else { 0 }
            ),
            "serviceaccounts" => {
                format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: worker-{n}\n")
            }
            // Headless: the test API server has a /24 for cluster IPs.
            "services" => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: web-{n}\n\
                 spec:\n  clusterIP: None\n  selector:\n    app: web-{n}\n\
                 \x20 ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
            ),
            "deployments" => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{n}\n  labels:\n    app: web-{n}\n\
                 spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web-{n}\n\
                 \x20 template:\n    metadata:\n      labels:\n        app: web-{n}\n\
                 \x20   spec:\n      serviceAccountName: worker-{n}\n      containers:\n\
                 \x20     - name: web\n        image: registry.example/{app}/web:1.0.{n}\n\
                 \x20       ports:\n        - containerPort: 8080\n\
                 \x20       resources:\n          requests:\n            cpu: 100m\n            memory: 64Mi\n"
            ),
            "roles" => format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader-{n}\n\
                 rules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, list, watch]\n"
            ),
            _ => format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: reader-{n}\n\
                 roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: reader-{n}\n\
                 subjects:\n- kind: ServiceAccount\n  name: worker-{n}\n  namespace: {app}\n"
            ),
        };
        let file = files.entry(kind).or_default();
        if !file.is_empty() {
            file.push_str("---\n");
        }
        file.push_str(&text);
    }
    let mut kustomization = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for name in files.keys() {
        kustomization.push_str(&format!("- {name}.yaml\n"));
    }
    let mut out: BTreeMap<String, String> = files
        .into_iter()
        .map(|(name, text)| (format!("apps/{app}/{name}.yaml"), text))
        .collect();
    out.insert(format!("apps/{app}/kustomization.yaml"), kustomization);
    out
}

/// Commits `files` on `main` and pushes; returns the revision as Flux writes it.
pub fn push(
    repo: &gitops_testenv::TestRepo,
    files: &BTreeMap<String, String>,
    message: &str,
) -> anyhow::Result<String> {
    let listed: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), Some(text.as_str())))
        .collect();
    let commit = repo.commit("main", &listed, message)?;
    Ok(format!("main@sha1:{commit}"))
}
