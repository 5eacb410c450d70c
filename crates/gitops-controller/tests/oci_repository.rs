//! The controller's OCIRepository pass end to end: charts made by the real `helm package` and
//! pushed by the real `helm push` to the test environment's `docker-registry` (basic auth,
//! plain HTTP), reconciled into a stored chart archive whose bytes are the pushed ones, with
//! Flux's revision (`<tag>@sha256:<manifest digest>`) and Ready condition; a semver reference
//! follows a newer push, and a HelmRelease naming it in `spec.chartRef` is released and
//! upgraded with it; missing credentials, a missing tag and a URL with a tag fail in Flux's
//! words.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gitops_flux::{FluxObject, HelmRelease, HelmRepository, OCIRepository};
use gitops_testenv::Process;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use sha2::Digest as _;

mod support;

const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// `helm` with its registry login kept in `work`.
struct Helm {
    binary: PathBuf,
    work: tempfile::TempDir,
}

impl Helm {
    /// Runs `helm args`; panics with its output when it fails; returns stdout and stderr.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.binary)
            .args(args)
            .env(
                "HELM_REGISTRY_CONFIG",
                self.work.path().join("registry.json"),
            )
            .env("HELM_CACHE_HOME", self.work.path().join("cache"))
            .env("HELM_CONFIG_HOME", self.work.path().join("config"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "helm {args:?}: {text}");
        text
    }

    /// Packages version `version` of a `demo` chart; returns the archive's path.
    fn package(&self, version: &str) -> PathBuf {
        let dir = self.work.path().join("src").join(version);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            format!("apiVersion: v2\nname: demo\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  chart: {{ .Chart.Version | quote }}\n",
        )
        .unwrap();
        let out = self.work.path().join("packages");
        self.run(&[
            "package",
            &dir.display().to_string(),
            "-d",
            &out.display().to_string(),
        ]);
        out.join(format!("demo-{version}.tgz"))
    }

    /// Pushes `archive` under `oci://<registry>/<folder>`; returns the manifest digest helm
    /// reports.
    fn push(&self, archive: &Path, registry: &str, folder: &str) -> String {
        let out = self.run(&[
            "push",
            &archive.display().to_string(),
            &format!("oci://{registry}/{folder}"),
            "--plain-http",
        ]);
        out.lines()
            .find_map(|line| line.trim().strip_prefix("Digest: "))
            .unwrap_or_else(|| panic!("no digest in helm's output: {out}"))
            .trim()
            .to_string()
    }
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The repository once its Ready condition is `status` for its current generation.
async fn settled(
    controller: &Process,
    api: &Api<OCIRepository>,
    name: &str,
    status: &str,
) -> OCIRepository {
    support::settled(controller, api, name, status, Duration::from_secs(60)).await
}

/// The `chart` value of the ConfigMap the `web` release renders, once it is `version`.
async fn released(controller: &Process, client: &kube::Client, ns: &str, version: &str) {
    let maps = Api::<ConfigMap>::namespaced(client.clone(), ns);
    support::eventually(
        controller,
        &format!("web released at {version}"),
        Duration::from_secs(120),
        || async {
            let map = maps.get_opt("web").await.ok()??;
            (map.data?.get("chart")? == version).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_repositories_store_the_pushed_chart_with_flux_s_revision() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(registries) = gitops_testenv::require_registry() else {
        return;
    };
    let Some(binary) = gitops_testenv::require_helm() else {
        return;
    };
    let registry = &registries.basic;
    let addr = registry.addr();
    let client = kube_env.client().await;
    gitops_flux::crds::install(&client).await.unwrap();
    let ns = kube_env.namespace_with_prefix("ocirepo").await;

    // Three versions of a chart, pushed by helm after logging in.
    let helm = Helm {
        binary,
        work: tempfile::tempdir().unwrap(),
    };
    helm.run(&[
        "registry",
        "login",
        &addr,
        "--username",
        registry.username(),
        "--password",
        registry.password(),
        "--plain-http",
    ]);
    let folder = format!("{ns}/charts");
    let mut pushed = std::collections::BTreeMap::new();
    for version in ["0.1.0", "0.2.0", "1.0.0"] {
        let archive = helm.package(version);
        let digest = helm.push(&archive, &addr, &folder);
        pushed.insert(version, (std::fs::read(&archive).unwrap(), digest));
    }

    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "registry"},
                "type": "kubernetes.io/dockerconfigjson",
                "stringData": {".dockerconfigjson": json!({"auths": {&addr: {
                    "username": registry.username(), "password": registry.password()
                }}}).to_string()}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let url = format!("oci://{addr}/{folder}/demo");
    let api = Api::<OCIRepository>::namespaced(client.clone(), &ns);
    let create = |name: &str, spec: serde_json::Value| {
        let api = api.clone();
        let object = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": ns}, "spec": spec
        });
        async move {
            api.create(
                &PostParams::default(),
                &serde_json::from_value(object).unwrap(),
            )
            .await
            .unwrap();
        }
    };
    let spec = |extra: serde_json::Value| {
        let mut spec = json!({"url": url, "interval": "1h", "insecure": true,
                              "secretRef": {"name": "registry"}});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };
    create(
        "tag",
        spec(json!({"ref": {"tag": "0.1.0"},
                    "layerSelector": {"mediaType": CHART_MEDIA_TYPE, "operation": "copy"}})),
    )
    .await;
    create(
        "semver",
        spec(json!({"ref": {"semver": ">=0.1.0 <1.0.0"},
                    "layerSelector": {"mediaType": CHART_MEDIA_TYPE}})),
    )
    .await;
    let mut anonymous = spec(json!({"ref": {"tag": "0.1.0"}}));
    anonymous.as_object_mut().unwrap().remove("secretRef");
    create("anonymous", anonymous).await;
    create(
        "absent-secret",
        spec(json!({"secretRef": {"name": "absent"}})),
    )
    .await;
    create("missing-tag", spec(json!({"ref": {"tag": "9.9.9"}}))).await;
    create(
        "bad-url",
        spec(json!({"url": format!("oci://{addr}/{folder}/demo:0.1.0")})),
    )
    .await;

    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().join("storage");
    let controller = support::start_admin_controller(
        "controller-ocirepository",
        kube_env.kubeconfig_path(),
        &storage_path,
        "info,kube=warn",
    );

