//! `gitops bootstrap git` against the test Git server and API server: the repository gets the
//! files, the cluster the objects, a second run changes nothing, and the controller (run with
//! the installed ServiceAccount's token) then manages itself from Git: a commit that changes
//! the install manifests is applied to its own Deployment.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gitops_flux::{GitRepository, Kustomization};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

mod support;

fn git(args: &[&str], dir: &Path) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The controller's `RUST_LOG` in its Deployment.
fn log_level(deployment: &Deployment) -> Option<String> {
    let pod = deployment.spec.template.spec.as_ref()?;
    pod.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == "RUST_LOG")?
        .value
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_commits_applies_once_and_the_controller_manages_itself() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git_env) = gitops_testenv::require_git() else {
        return;
    };
    let admin = kube_env.client().await;
    let repo = git_env.create_repo("fleet").unwrap();
    let files = support::sample_files();
    let listed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    repo.commit_files("main", &listed, "the fleet").unwrap();
    let bare = repo.bare_path().to_path_buf();
    let head = || {
        git(
            &[
                "--git-dir",
                &bare.display().to_string(),
                "rev-parse",
                "main",
            ],
            Path::new("."),
        )
    };

    let bootstrap = || {
        let out = support::cli()
            .args([
                "bootstrap",
                "git",
                "--url",
                &repo.http_url(),
                "--branch",
                "main",
            ])
            .args([
                "--path",
                "clusters/vps",
                "--allow-insecure-http",
                "--no-wait",
            ])
            .args([
                "--username",
                git_env.http_username(),
                "--password",
                git_env.http_password(),
            ])
            .arg("--kubeconfig")
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

    // 1. The first run commits the three files and applies the installation and the sync.
    let before = head();
    let printed = bootstrap();
    assert!(printed.contains("committed "), "{printed}");
    let bootstrapped = head();
    assert_ne!(before, bootstrapped);
    let show = |path: &str| {
        git(
            &[
                "--git-dir",
                &bare.display().to_string(),
                "show",
                &format!("main:{path}"),
            ],
            Path::new("."),
        )
    };
    let sync = show("clusters/vps/flux-system/gotk-sync.yaml");
    assert!(
        sync.contains(&repo.http_url()) && sync.contains("path: ./clusters/vps"),
        "{sync}"
    );
    assert!(show("clusters/vps/flux-system/gotk-components.yaml").contains("kind: Deployment"));
    assert!(show("clusters/vps/flux-system/kustomization.yaml").contains("gotk-sync.yaml"));
    let sources: Api<GitRepository> = Api::namespaced(admin.clone(), "flux-system");
    let kustomizations: Api<Kustomization> = Api::namespaced(admin.clone(), "flux-system");
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), "flux-system");
    assert!(sources.get_opt("flux-system").await.unwrap().is_some());
    assert!(
        kustomizations
            .get_opt("flux-system")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        deployments
            .get_opt("gitops-controller")
            .await
            .unwrap()
            .is_some()
    );

    // 2. A second run changes nothing, in Git or in the cluster.
    let printed = bootstrap();
    assert!(printed.contains("repository up to date"), "{printed}");
    assert!(printed.contains(": 0 of "), "{printed}");
    assert_eq!(head(), bootstrapped);

    // 3. The controller, as its installed account, syncs the folder: its own installation and
    //    the sample's Kustomizations, which converge.
    support::create_secrets(
        &admin,
        "flux-system",
        &[("sops-age", json!({"age.agekey": support::sample_age_key()}))],
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let (controller, _) =
        support::start_installed_controller(&admin, kube_env.kubeconfig_path(), work.path(), &[])
            .await;
    let revision = format!("main@sha1:{bootstrapped}");
    support::ready_at(
        &controller,
        &kustomizations,
        &["flux-system", "infra", "security", "apps"],
        &revision,
    )
    .await;
    let deployment = deployments.get("gitops-controller").await.unwrap();
    assert_eq!(log_level(&deployment).as_deref(), Some("info"));

    // 4. A commit that changes the install manifests is applied by the controller to itself.
    let clone = work.path().join("clone");
    git(
        &[
            "clone",
            "-q",
            &bare.display().to_string(),
            &clone.display().to_string(),
        ],
        Path::new("."),
    );
    let components = clone.join("clusters/vps/flux-system/gotk-components.yaml");
    let text = std::fs::read_to_string(&components).unwrap();
    let changed = text.replacen(
        "- name: RUST_LOG\n          value: info",
        "- name: RUST_LOG\n          value: debug",
        1,
    );
    assert_ne!(text, changed, "the manifest has the log level to change");
    std::fs::write(&components, changed).unwrap();
    git(
        &[
            "-c",
            "user.name=ops",
            "-c",
            "user.email=ops@example.org",
            "commit",
            "-qam",
            "debug logs",
        ],
        &clone,
    );
    git(&["push", "-q", "origin", "main"], &clone);
    // Ask for a fetch now rather than waiting for the interval, as a Receiver would.
    sources
        .patch(
            "flux-system",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                gitops_flux::REQUESTED_AT_ANNOTATION: "after-the-commit"}}})),
        )
        .await
        .unwrap();
    support::eventually(
        &controller,
        "the controller to apply its own new manifest",
        Duration::from_secs(120),
        || async {
            let deployment = deployments.get("gitops-controller").await.ok()?;
            (log_level(&deployment).as_deref() == Some("debug")).then_some(())
        },
    )
    .await;
}
