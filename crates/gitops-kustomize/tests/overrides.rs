//! Flux's spec overrides against the reference: a build with [`Overrides`] must give the bytes
//! `kubectl kustomize` prints for the kustomization file Flux would write (the directory's file
//! with the spec's fields merged in), written out here by hand.

use std::path::Path;
use std::process::Command;

use gitops_kustomize::{BuildOptions, Overrides, build_to_string};
use serde_json::json;

fn kubectl_available() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var("GITOPS_TESTENV_REQUIRED").as_deref() == Ok("1") {
        panic!("kubectl is required (GITOPS_TESTENV_REQUIRED=1) but not found");
    }
    found
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: registry.example.com/api:1.0.0
      - name: sidecar
        image: registry.example.com/proxy:3.1
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  type: ClusterIP
  selector: {app: api}
  ports:
  - port: 80
";

const ROLE_BINDING: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: api
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: api}
subjects:
- {kind: ServiceAccount, name: api, namespace: default}
";

const COMPONENT: &str = "\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
commonLabels:
  tier: backend
";

/// The tree both builds read, plus the kustomization file of the directory.
fn tree(root: &Path, kustomization: &str) {
    write(root, "app/deployment.yaml", DEPLOYMENT);
    write(root, "app/service.yaml", SERVICE);
    write(root, "app/rolebinding.yaml", ROLE_BINDING);
    write(root, "app/components/backend/kustomization.yaml", COMPONENT);
    write(root, "app/kustomization.yaml", kustomization);
}

fn overrides() -> Overrides {
    let mut o = Overrides::default();
    o.namespace = Some("team-a".into());
    o.name_prefix = Some("prod-".into());
    o.patches = vec![json!({
        "patch": "- op: replace\n  path: /spec/replicas\n  value: 3\n",
        "target": {"kind": "Deployment", "name": "api"},
    })];
    o.patches_strategic_merge = vec![json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
        "spec": {"type": "NodePort"},
    })];
    o.patches_json6902 = vec![json!({
        "target": {"version": "v1", "kind": "Service", "name": "api"},
        "patch": [{"op": "add", "path": "/metadata/annotations", "value": {"team": "a"}}],
    })];
    o.images = vec![
        json!({"name": "registry.example.com/api", "newTag": "2.0.0"}),
        json!({"name": "registry.example.com/proxy", "digest": "sha256:0d4c4a1e5f2b6b1f3c9e0c4f4b0b1b6a2a1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e"}),
    ];
    o.components = vec!["components/backend".into(), "components/missing".into()];
    o.ignore_missing_components = true;
    o
}

#[test]
fn overrides_build_what_kubectl_builds_from_the_file_flux_writes() {
    if !kubectl_available() {
        eprintln!("skipping: kubectl not found");
        return;
    }
    // The directory's own file: an image entry the spec replaces, and a patch of its own.
    let own = "\
resources:
- deployment.yaml
- service.yaml
- rolebinding.yaml
images:
- name: registry.example.com/api
  newName: mirror.example.com/api
  newTag: 1.5.0
patches:
- target: {kind: Deployment}
  patch: |-
    - op: add
      path: /metadata/labels
      value: {owner: platform}
";
    // What Flux writes: namespace and prefix set, lists appended, the api image replaced whole
    // (its newName is gone), the missing component left out.
    let merged = r#"
resources:
- deployment.yaml
- service.yaml
- rolebinding.yaml
namespace: team-a
namePrefix: prod-
images:
- name: registry.example.com/api
  newTag: 2.0.0
- name: registry.example.com/proxy
  digest: sha256:0d4c4a1e5f2b6b1f3c9e0c4f4b0b1b6a2a1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e
patches:
- target: {kind: Deployment}
  patch: |-
    - op: add
      path: /metadata/labels
      value: {owner: platform}
- target: {kind: Deployment, name: api}
  patch: |
    - op: replace
      path: /spec/replicas
      value: 3
patchesStrategicMerge:
- '{"apiVersion":"v1","kind":"Service","metadata":{"name":"api"},"spec":{"type":"NodePort"}}'
patchesJson6902:
- target: {version: v1, kind: Service, name: api}
  patch: '[{"op":"add","path":"/metadata/annotations","value":{"team":"a"}}]'
components:
- components/backend
"#;
    let ours_dir = tempfile::tempdir().expect("tempdir");
    tree(ours_dir.path(), own);
    let reference_dir = tempfile::tempdir().expect("tempdir");
    tree(reference_dir.path(), merged);

    let reference = Command::new("kubectl")
        .arg("kustomize")
        .arg(reference_dir.path().join("app"))
        .output()
        .expect("kubectl runs");
    assert!(
        reference.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&reference.stderr)
    );
    let expected = String::from_utf8(reference.stdout).expect("UTF-8");
    let options = BuildOptions::default().with_overrides(overrides());
    let ours = build_to_string(ours_dir.path().join("app"), &options).expect("our build");
    assert_eq!(ours, expected);

    // The outcome a user wants, not only equality: every override took effect.
    for wanted in [
        "name: prod-api",
        "namespace: team-a",
        "replicas: 3",
        "type: NodePort",
        "team: a",
        "tier: backend",
        "owner: platform",
        "image: registry.example.com/api:2.0.0",
        "image: registry.example.com/proxy@sha256:0d4c",
    ] {
        assert!(ours.contains(wanted), "{wanted:?} missing from\n{ours}");
    }
    assert!(!ours.contains("mirror.example.com"), "{ours}");
}

#[test]
fn overrides_reach_a_generated_kustomization_and_bad_ones_name_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "plain/service.yaml", SERVICE);
    // The directory has no kustomization file: Flux generates one, and the spec still applies.
    let build = |overrides: Overrides| {
        let options = BuildOptions::default()
            .with_generate_missing_kustomization(true)
            .with_overrides(overrides);
        build_to_string(dir.path().join("plain"), &options)
    };

    let mut renamed = Overrides::default();
    renamed.namespace = Some("team-b".into());
    renamed.name_suffix = Some("-v2".into());
    let text = build(renamed).expect("build");
    assert!(text.contains("name: api-v2\n  namespace: team-b"), "{text}");

    let mut bad = Overrides::default();
    bad.images = vec![json!({"name": "api", "newTag": ["not", "a", "tag"]})];
    let error = build(bad).expect_err("a list is not a tag");
    assert!(error.to_string().contains("images[0].newTag"), "{error}");

    let mut missing = Overrides::default();
    missing.components = vec!["components/none".into()];
    let error = build(missing).expect_err("a missing component fails unless ignored");
    assert!(error.to_string().contains("components/none"), "{error}");
}