    // A tag and a semver range: the chart archive stored byte for byte, Flux's revision.
    for (name, version) in [("tag", "0.1.0"), ("semver", "0.2.0")] {
        let repo = settled(&controller, &api, name, "True").await;
        let (archive, manifest) = &pushed[version];
        let revision = format!("{version}@{manifest}");
        let status = repo.status.clone().unwrap();
        let artifact = status.artifact.clone().unwrap();
        assert_eq!(artifact.revision, revision, "{name}");
        assert_eq!(
            artifact.path,
            format!(
                "ocirepository/{ns}/{name}/{}.tar.gz",
                manifest.trim_start_matches("sha256:")
            )
        );
        let stored = storage_path.join(&artifact.path);
        assert_eq!(&std::fs::read(&stored).unwrap(), archive, "{name}");
        assert_eq!(artifact.digest, Some(digest_of(archive)), "{name}");
        assert_eq!(artifact.size, Some(archive.len() as u64));
        assert_eq!(artifact.url, format!("file://{}", stored.display()));
        assert_eq!(status.url.as_deref(), Some(artifact.url.as_str()));
        let ready = repo.ready().unwrap();
        assert_eq!(ready.reason, "Succeeded");
        assert_eq!(
            ready.message,
            format!("stored artifact for digest '{revision}'")
        );
        assert!(
            repo.conditions()
                .iter()
                .any(|c| c.type_ == "ArtifactInStorage" && c.status == "True"),
            "{repo:?}"
        );
        assert_eq!(
            status
                .observed_layer_selector
                .unwrap()
                .media_type
                .as_deref(),
            Some(CHART_MEDIA_TYPE)
        );
    }

