//! The controller's HelmRepository pass end to end: chart repositories made by the real
//! `helm package` and `helm repo index`, served by the test environment's nginx (one behind
//! basic auth), reconciled into a stored index whose digest is the artifact revision, with
//! Flux's Ready condition; a missing index and a document that is not an index fail with
//! `IndexationFailed`; a new chart version moves the revision.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::time::Duration;

use gitops_flux::{FluxObject, HelmRepository};
use gitops_testenv::Process;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use sha2::Digest as _;

mod support;

fn start_controller(kubeconfig: &Path, storage: &Path) -> Process {
    support::start_admin_controller(
        "controller-helmrepository",
        kubeconfig,
        storage,
        "info,kube=warn,gitops_controller::helm_repositories=debug",
    )
}

/// Packages versions of a `demo` chart into `root/folder` and indexes them with `helm`.
fn repository(helm: &Path, root: &Path, folder: &str, versions: &[&str]) {
    let out = root.join(folder);
    std::fs::create_dir_all(&out).unwrap();
    let sources = tempfile::tempdir().unwrap();
    for version in versions {
        let dir = sources.path().join(version);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            format!("apiVersion: v2\nname: demo\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
        )
        .unwrap();
        support::helm_ok(
            helm,
            &[
                "package",
                &dir.display().to_string(),
                "-d",
                &out.display().to_string(),
            ],
        );
    }
    support::helm_ok(helm, &["repo", "index", &out.display().to_string()]);
}

fn digest_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
}

