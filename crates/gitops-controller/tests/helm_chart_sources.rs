//! Charts from the other sources Flux offers, end to end against the real servers:
//! - a HelmRelease whose `spec.chart` names a GitRepository path with
//!   `reconcileStrategy: Revision` (version `X+<12 hex of the commit>`), upgraded when a push
//!   changes the chart;
//! - a HelmChart pulled from a HelmRepository (the archive `helm package` wrote, stored as the
//!   artifact) and a HelmRelease naming it in `spec.chartRef`, upgraded when a newer version
//!   is published (index → chart → release, each woken by the one before);
//! - the real `helm list` and `helm history` reading the releases; clear failures for a chart
//!   path leaving the repository and a chartRef naming nothing.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::time::Duration;

use gitops_core::Applier as _;
use gitops_flux::{FluxObject, GitRepository, HelmChart, HelmRelease, HelmRepository};
use gitops_testenv::Process;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

mod support;

/// Writes a `web` chart at `version` and packages it into `root/folder`, indexed by `helm`.
fn publish(helm: &Path, root: &Path, folder: &str, version: &str) {
    let out = root.join(folder);
    std::fs::create_dir_all(&out).unwrap();
    let sources = tempfile::tempdir().unwrap();
    let dir = sources.path().join("web");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: web\nversion: {version}\nappVersion: \"{version}\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-version\ndata:\n  chart: {{ .Chart.Version | quote }}\n",
    )
    .unwrap();
    support::publish_chart(helm, &dir, &out);
}

/// The `site` chart as the Git repository holds it, greeting with `greeting`.
fn site_chart(greeting: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "charts/site/Chart.yaml",
            "apiVersion: v2\nname: site\nversion: 0.3.0\n".to_string(),
        ),
        (
            "charts/site/values.yaml",
            format!("greeting: {greeting}\n"),
        ),
        (
            "charts/site/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  version: {{ .Chart.Version | quote }}\n  files: {{ .Files.Glob \"docs/*\" | len | quote }}\n".to_string(),
        ),
        ("charts/site/.helmignore", "docs/\n".to_string()),
        ("charts/site/docs/notes.txt", "left out by .helmignore\n".to_string()),
        ("README.md", "charts live under charts/\n".to_string()),
    ]
}

fn helm_json(helm: &Path, kubeconfig: &Path, args: &[&str]) -> Vec<Value> {
    let kubeconfig = kubeconfig.display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-o", "json", "--kubeconfig", &kubeconfig]);
    serde_json::from_str(&support::helm_ok(helm, &all)).unwrap()
}

async fn settled<K>(controller: &Process, api: &Api<K>, name: &str, status: &str) -> K
where
    K: FluxObject + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    support::settled(controller, api, name, status, Duration::from_secs(120)).await
}

/// The HelmRelease once it was released at `version` (Ready, `lastAttemptedRevision`).
async fn released_at(
    controller: &Process,
    api: &Api<HelmRelease>,
    name: &str,
    version: &str,
) -> HelmRelease {
    support::eventually(
        controller,
        &format!("{name} released at {version}"),
        Duration::from_secs(120),
        || async {
            let hr = api.get(name).await.ok()?;
            let status = hr.status.clone()?;
            (hr.is_ready() && status.last_attempted_revision.as_deref() == Some(version))
                .then_some(hr)
        },
    )
    .await
}

async fn config_value(client: &kube::Client, ns: &str, name: &str, key: &str) -> Option<String> {
    let map = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()?;
    map.data?.get(key).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_from_git_and_helm_charts_are_released_and_follow_their_sources() {
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let Some(support::HelmWorld {
        kubeconfig,
        client,
        ns,
        web,
        helm,
        ..
    }) = support::helm_world("chartsrc").await
    else {
        return;
    };

    // The sources: a Git repository with a chart directory, an HTTP chart repository.
    let repo = git.create_repo("charts").unwrap();
    let files = site_chart("hello");
    let listed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let first_commit = repo.commit_files("main", &listed, "site chart").unwrap();
    let folder = format!("{ns}-charts");
    publish(&helm, web.root(), &folder, "1.0.0");

    let objects = format!(
        r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: charts, namespace: {ns}}}
spec: {{interval: 1h, url: "{git_url}", ref: {{branch: main}}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: charts, namespace: {ns}}}
spec: {{interval: 1h, url: "{web_url}{folder}"}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {{name: web, namespace: {ns}}}
spec:
  interval: 1h
  chart: web
  version: "1.x"
  sourceRef: {{kind: HelmRepository, name: charts}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: site, namespace: {ns}}}
spec:
  interval: 1h
  chart:
    spec:
      chart: ./charts/site
      reconcileStrategy: Revision
      sourceRef: {{kind: GitRepository, name: charts}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: web, namespace: {ns}}}