    // A HelmRelease reads the stored chart through `spec.chartRef`, its version carrying the
    // manifest digest as helm-controller writes it.
    let releases = Api::<HelmRelease>::namespaced(client.clone(), &ns);
    releases
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {"interval": "1h", "chartRef": {"kind": "OCIRepository", "name": "semver"}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let short = |manifest: &str| manifest.trim_start_matches("sha256:")[..12].to_string();
    released(
        &controller,
        &client,
        &ns,
        &format!("0.2.0+{}", short(&pushed["0.2.0"].1)),
    )
    .await;

    // The same registry as a HelmRepository of type oci, its chart named in `spec.chart`:
    // the newest tag matching the version, with the Secret's login.
    Api::<HelmRepository>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                "metadata": {"name": "registry", "namespace": ns},
                "spec": {"type": "oci", "url": format!("oci://{addr}/{folder}"),
                         "interval": "1h", "insecure": true, "secretRef": {"name": "registry"}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    releases
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "via-repo", "namespace": ns},
                "spec": {"interval": "1h", "chart": {"spec": {
                    "chart": "demo", "version": "0.1.x",
                    "sourceRef": {"kind": "HelmRepository", "name": "registry"}}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let maps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    support::eventually(
        &controller,
        "via-repo released from the oci HelmRepository",
        Duration::from_secs(120),
        || async {
            let map = maps.get_opt("via-repo").await.ok()??;
            (map.data?.get("chart")? == "0.1.0").then_some(())
        },
    )
    .await;
    let via_repo = releases.get("via-repo").await.unwrap();
    assert_eq!(
        via_repo.status.unwrap().last_attempted_revision.as_deref(),
        Some("0.1.0")
    );
    // The pulled archive is cached under its layer digest, byte for byte what was pushed.
    let layer = digest_of(&pushed["0.1.0"].0);
    let cached = storage_path
        .join("helmchart")
        .join(format!("oci-{}.tgz", layer.trim_start_matches("sha256:")));
    assert_eq!(std::fs::read(&cached).unwrap(), pushed["0.1.0"].0);

    // A digest reference: the revision is the digest alone.
    let (archive, manifest) = &pushed["0.1.0"];
    create("digest", spec(json!({"ref": {"digest": manifest}}))).await;
    let repo = settled(&controller, &api, "digest", "True").await;
    assert_eq!(repo.revision().as_deref(), Some(manifest.as_str()));
    let stored = storage_path.join(repo.status.unwrap().artifact.unwrap().path);
    assert_eq!(&std::fs::read(&stored).unwrap(), archive);

    // Failures, in Flux's words.
    let anonymous = settled(&controller, &api, "anonymous", "False").await;
    let ready = anonymous.ready().unwrap();
    assert_eq!(ready.reason, "OCIArtifactPullFailed");
    assert!(
        ready.message.contains("authentication failed"),
        "{}",
        ready.message
    );
    assert!(anonymous.status.unwrap().artifact.is_none());
    let absent = settled(&controller, &api, "absent-secret", "False").await;
    let ready = absent.ready().unwrap();
    assert_eq!(ready.reason, "AuthenticationFailed");
    assert!(
        ready.message.starts_with("failed to get credential: ") && ready.message.contains("absent"),
        "{}",
        ready.message
    );
    let missing = settled(&controller, &api, "missing-tag", "False").await;
    let ready = missing.ready().unwrap();
    assert_eq!(ready.reason, "OCIArtifactPullFailed");
    assert!(
        ready
            .message
            .contains(&format!("'{addr}/{folder}/demo:9.9.9' not found")),
        "{}",
        ready.message
    );
    let bad = settled(&controller, &api, "bad-url", "False").await;
    let ready = bad.ready().unwrap();
    assert_eq!(ready.reason, "URLInvalid");
    assert!(
        ready
            .message
            .contains("URL must not contain a tag; remove ':0.1.0'"),
        "{}",
        ready.message
    );
    assert!(
        bad.conditions()
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    );

    // An unchanged revision: the artifact is kept, its update time with it.
    let before = api
        .get("tag")
        .await
        .unwrap()
        .status
        .unwrap()
        .artifact
        .unwrap();
    let again = support::requested(&controller, &api, "tag", "2026-01-01T00:00:00Z").await;
    assert_eq!(again.status.unwrap().artifact.unwrap(), before);

    // A newer matching version: on request, stored, and the old archive removed.
    let old = storage_path.join(
        api.get("semver")
            .await
            .unwrap()
            .status
            .unwrap()
            .artifact
            .unwrap()
            .path,
    );
    let archive = helm.package("0.3.0");
    let manifest = helm.push(&archive, &addr, &folder);
    let repo = support::requested(&controller, &api, "semver", "2026-01-01T00:00:01Z").await;
    let revision = format!("0.3.0@{manifest}");
    assert_eq!(repo.revision(), Some(revision.clone()));
    assert_eq!(
        repo.ready().unwrap().message,
        format!("stored artifact for digest '{revision}'")
    );
    let artifact = repo.status.unwrap().artifact.unwrap();
    let stored = storage_path.join(&artifact.path);
    let archive = std::fs::read(&archive).unwrap();
    assert_eq!(std::fs::read(&stored).unwrap(), archive);
    assert_eq!(artifact.digest, Some(digest_of(&archive)));
    assert!(!old.exists(), "{} kept", old.display());
    // The new chart reaches the release that names the OCIRepository.
    released(
        &controller,
        &client,
        &ns,
        &format!("0.3.0+{}", short(&manifest)),
    )
    .await;

    // Deleted: what it stored goes with it.
    api.delete("semver", &Default::default()).await.unwrap();
    let folder = stored.parent().unwrap().to_path_buf();
    support::eventually(
        &controller,
        "the stored chart removed",
        Duration::from_secs(30),
        || {
            let gone = !folder.exists();
            async move { gone.then_some(()) }
        },
    )
    .await;
}