/// The repository once its Ready condition is `status` for its current generation.
async fn settled(
    controller: &Process,
    api: &Api<HelmRepository>,
    name: &str,
    status: &str,
) -> HelmRepository {
    support::settled(controller, api, name, status, Duration::from_secs(60)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_repositories_store_their_index_with_its_digest_as_revision() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(web) = gitops_testenv::require_static() else {
        return;
    };
    let Some(helm) = gitops_testenv::require_helm() else {
        return;
    };
    let client = kube_env.client().await;
    gitops_flux::crds::install(&client).await.unwrap();
    let ns = kube_env.namespace_with_prefix("helmrepo").await;
    let public = format!("{ns}-charts");
    let private = format!("private/{ns}-charts");
    repository(&helm, web.root(), &public, &["0.1.0", "0.2.0"]);
    repository(&helm, web.root(), &private, &["1.0.0"]);
    let garbage = format!("{ns}-garbage");
    std::fs::create_dir_all(web.root().join(&garbage)).unwrap();
    std::fs::write(
        web.root().join(&garbage).join("index.yaml"),
        "<html>a login page</html>\n",
    )
    .unwrap();

    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "creds"},
                "stringData": {"username": web.username(), "password": web.password()}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let api = Api::<HelmRepository>::namespaced(client.clone(), &ns);
    for (name, spec) in [
        (
            "public",
            json!({"url": format!("{}{public}", web.url()), "interval": "1h"}),
        ),
        (
            "private",
            json!({"url": format!("{}{private}/", web.url()), "interval": "1h",
                   "secretRef": {"name": "creds"}}),
        ),
        (
            "unauthorized",
            json!({"url": format!("{}{private}", web.url()), "interval": "1h"}),
        ),
        (
            "missing",
            json!({"url": format!("{}{ns}-nothing-here", web.url()), "interval": "1h"}),
        ),
        (
            "garbage",
            json!({"url": format!("{}{garbage}", web.url()), "interval": "1h"}),
        ),
        (
            "oci",
            json!({"url": "oci://registry.example.com/charts", "type": "oci", "interval": "1h"}),
        ),
        (
            "wrong-scheme",
            json!({"url": "oci://registry.example.com/charts", "interval": "1h"}),
        ),
    ] {
        let object = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": name, "namespace": ns}, "spec": spec
        });
        api.create(
            &PostParams::default(),
            &serde_json::from_value(object).unwrap(),
        )
        .await
        .unwrap();
    }

    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().join("storage");
    let controller = start_controller(kube_env.kubeconfig_path(), &storage_path);

    // The public and private indexes: stored whole, the revision their digest.
    for (name, folder) in [("public", &public), ("private", &private)] {
        let repo = settled(&controller, &api, name, "True").await;
        let served = web.root().join(folder).join("index.yaml");
        let digest = digest_of(&served);
        let status = repo.status.clone().unwrap();
        let artifact = status.artifact.clone().unwrap();
        assert_eq!(artifact.revision, digest, "{name}");
        assert_eq!(artifact.digest.as_deref(), Some(digest.as_str()), "{name}");
        assert_eq!(
            artifact.path,
            format!(
                "helmrepository/{ns}/{name}/index-{}.yaml",
                digest.trim_start_matches("sha256:")
            )
        );
        let stored = storage_path.join(&artifact.path);
        assert_eq!(
            std::fs::read(&stored).unwrap(),
            std::fs::read(&served).unwrap()
        );
        assert_eq!(
            artifact.size,
            Some(std::fs::metadata(&served).unwrap().len())
        );
        assert_eq!(status.url.as_deref(), Some(artifact.url.as_str()));
        let ready = repo.ready().unwrap();
        assert_eq!(ready.reason, "Succeeded");
        assert_eq!(
            ready.message,
            format!("stored artifact: revision '{digest}'")
        );
        assert!(
            repo.conditions()
                .iter()
                .any(|c| c.type_ == "ArtifactInStorage" && c.status == "True"),
            "{repo:?}"
        );
        assert_eq!(repo.revision(), Some(digest));
    }

    // Failures, in Flux's words.
    let unauthorized = settled(&controller, &api, "unauthorized", "False").await;
    let ready = unauthorized.ready().unwrap();
    assert_eq!(ready.reason, "IndexationFailed");
    assert!(ready.message.contains("HTTP 401"), "{}", ready.message);
    let missing = settled(&controller, &api, "missing", "False").await;
    let ready = missing.ready().unwrap();
    assert_eq!(ready.reason, "IndexationFailed");
    assert!(
        ready
            .message
            .starts_with("failed to fetch Helm repository index: GET ")
            && ready.message.contains("HTTP 404"),
        "{}",
        ready.message
    );
    let garbage = settled(&controller, &api, "garbage", "False").await;
    let ready = garbage.ready().unwrap();
    assert_eq!(ready.reason, "IndexationFailed");
    assert!(
        ready
            .message
            .contains("is not a valid chart repository index"),
        "{}",
        ready.message
    );
    assert!(garbage.status.unwrap().artifact.is_none());
    let wrong = settled(&controller, &api, "wrong-scheme", "False").await;
    assert_eq!(wrong.ready().unwrap().reason, "URLInvalid");
    assert!(
        wrong
            .conditions()
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    );
    let oci = settled(&controller, &api, "oci", "True").await;
    assert!(oci.status.unwrap().artifact.is_none());

    // Nothing published since: on request, a conditional GET answered 304, nothing stored
    // again, the request recorded as handled.
    let unchanged = api.get("public").await.unwrap();
    let repo = support::requested(&controller, &api, "public", "2025-12-31T00:00:00Z").await;
    assert_eq!(
        repo.status.unwrap().artifact,
        unchanged.status.unwrap().artifact,
        "the same artifact, its update time kept"
    );
    let object = format!("HelmRepository/{ns}/public");
    assert!(
        controller
            .log()
            .lines()
            .any(|l| l.contains("index not modified") && l.contains(&object)),
        "no conditional GET answered 304 for {object}"
    );

    // A new chart version: on request, the new index is stored and the old one removed.
    let before = api.get("public").await.unwrap();
    let old = storage_path.join(before.status.unwrap().artifact.unwrap().path);
    repository(&helm, web.root(), &public, &["0.3.0"]);
    let digest = digest_of(&web.root().join(&public).join("index.yaml"));
    let repo = support::requested(&controller, &api, "public", "2026-01-01T00:00:00Z").await;
    assert_eq!(repo.revision(), Some(digest.clone()));
    assert_eq!(
        repo.ready().unwrap().message,
        format!("stored artifact: revision '{digest}'")
    );
    assert!(!old.exists(), "{} kept", old.display());
    let stored = storage_path.join(repo.status.unwrap().artifact.unwrap().path);
    let index = std::fs::read_to_string(&stored).unwrap();
    assert!(index.contains("version: 0.3.0"), "{index}");

    // Deleted: its stored index goes with it.
    api.delete("public", &Default::default()).await.unwrap();
    let folder = stored.parent().unwrap().to_path_buf();
    support::eventually(
        &controller,
        "the stored index removed",
        Duration::from_secs(30),
        || {
            let gone = !folder.exists();
            async move { gone.then_some(()) }
        },
    )
    .await;
}