spec:
  interval: 1h
  chartRef: {{kind: HelmChart, name: web}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: apart, namespace: {ns}}}
spec:
  interval: 1h
  targetNamespace: {ns}-apps
  storageNamespace: {ns}
  install: {{createNamespace: true}}
  chartRef: {{kind: HelmChart, name: web}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: escape, namespace: {ns}}}
spec:
  interval: 1h
  chart:
    spec:
      chart: ../../
      sourceRef: {{kind: GitRepository, name: charts}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: dangling, namespace: {ns}}}
spec:
  interval: 1h
  chartRef: {{kind: HelmChart, name: absent}}
"#,
        git_url = repo.http_url_anonymous(),
        web_url = web.url(),
    );
    let applier = gitops_kube::KubeApplier::new(client.clone());
    applier
        .apply(&support::objects(&objects), &Default::default())
        .await
        .unwrap();

    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().join("storage");
    let controller = support::start_admin_controller(
        "controller-chart-sources",
        &kubeconfig,
        &storage_path,
        "info,kube=warn,gitops_controller=debug",
    );
    let releases = Api::<HelmRelease>::namespaced(client.clone(), &ns);
    let charts = Api::<HelmChart>::namespaced(client.clone(), &ns);
    let repos = Api::<HelmRepository>::namespaced(client.clone(), &ns);
    let gits = Api::<GitRepository>::namespaced(client.clone(), &ns);

    // 1. The Git chart: packed, its version carrying the commit, released; `.helmignore` kept
    //    docs/ out of the chart's files.
    let short = &first_commit[..12];
    let site_version = format!("0.3.0+{short}");
    let site = released_at(&controller, &releases, "site", &site_version).await;
    assert_eq!(
        site.ready().unwrap().message,
        format!("Helm install succeeded for release {ns}/site.v1 with chart site@{site_version}")
    );
    assert_eq!(
        config_value(&client, &ns, "site-greeting", "greeting")
            .await
            .as_deref(),
        Some("hello")
    );
    assert_eq!(
        config_value(&client, &ns, "site-greeting", "version")
            .await
            .as_deref(),
        Some(site_version.as_str())
    );
    assert_eq!(
        config_value(&client, &ns, "site-greeting", "files")
            .await
            .as_deref(),
        Some("0")
    );

    // 2. The HelmChart: the archive `helm package` wrote, stored as the artifact.
    let chart = settled(&controller, &charts, "web", "True").await;
    assert_eq!(
        chart.ready().unwrap().message,
        "pulled 'web' chart with version '1.0.0'"
    );
    let status = chart.status.clone().unwrap();
    let artifact = status.artifact.clone().unwrap();
    assert_eq!(artifact.revision, "1.0.0");
    let stored = std::fs::read(storage_path.join(&artifact.path)).unwrap();
    let packaged = std::fs::read(web.root().join(&folder).join("web-1.0.0.tgz")).unwrap();
    assert!(
        stored == packaged,
        "the stored archive is the published one"
    );
    assert_eq!(status.observed_chart_name.as_deref(), Some("web"));
    let index = settled(&controller, &repos, "charts", "True").await;
    assert_eq!(
        status.observed_source_artifact_revision,
        index.status.unwrap().artifact.map(|a| a.revision)
    );
    released_at(&controller, &releases, "web", "1.0.0").await;
    let listed = helm_json(&helm, &kubeconfig, &["list", "-n", &ns]);
    let chart_of = |name: &str| {
        listed
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["chart"].as_str().unwrap().to_string())
    };
    assert_eq!(chart_of("web").as_deref(), Some("web-1.0.0"));
    assert_eq!(chart_of("site"), Some(format!("site-{site_version}")));

    // 2b. `storageNamespace`: the objects in the target namespace, the records apart (where
    //     `helm list` of that namespace finds them), and deleting the HelmRelease uninstalls.
    let target = format!("{ns}-apps");
    let release = format!("{target}-apart");
    let apart = released_at(&controller, &releases, "apart", "1.0.0").await;
    assert_eq!(
        apart.status.clone().unwrap().storage_namespace.as_deref(),
        Some(ns.as_str())
    );
    assert_eq!(
        config_value(&client, &target, &format!("{release}-version"), "chart")
            .await
            .as_deref(),
        Some("1.0.0")
    );
    let secrets = |namespace: &str| {
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), namespace)
    };
    let record = format!("sh.helm.release.v1.{release}.v1");
    assert!(secrets(&ns).get_opt(&record).await.unwrap().is_some());
    assert!(secrets(&target).get_opt(&record).await.unwrap().is_none());
    let in_storage = helm_json(&helm, &kubeconfig, &["list", "-n", &ns]);
    assert!(
        in_storage.iter().any(|r| r["name"] == release.as_str()),
        "{in_storage:?}"
    );
    releases.delete("apart", &Default::default()).await.unwrap();
    support::eventually(
        &controller,
        "apart uninstalled",
        Duration::from_secs(60),
        || async {
            let gone = releases.get_opt("apart").await.unwrap().is_none();
            let records = secrets(&ns).get_opt(&record).await.unwrap();
            let object =
                config_value(&client, &target, &format!("{release}-version"), "chart").await;
            (gone && records.is_none() && object.is_none()).then_some(())
        },
    )
    .await;

    // 3. Clear failures, the releases of the others untouched.
    let escape = settled(&controller, &releases, "escape", "False").await;
    let message = &escape.ready().unwrap().message;
    assert!(
        message.contains("leaves the source's tree") || message.contains("no such directory"),
        "{message}"
    );
    let dangling = settled(&controller, &releases, "dangling", "False").await;
    assert_eq!(dangling.ready().unwrap().reason, "ArtifactFailed");
    assert_eq!(
        dangling.ready().unwrap().message,
        format!("HelmChart '{ns}/absent' not found")
    );
    assert!(chart_of("escape").is_none() && chart_of("dangling").is_none());

    // 4. A push changing the Git chart, picked up by `gitops reconcile hr --with-source` (the
    //    GitRepository first, then the release): a new version, one upgrade.
    let files = site_chart("bonjour");
    let listed_files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let second_commit = repo
        .commit_files("main", &listed_files, "greet in French")
        .unwrap();
    let second_version = format!("0.3.0+{}", &second_commit[..12]);
    let cli = tokio::task::spawn_blocking({
        let (kubeconfig, ns) = (kubeconfig.clone(), ns.clone());
        move || {
            support::cli()
                .args(["reconcile", "hr", "site", "--with-source", "-n", &ns])
                .args(["--timeout", "90s", "--kubeconfig"])
                .arg(&kubeconfig)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&cli.stderr).to_string();
    assert!(cli.status.success(), "{said}");
    assert!(
        said.contains(&format!("main@sha1:{second_commit}")),
        "the GitRepository reconciled first:\n{said}"
    );
    assert!(
        said.contains(&format!("applied revision {second_version}")),
        "then the release:\n{said}"
    );
    released_at(&controller, &releases, "site", &second_version).await;
    assert_eq!(
        config_value(&client, &ns, "site-greeting", "greeting")
            .await
            .as_deref(),
        Some("bonjour")
    );
    let history = helm_json(&helm, &kubeconfig, &["history", "site", "-n", &ns]);
    let states: Vec<(&str, &str)> = history
        .iter()
        .map(|h| (h["chart"].as_str().unwrap(), h["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            (format!("site-{site_version}").as_str(), "superseded"),
            (format!("site-{second_version}").as_str(), "deployed"),
        ]
    );
    settled(&controller, &gits, "charts", "True").await;

    // 5. A newer chart published: the index (on request), then the HelmChart and the
    //    HelmRelease, each woken by the one before; the older archive is gone.
    publish(&helm, web.root(), &folder, "1.1.0");
    repos
        .patch(
            "charts",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": "publish-1.1.0"}}})),
        )
        .await
        .unwrap();
    released_at(&controller, &releases, "web", "1.1.0").await;
    assert_eq!(
        config_value(&client, &ns, "web-version", "chart")
            .await
            .as_deref(),
        Some("1.1.0")
    );
    let chart = charts.get("web").await.unwrap();
    let artifact = chart.status.unwrap().artifact.unwrap();
    assert_eq!(artifact.revision, "1.1.0");
    let stored_dir = storage_path.join(&artifact.path);
    let left: Vec<String> = std::fs::read_dir(stored_dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["web-1.1.0.tgz"]);
    let listed = helm_json(&helm, &kubeconfig, &["list", "-n", &ns]);
    assert!(
        listed
            .iter()
            .any(|r| r["name"] == "web" && r["chart"] == "web-1.1.0" && r["revision"] == "2"),
        "{listed:?}"
    );
    drop(controller);
}
