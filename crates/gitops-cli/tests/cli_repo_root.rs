//! `gitops build`, `diff` and `apply` on the usual repository layout: `clusters/<name>` whose
//! kustomization refers to `../../apps/...`. The root reads are bounded to is the enclosing Git
//! work tree (made here by the real `git init`), or `--root`; reads out of it stay refused.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::Api;
use kube::api::DynamicObject;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn gitops(args: &[&Path]) -> Run {
    let output = support::gitops()
        .args(args)
        .current_dir(support::workspace_root())
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `repo/` with `clusters/prod` → `../../apps/web` (a Deployment and a ConfigMap), as `flux
/// bootstrap` lays a repository out; a real work tree when `git` is true.
fn repository(base: &Path, git: bool) -> PathBuf {
    let repo = base.join("repo");
    write(
        &repo.join("apps/web/kustomization.yaml"),
        "resources:\n- deployment.yaml\nconfigMapGenerator:\n- name: web\n  literals:\n  - color=blue\n",
    );
    write(
        &repo.join("apps/web/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n",
    );
    write(
        &repo.join("clusters/prod/kustomization.yaml"),
        "namespace: prod\nresources:\n- ../../apps/web\n",
    );
    if git {
        let status = Command::new("git")
            .args(["init", "--quiet"])
            .arg(&repo)
            .status()
            .unwrap();
        assert!(status.success());
    }
    repo
}

/// What kubectl builds from `dir`, the reference for what our commands render.
fn kubectl_kustomize(dir: &Path) -> Option<String> {
    let output = Command::new("kubectl")
        .args(["kustomize"])
        .arg(dir)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "kubectl kustomize {}",
        dir.display()
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

#[test]
fn diff_and_apply_render_a_cluster_path_that_refers_to_apps_in_the_work_tree() {
    let base = tempfile::tempdir().unwrap();
    let repo = repository(base.path(), true);
    let cluster = repo.join("clusters/prod");
    let out = base.path().join("out");

    // `reconcile local` takes the root and the path apart, so it has always built this layout.
    let reconciled = gitops(&[
        p("reconcile"),
        p("local"),
        &repo,
        p("--path"),
        p("clusters/prod"),
        p("--out"),
        &out,
    ]);
    assert_eq!(reconciled.code, Some(0), "{reconciled}");

    let diff = gitops(&[p("diff"), &cluster, p("--out"), &out]);
    assert_eq!(
        diff.code,
        Some(0),
        "in sync with what reconcile wrote: {diff}"
    );

    // A change in apps/ shows through the cluster path, and `apply --out` writes it.
    let deployment = repo.join("apps/web/deployment.yaml");
    let text = std::fs::read_to_string(&deployment).unwrap();
    std::fs::write(&deployment, text.replace("nginx:1.27", "nginx:1.28")).unwrap();
    let diff = gitops(&[p("diff"), &cluster, p("--out"), &out]);
    assert_eq!(diff.code, Some(1), "{diff}");
    assert!(diff.stdout.contains("Deployment"), "{diff}");

    let apply = gitops(&[p("apply"), &cluster, p("--out"), &out]);
    assert_eq!(apply.code, Some(0), "{apply}");
    let diff = gitops(&[p("diff"), &cluster, p("--out"), &out]);
    assert_eq!(diff.code, Some(0), "apply wrote the change: {diff}");

    // `build` from a subdirectory of the work tree prints what kubectl prints.
    let build = gitops(&[p("build"), &cluster]);
    assert_eq!(build.code, Some(0), "{build}");
    if let Some(expected) = kubectl_kustomize(&cluster) {
        assert_eq!(build.stdout, expected);
    }
}

#[test]
fn root_flag_widens_a_folder_outside_any_work_tree() {
    let base = tempfile::tempdir().unwrap();
    let repo = repository(base.path(), false);
    let cluster = repo.join("clusters/prod");
    let out = base.path().join("out");

    // Not in a work tree: DIR itself is the root, and the error says which root and how to widen.
    let refused = gitops(&[p("apply"), &cluster, p("--out"), &out]);
    assert_eq!(refused.code, Some(2), "{refused}");
    assert!(
        refused.stderr.contains("escapes the repository root") && refused.stderr.contains("--root"),
        "{refused}"
    );
    let refused = gitops(&[p("diff"), &cluster, p("--out"), &out]);
    assert_eq!(refused.code, Some(2), "{refused}");
    assert!(refused.stderr.contains("--root"), "{refused}");

    let apply = gitops(&[p("apply"), &cluster, p("--root"), &repo, p("--out"), &out]);
    assert_eq!(apply.code, Some(0), "{apply}");
    assert!(apply.stdout.contains("Deployment"), "{apply}");
    let diff = gitops(&[p("diff"), &cluster, p("--root"), &repo, p("--out"), &out]);
    assert_eq!(diff.code, Some(0), "{diff}");
}

#[test]
fn reads_out_of_the_root_stay_refused_with_the_path_and_the_root() {
    let base = tempfile::tempdir().unwrap();
    let repo = repository(base.path(), true);
    // A folder beside the work tree, and a cluster that reaches for it.
    write(
        &base.path().join("outside/kustomization.yaml"),
        "resources:\n- cm.yaml\n",
    );
    write(
        &base.path().join("outside/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n",
    );
    let cluster = repo.join("clusters/leaky");
    write(
        &cluster.join("kustomization.yaml"),
        "resources:\n- ../../apps/web\n- ../../../outside\n",
    );
    let out = base.path().join("out");
    for command in ["apply", "diff"] {
        let run = gitops(&[p(command), &cluster, p("--out"), &out]);
        assert_eq!(run.code, Some(2), "{command}: {run}");
        assert!(
            run.stderr.contains("escapes the repository root")
                && run.stderr.contains("../../../outside")
                && run.stderr.contains("enclosing Git work tree"),
            "{command}: {run}"
        );
    }
    assert!(!out.join("default").exists(), "nothing written");
    // `build` follows the same rule in a work tree.
    let build = gitops(&[p("build"), &cluster]);
    assert_eq!(build.code, Some(2), "{build}");
    assert!(
        build.stderr.contains("escapes the repository root"),
        "{build}"
    );

    // DIR itself outside --root.
    let run = gitops(&[
        p("diff"),
        &base.path().join("outside"),
        p("--root"),
        &repo,
        p("--out"),
        &out,
    ]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(
        run.stderr.contains("is outside the repository root"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_on_a_cluster_renders_the_cluster_path_in_the_work_tree() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let client = kube.client().await;
    let ns = kube.namespace_with_prefix("root").await;
    let base = tempfile::tempdir().unwrap();
    let repo = repository(base.path(), true);
    let cluster = repo.join("clusters/prod");
    let kustomization = cluster.join("kustomization.yaml");
    std::fs::write(
        &kustomization,
        format!("namespace: {ns}\nresources:\n- ../../apps/web\n"),
    )
    .unwrap();

    let kubeconfig = kube.kubeconfig_path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || {
        gitops(&[p("apply"), &cluster, p("--kubeconfig"), &kubeconfig])
    })
    .await
    .unwrap();
    assert_eq!(run.code, Some(0), "{run}");

    let deployments: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
    );
    let web = deployments.get("web").await.unwrap();
    let image = web.data["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(image, "nginx:1.27");
}

/// The work tree of a real repository holds more than manifests (build outputs, links to the
/// machine's folders): `apply` digests the files under DIR for its revision, not the whole tree.
#[test]
fn apply_does_not_walk_the_rest_of_the_work_tree() {
    let base = tempfile::tempdir().unwrap();
    let repo = repository(base.path(), true);
    std::os::unix::fs::symlink("/etc", repo.join("elsewhere")).unwrap();
    let cluster = repo.join("clusters/prod");
    let out = base.path().join("out");
    let apply = gitops(&[p("apply"), &cluster, p("--out"), &out]);
    assert_eq!(apply.code, Some(0), "{apply}");
    let diff = gitops(&[p("diff"), &cluster, p("--out"), &out]);
    assert_eq!(diff.code, Some(0), "{diff}");
}
