//! Releases against a real kube-apiserver and the real `helm` v4.3.2: what `helm` sees of our
//! releases, and what we see of its.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gitops_helm::TemplateOptions;
use gitops_helm::release::{self, ActionOptions, Actions, Status, Storage};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const CHART_YAML: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.2.3\"\n";
const VALUES_YAML: &str = "message: hello\nreplicas: 1\nextra: true\n";
const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
  revision: {{ .Release.Revision | quote }}
  upgrade: {{ .Release.IsUpgrade | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
"#;
const EXTRA: &str = r#"{{- if .Values.extra }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
data:
  a: b
{{- end }}
"#;
const KEPT: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-kept
  annotations:
    helm.sh/resource-policy: keep
data:
  a: b
"#;
const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
      - name: web
        image: registry.example/web:{{ .Chart.AppVersion }}
"#;

/// A small chart written for these tests: two ConfigMaps (one optional), one kept on delete,
/// and a Deployment.
fn chart(dir: &Path) -> PathBuf {
    write_chart(
        &dir.join("web"),
        &[
            ("Chart.yaml", CHART_YAML),
            ("values.yaml", VALUES_YAML),
            ("templates/configmap.yaml", CONFIGMAP),
            ("templates/extra.yaml", EXTRA),
            ("templates/kept.yaml", KEPT),
            ("templates/deployment.yaml", DEPLOYMENT),
        ],
    )
}

fn write_chart(root: &Path, files: &[(&str, &str)]) -> PathBuf {
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write chart");
    }
    root.to_owned()
}

struct Helm {
    bin: PathBuf,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

impl Helm {
    fn new(bin: PathBuf, kubeconfig: &Path) -> Self {
        Helm {
            bin,
            kubeconfig: kubeconfig.to_owned(),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Runs helm; panics with its output when it fails.
    fn run(&self, namespace: &str, args: &[&str]) -> String {
        let (ok, out, err) = self.try_run(namespace, args);
        assert!(ok, "helm {args:?} failed: {err}{out}");
        out
    }

    fn try_run(&self, namespace: &str, args: &[&str]) -> (bool, String, String) {
        let home = self.home.path();
        let out = Command::new(&self.bin)
            .args(args)
            .arg("--namespace")
            .arg(namespace)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .output()
            .expect("run helm");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, namespace: &str, args: &[&str]) -> Value {
        let out = self.run(namespace, args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("helm {args:?}: {e}: {out}"))
    }

    /// `helm history -o json` as (revision, status) pairs.
    fn history(&self, namespace: &str, name: &str) -> Vec<(i64, String)> {
        self.json(namespace, &["history", name, "-o", "json"])
            .as_array()
            .expect("a list")
            .iter()
            .map(|h| {
                (
                    h["revision"].as_i64().expect("revision"),
                    h["status"].as_str().expect("status").to_owned(),
                )
            })
            .collect()
    }
}

struct Setup {
    actions: Actions,
    client: kube::Client,
    helm: Helm,
    namespace: String,
    dir: tempfile::TempDir,
}

async fn setup(options: ActionOptions) -> Option<Setup> {
    let kube = gitops_testenv::require_kube()?;
    let bin = gitops_testenv::require_helm()?;
    let client = kube.client().await;
    let namespace = kube.namespace_with_prefix("helmrel").await;
    Some(Setup {
        actions: Actions::new(client.clone(), options),
        client,
        helm: Helm::new(bin, kube.kubeconfig_path()),
        namespace,
        dir: tempfile::tempdir().expect("tempdir"),
    })
}

fn opts(name: &str, namespace: &str) -> TemplateOptions {
    TemplateOptions::new(name).with_namespace(namespace)
}

async fn configmap(client: &kube::Client, ns: &str, name: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("get configmap")
}

#[tokio::test]
async fn helm_sees_our_install_upgrade_and_we_see_its_rollback() {
    let Some(s) = setup(ActionOptions::default()).await else {
        return;
    };
    let ns = s.namespace.as_str();
    let chart = gitops_helm::chart::load(&chart(s.dir.path())).expect("chart");

    // Install: revision 1 deployed, as `helm list` reports it.
    let installed = s
        .actions
        .install(&chart, &opts("web", ns).with_set("message=hi"))
        .await
        .expect("install");
    assert_eq!(
        (installed.version, installed.info.status),
        (1, Status::Deployed)
    );
    let list = s.helm.json(ns, &["list", "-o", "json"]);
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "web");
    assert_eq!(list[0]["namespace"], ns);
    assert_eq!(list[0]["revision"], "1");
    assert_eq!(list[0]["status"], "deployed");
    assert_eq!(list[0]["chart"], "web-0.1.0");
    assert_eq!(list[0]["app_version"], "1.2.3");
    // `helm get manifest` prints the stored manifest and a line break.
    let manifest = s.helm.run(ns, &["get", "manifest", "web"]);
    assert_eq!(manifest, format!("{}\n", installed.manifest));
    assert!(manifest.contains("# Source: web/templates/deployment.yaml\n"));
    assert_eq!(
        s.helm.json(ns, &["get", "values", "web", "-o", "json"]),
        json!({"message": "hi"})
    );
    // Objects carry Helm's ownership marks.
    let cm = configmap(&s.client, ns, "web-config")
        .await
        .expect("applied");
    let data = cm.data.unwrap_or_default();
    assert_eq!(data["message"], "hi");
    // Rendered for this release on this cluster, as helm install renders.
    let server = s.client.apiserver_version().await.expect("version");
    assert_eq!(
        (
            data["revision"].as_str(),
            data["upgrade"].as_str(),
            data["kube"].as_str()
        ),
        ("1", "false", server.git_version.as_str())
    );
    let meta = cm.metadata;
    assert_eq!(
        meta.labels.unwrap_or_default()["app.kubernetes.io/managed-by"],
        "Helm"
    );
    let annotations = meta.annotations.unwrap_or_default();
    assert_eq!(annotations["meta.helm.sh/release-name"], "web");
    assert_eq!(annotations["meta.helm.sh/release-namespace"], ns);

    // Upgrade: the optional ConfigMap leaves the manifest and the cluster.
    let upgraded = s
        .actions
        .upgrade(
            &chart,
            &opts("web", ns)
                .with_set("message=there")
                .with_set("extra=false"),
        )
        .await
        .expect("upgrade");
    assert_eq!(upgraded.version, 2);
    assert_eq!(
        s.helm.history(ns, "web"),
        [(1, "superseded".into()), (2, "deployed".into())]
    );
    assert!(configmap(&s.client, ns, "web-extra").await.is_none());
    let data = configmap(&s.client, ns, "web-config")
        .await
        .expect("cm")
        .data
        .unwrap_or_default();
    assert_eq!(
        (data["revision"].as_str(), data["upgrade"].as_str()),
        ("2", "true")
    );
    assert_eq!(
        s.helm.json(ns, &["get", "values", "web", "-o", "json"]),
        json!({"message": "there", "extra": false})
    );

    // The real helm rolls back to 1; we see revision 3 and build 4 on it.
    s.helm.run(ns, &["rollback", "web", "1"]);
    let status = s.actions.status("web", ns).await.expect("status");
    assert_eq!((status.version, status.info.status), (3, Status::Deployed));
    assert_eq!(status.info.description, "Rollback to 1");
    assert!(configmap(&s.client, ns, "web-extra").await.is_some());
    let again = s
        .actions
        .upgrade(&chart, &opts("web", ns).with_set("extra=false"))
        .await
        .expect("upgrade after helm's rollback");
    assert_eq!(again.version, 4);
    assert_eq!(
        s.helm.history(ns, "web"),
        [
            (1, "superseded".into()),
            (2, "superseded".into()),
            (3, "superseded".into()),
            (4, "deployed".into())
        ]
    );

    // Our rollback to 2, then helm upgrades on top of it.
    let rolled = s
        .actions
        .rollback("web", ns, Some(2))
        .await
        .expect("rollback");
    assert_eq!((rolled.version, rolled.info.rollback_revision), (5, 2));
    assert_eq!(
        configmap(&s.client, ns, "web-config")
            .await
            .expect("cm")
            .data
            .unwrap_or_default()["message"],
        "there"
    );
    let chart_dir = s.dir.path().join("web");
    s.helm
        .run(ns, &["upgrade", "web", chart_dir.to_str().expect("utf-8")]);
    assert_eq!(
        s.actions.status("web", ns).await.expect("status").version,
        6
    );

    // Uninstall: the kept ConfigMap stays, the release and its records go.
    let gone = s
        .actions
        .uninstall("web", ns, false)
        .await
        .expect("uninstall");
    assert_eq!(gone.info.status, Status::Uninstalled);
    assert!(configmap(&s.client, ns, "web-config").await.is_none());
    assert!(configmap(&s.client, ns, "web-kept").await.is_some());
    assert_eq!(s.helm.json(ns, &["list", "-o", "json"]), json!([]));
    assert!(
        s.actions
            .storage(ns)
            .history("web")
            .await
            .expect("history")
            .is_empty()
    );
}

#[tokio::test]
async fn a_release_helm_installed_is_upgraded_with_continuous_history() {
    let Some(s) = setup(ActionOptions::default().with_max_history(3)).await else {
        return;
    };
    let ns = s.namespace.as_str();
    let dir = chart(s.dir.path());
    s.helm.run(
        ns,
        &[
            "install",
            "api",
            dir.to_str().expect("utf-8"),
            "--set",
            "message=from-helm",
        ],
    );
    let chart = gitops_helm::chart::load(&dir).expect("chart");
    let upgraded = s
        .actions
        .upgrade(&chart, &opts("api", ns).with_set("message=from-us"))
        .await
        .expect("upgrade of helm's release");
    assert_eq!(upgraded.version, 2);
    // first_deployed carries over from helm's revision 1.
    let first = s.actions.history("api", ns).await.expect("history");
    assert_eq!(first[0].info.first_deployed, upgraded.info.first_deployed);
    assert_eq!(
        s.helm.history(ns, "api"),
        [(1, "superseded".into()), (2, "deployed".into())]
    );
    let cm = configmap(&s.client, ns, "api-config").await.expect("cm");
    assert_eq!(cm.data.unwrap_or_default()["message"], "from-us");
    // History is pruned to 3, the deployed revision kept.
    for _ in 0..3 {
        s.actions
            .upgrade(&chart, &opts("api", ns))
            .await
            .expect("upgrade");
    }
    assert_eq!(
        s.helm.history(ns, "api"),
        [
            (3, "superseded".into()),
            (4, "superseded".into()),
            (5, "deployed".into())
        ]
    );
    // Uninstall keeping history: helm sees it uninstalled, install replaces it.
    s.actions
        .uninstall("api", ns, true)
        .await
        .expect("uninstall");
    let all = s.helm.json(ns, &["list", "--uninstalled", "-o", "json"]);
    assert_eq!(all[0]["status"], "uninstalled", "{all}");
    let again = s
        .actions
        .install(&chart, &opts("api", ns))
        .await
        .expect("install over uninstalled");
    assert_eq!((again.version, again.info.status), (6, Status::Deployed));
}

/// The test chart, installed by us as release `name`, and the namespace's records.
async fn installed(s: &Setup, name: &str) -> (gitops_helm::Chart, Storage) {
    let chart = gitops_helm::chart::load(&chart(s.dir.path())).expect("chart");
    s.actions
        .install(&chart, &opts(name, &s.namespace))
        .await
        .expect("install");
    (chart, s.actions.storage(&s.namespace))
}

/// A record of revision `version` in `status`, copied from revision `from`: what a writer that
/// died half-way leaves behind.
async fn leave_pending(storage: &Storage, name: &str, from: u32, version: u32, status: Status) {
    let record = storage.get(name, from).await.expect("record");
    let mut release = record.release;
    release.version = version;
    release.info.status = status;
    release.info.description = "the writer died here".into();
    storage.create(&release).await.expect("pending record");
}

#[tokio::test]
async fn a_release_stuck_pending_is_recovered() {
    let Some(s) = setup(ActionOptions::default()).await else {
        return;
    };
    let ns = s.namespace.as_str();
    let (chart, storage) = installed(&s, "web").await;
    leave_pending(&storage, "web", 1, 2, Status::PendingUpgrade).await;

    // A recent pending record belongs to a writer that may still be working.
    let err = s
        .actions
        .upgrade(&chart, &opts("web", ns))
        .await
        .expect_err("in progress");
    assert!(
        matches!(err, release::Error::InProgress { revision: 2, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    // Helm refuses as well.
    let (ok, _, stderr) = s.helm.try_run(
        ns,
        &[
            "upgrade",
            "web",
            s.dir.path().join("web").to_str().expect("utf-8"),
        ],
    );
    assert!(!ok && stderr.contains("another operation"), "{stderr}");

    // Once its writer is taken to be gone, it is marked failed and the upgrade goes on.
    let patient = Actions::new(
        s.client.clone(),
        ActionOptions::default().with_pending_timeout(Duration::ZERO),
    );
    let upgraded = patient
        .upgrade(&chart, &opts("web", ns))
        .await
        .expect("recovered upgrade");
    assert_eq!(upgraded.version, 3);
    assert_eq!(
        s.helm.history(ns, "web"),
        [
            (1, "superseded".into()),
            (2, "failed".into()),
            (3, "deployed".into())
        ]
    );
}

#[tokio::test]
async fn an_install_left_pending_is_recovered() {
    let Some(s) = setup(ActionOptions::default().with_pending_timeout(Duration::ZERO)).await else {
        return;
    };
    let ns = s.namespace.as_str();
    let (chart, storage) = installed(&s, "web").await;
    // Turn revision 1 into an interrupted install.
    let mut record = storage.get("web", 1).await.expect("record");
    record.release.info.status = Status::PendingInstall;
    storage.update(&record).await.expect("update");
    let installed = s
        .actions
        .install(&chart, &opts("web", ns))
        .await
        .expect("install over the interrupted one");
    assert_eq!(installed.version, 2);
    assert_eq!(
        s.helm.history(ns, "web"),
        [(1, "failed".into()), (2, "deployed".into())]
    );
}

#[tokio::test]
async fn missing_and_corrupt_releases_are_clear_errors() {
    let Some(s) = setup(ActionOptions::default()).await else {
        return;
    };
    let ns = s.namespace.as_str();
    let err = s.actions.status("nope", ns).await.expect_err("missing");
    assert_eq!(
        err.to_string(),
        format!("release \"nope\" in namespace {ns}: not found")
    );
    let chart = gitops_helm::chart::load(&chart(s.dir.path())).expect("chart");
    let err = s
        .actions
        .upgrade(&chart, &opts("nope", ns))
        .await
        .expect_err("missing");
    assert!(err.to_string().contains("\"nope\""), "{err}");
    let err = s
        .actions
        .rollback("nope", ns, Some(1))
        .await
        .expect_err("missing");
    assert!(err.to_string().contains("not found"), "{err}");

    let secrets = Api::<Secret>::namespaced(s.client.clone(), ns);
    for (name, data) in [
        ("badbase", b"%%%".to_vec()),
        ("badgzip", b"H4sIAAAAAAAA/wEAAP//".to_vec()),
        ("badjson", b"eyJuYW1lIjo=".to_vec()),
    ] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": format!("sh.helm.release.v1.{name}.v1"),
                "labels": {"owner": "helm", "name": name, "version": "1", "status": "deployed"}},
            "type": "helm.sh/release.v1",
            "data": {"release": base64_of(&data)},
        }))
        .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create");
        let err = s.actions.status(name, ns).await.expect_err("corrupt");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "release Secret {ns}/sh.helm.release.v1.{name}.v1: `release` "
            )),
            "{text}"
        );
        let err = s
            .actions
            .upgrade(&chart, &opts(name, ns))
            .await
            .expect_err("corrupt");
        assert!(
            err.to_string()
                .contains(&format!("sh.helm.release.v1.{name}.v1")),
            "{err}"
        );
    }
}

fn base64_of(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

const HOOKS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-first
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation,hook-failed
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: registry.example/migrate:1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-b-same
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-a-same
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-last
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "5"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-post
  annotations:
    helm.sh/hook: post-install,post-upgrade
    helm.sh/hook-delete-policy: hook-succeeded
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-rolled
  annotations:
    helm.sh/hook: pre-rollback,post-rollback
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cleanup
  annotations:
    helm.sh/hook: pre-delete
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-gone
  annotations:
    helm.sh/hook: post-delete
"#;
const TEST_HOOKS: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: test
        image: registry.example/test:1
---
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test-pod
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: hook-failed
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: registry.example/test:1
"#;

/// A chart with pre/post install and upgrade hooks (a Job among weighted ConfigMaps, two of
/// equal weight written out of name order), rollback and delete hooks, and two tests (a Job and
/// a Pod).
fn hooks_chart(dir: &Path) -> PathBuf {
    write_chart(
        &dir.join("jobs"),
        &[
            ("Chart.yaml", &CHART_YAML.replace("name: web", "name: jobs")),
            ("values.yaml", VALUES_YAML),
            ("templates/configmap.yaml", CONFIGMAP),
            ("templates/hooks.yaml", HOOKS),
            ("templates/tests/test.yaml", TEST_HOOKS),
        ],
    )
}

/// Waits until a `T` named `name` exists with a uid other than `not`, and returns its uid.
async fn appears<T>(client: &kube::Client, ns: &str, name: &str, not: Option<&str>) -> String
where
    T: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    T::DynamicType: Default,
{
    let api = Api::<T>::namespaced(client.clone(), ns);
    for _ in 0..400 {
        if let Some(object) = api.get_opt(name).await.expect("get") {
            let uid = object.meta().uid.clone().unwrap_or_default();
            if Some(uid.as_str()) != not {
                return uid;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} did not appear")
}

async fn exists<T>(client: &kube::Client, ns: &str, name: &str) -> bool
where
    T: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    T::DynamicType: Default,
{
    Api::<T>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("get")
        .is_some()
}

/// What the missing Job controller would write: the Job finished, well or not.
async fn finish_job(client: &kube::Client, ns: &str, name: &str, succeeded: bool) {
    let now = "2026-01-01T00:00:00Z";
    let status = if succeeded {
        json!({"startTime": now, "completionTime": now, "succeeded": 1, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now}]})
    } else {
        json!({"startTime": now, "failed": 1, "conditions": [
            {"type": "FailureTarget", "status": "True", "lastTransitionTime": now},
            {"type": "Failed", "status": "True", "lastTransitionTime": now}]})
    };
    Api::<Job>::namespaced(client.clone(), ns)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap_or_else(|e| panic!("status of job {name}: {e}"));
}

/// What the missing kubelet would write: the Pod ran to `phase`.
async fn finish_pod(client: &kube::Client, ns: &str, name: &str, phase: &str) {
    Api::<Pod>::namespaced(client.clone(), ns)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "phase": phase } })),
        )
        .await
        .unwrap_or_else(|e| panic!("status of pod {name}: {e}"));
}

/// Installs the hooks chart as `name`, finishing its pre-install Job well.
async fn install_hooks_chart(
    s: &Setup,
    chart: &gitops_helm::Chart,
    name: &str,
) -> release::Release {
    let install = tokio::spawn({
        let (actions, chart, opts) = (s.actions.clone(), chart.clone(), opts(name, &s.namespace));
        async move { actions.install(&chart, &opts).await }
    });
    let job = format!("{name}-migrate");
    appears::<Job>(&s.client, &s.namespace, &job, None).await;
    finish_job(&s.client, &s.namespace, &job, true).await;
    install.await.expect("join").expect("install")
}

fn hook<'a>(release: &'a release::Release, name: &str) -> &'a release::Hook {
    release
        .hooks
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no hook {name}"))
}

fn phases(release: &release::Release) -> Vec<(String, String)> {
    let mut phases: Vec<_> = release
        .hooks
        .iter()
        .map(|h| (h.name.clone(), h.last_run.phase.clone()))
        .collect();
    phases.sort();
    phases
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// A Go time as written in the record (RFC 3339, UTC, trailing zeros of the fraction dropped)
/// in a form that sorts: the seconds, then the fraction as nanoseconds.
fn instant(time: &Option<String>) -> (String, u32) {
    let time = time.as_deref().expect("a time").trim_end_matches('Z');
    let (seconds, fraction) = time.split_once('.').unwrap_or((time, ""));
    let nanos = format!("{fraction:0<9}").parse().expect("nanoseconds");
    (seconds.to_owned(), nanos)
}

/// The hooks of `event` in `release` in the order they started; asserts each started after
/// the one before it completed (one at a time).
fn run_order(release: &release::Release, event: &str) -> Vec<String> {
    let mut ran: Vec<&release::Hook> = release
        .hooks
        .iter()
        .filter(|h| h.events.iter().any(|e| e == event))
        .collect();
    ran.sort_by_key(|h| instant(&h.last_run.started_at));
    for pair in ran.windows(2) {
        assert!(
            instant(&pair[0].last_run.completed_at) <= instant(&pair[1].last_run.started_at),
            "{} started before {} completed",
            pair[1].name,
            pair[0].name
        );
    }
    ran.iter().map(|h| h.name.clone()).collect()
}

#[tokio::test]
async fn hooks_run_in_order_wait_for_jobs_and_follow_their_delete_policies() {
    let Some(s) = setup(ActionOptions::default().with_hook_timeout(Duration::from_secs(60))).await
    else {
        return;
    };
    let ns = s.namespace.clone();
    let dir = hooks_chart(s.dir.path());
    let chart = gitops_helm::chart::load(&dir).expect("chart");

    // Install: the pre-install Job blocks; the lighter hooks ran, the heavier one waits, and
    // the release's own objects are not applied yet.
    let install = tokio::spawn({
        let (actions, chart, ns) = (s.actions.clone(), chart.clone(), ns.clone());
        async move { actions.install(&chart, &opts("db", &ns)).await }
    });
    let first_job = appears::<Job>(&s.client, &ns, "db-migrate", None).await;
    for earlier in ["db-first", "db-a-same", "db-b-same"] {
        assert!(
            configmap(&s.client, &ns, earlier).await.is_some(),
            "{earlier}"
        );
    }
    assert!(configmap(&s.client, &ns, "db-last").await.is_none());
    assert!(configmap(&s.client, &ns, "db-config").await.is_none());
    let pending = s.actions.storage(&ns).get("db", 1).await.expect("record");
    assert_eq!(pending.release.info.status, Status::PendingInstall);
    let running = hook(&pending.release, "db-migrate");
    assert_eq!(running.last_run.phase, "Running");
    assert!(running.last_run.started_at.is_some());
    assert!(running.last_run.completed_at.is_none());
    finish_job(&s.client, &ns, "db-migrate", true).await;
    let installed = install.await.expect("join").expect("install");
    assert_eq!(installed.info.status, Status::Deployed);
    assert!(configmap(&s.client, &ns, "db-last").await.is_some());
    assert!(configmap(&s.client, &ns, "db-config").await.is_some());
    // Weight, then name; one at a time.
    assert_eq!(
        run_order(&installed, "pre-install"),
        [
            "db-first",
            "db-a-same",
            "db-b-same",
            "db-migrate",
            "db-last"
        ]
    );
    // hook-succeeded: deleted once the event's hooks all succeeded.
    assert!(configmap(&s.client, &ns, "db-post").await.is_none());
    assert_eq!(
        phases(&installed),
        pairs(&[
            ("db-a-same", "Succeeded"),
            ("db-b-same", "Succeeded"),
            ("db-cleanup", ""),
            ("db-first", "Succeeded"),
            ("db-gone", ""),
            ("db-last", "Succeeded"),
            ("db-migrate", "Succeeded"),
            ("db-post", "Succeeded"),
            ("db-rolled", ""),
            ("db-test", ""),
            ("db-test-pod", ""),
        ])
    );
    // Helm's default policy, stored on the hooks that ran.
    assert_eq!(
        hook(&installed, "db-first").delete_policies,
        ["before-hook-creation"]
    );
    // Helm sees the hooks and their runs.
    let hooks_text = s.helm.run(&ns, &["get", "hooks", "db"]);
    for name in ["db-migrate", "db-first", "db-test-pod", "db-gone"] {
        assert!(
            hooks_text.contains(&format!("name: {name}\n")),
            "{hooks_text}"
        );
    }
    let status = s.helm.json(&ns, &["status", "db", "-o", "json"]);
    let migrate = status["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .find(|h| h["name"] == "db-migrate")
        .expect("migrate hook");
    assert_eq!(migrate["last_run"]["phase"], "Succeeded", "{migrate}");
    assert_eq!(
        migrate["delete_policies"],
        json!(["before-hook-creation", "hook-failed"])
    );

    // Upgrade: before-hook-creation replaces the Job; it fails, hook-failed deletes it, the
    // hooks after it do not run, and the revision is failed while revision 1 stays deployed.
    let upgrade = tokio::spawn({
        let (actions, chart, ns) = (s.actions.clone(), chart.clone(), ns.clone());
        async move { actions.upgrade(&chart, &opts("db", &ns)).await }
    });
    appears::<Job>(&s.client, &ns, "db-migrate", Some(&first_job)).await;
    finish_job(&s.client, &ns, "db-migrate", false).await;
    let err = upgrade.await.expect("join").expect_err("a failing hook");
    let text = err.to_string();
    assert!(
        text.contains("pre-upgrade hook jobs/templates/hooks.yaml failed"),
        "{text}"
    );
    assert!(!exists::<Job>(&s.client, &ns, "db-migrate").await);
    assert_eq!(
        s.helm.history(&ns, "db"),
        [(1, "deployed".into()), (2, "failed".into())]
    );
    let failed = s
        .helm
        .json(&ns, &["status", "db", "--revision", "2", "-o", "json"]);
    let description = failed["info"]["description"].as_str().expect("description");
    assert!(
        description.starts_with("Upgrade \"db\" failed: ")
            && description.contains("pre-upgrade hook jobs/templates/hooks.yaml failed")
            && description.contains("job failed"),
        "{description}"
    );
    let revision2 = s.actions.storage(&ns).get("db", 2).await.expect("record");
    assert_eq!(
        hook(&revision2.release, "db-migrate").last_run.phase,
        "Failed"
    );
    assert_eq!(hook(&revision2.release, "db-last").last_run.phase, "");
    assert_eq!(
        hook(&revision2.release, "db-first").last_run.phase,
        "Succeeded"
    );
    assert!(configmap(&s.client, &ns, "db-config").await.is_some());

    // Rollback to 1 runs its pre- and post-rollback hooks.
    let rolled = s
        .actions
        .rollback("db", &ns, Some(1))
        .await
        .expect("rollback");
    assert_eq!(rolled.version, 3);
    assert_eq!(hook(&rolled, "db-rolled").last_run.phase, "Succeeded");
    assert!(configmap(&s.client, &ns, "db-rolled").await.is_some());
    assert_eq!(
        s.helm.history(&ns, "db"),
        [
            (1, "superseded".into()),
            (2, "failed".into()),
            (3, "deployed".into())
        ]
    );

    // Uninstall runs the pre- and post-delete hooks, which stay (hooks are not release
    // objects), around the deletion of the release's objects.
    s.actions
        .uninstall("db", &ns, false)
        .await
        .expect("uninstall");
    assert!(configmap(&s.client, &ns, "db-cleanup").await.is_some());
    assert!(configmap(&s.client, &ns, "db-gone").await.is_some());
    assert!(configmap(&s.client, &ns, "db-config").await.is_none());
}

#[tokio::test]
async fn tests_run_on_request_record_their_phases_and_wait_for_pods() {
    let Some(s) = setup(ActionOptions::default().with_hook_timeout(Duration::from_secs(60))).await
    else {
        return;
    };
    let ns = s.namespace.clone();
    let chart = gitops_helm::chart::load(&hooks_chart(s.dir.path())).expect("chart");
    install_hooks_chart(&s, &chart, "suite").await;
    // Tests do not run on install.
    assert!(!exists::<Job>(&s.client, &ns, "suite-test").await);

    // The Job passes, then the Pod fails: the test run fails, hook-failed deletes the Pod,
    // and the phases are recorded in the deployed revision.
    let test = tokio::spawn({
        let (actions, ns) = (s.actions.clone(), ns.clone());
        async move { actions.test("suite", &ns).await }
    });
    let first_job = appears::<Job>(&s.client, &ns, "suite-test", None).await;
    finish_job(&s.client, &ns, "suite-test", true).await;
    appears::<Pod>(&s.client, &ns, "suite-test-pod", None).await;
    finish_pod(&s.client, &ns, "suite-test-pod", "Failed").await;
    let err = test.await.expect("join").expect_err("a failing test");
    assert!(
        err.to_string()
            .contains("test hook jobs/templates/tests/test.yaml failed"),
        "{err}"
    );
    assert!(!exists::<Pod>(&s.client, &ns, "suite-test-pod").await);
    assert!(exists::<Job>(&s.client, &ns, "suite-test").await);
    let record = s
        .actions
        .storage(&ns)
        .get("suite", 1)
        .await
        .expect("record");
    assert_eq!(record.release.info.status, Status::Deployed);
    assert_eq!(
        hook(&record.release, "suite-test").last_run.phase,
        "Succeeded"
    );
    assert_eq!(
        hook(&record.release, "suite-test-pod").last_run.phase,
        "Failed"
    );
    let status = s.helm.json(&ns, &["status", "suite", "-o", "json"]);
    let phase_of = |name: &str| {
        status["hooks"]
            .as_array()
            .expect("hooks")
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["last_run"]["phase"].clone())
    };
    assert_eq!(phase_of("suite-test"), Some(json!("Succeeded")));
    assert_eq!(phase_of("suite-test-pod"), Some(json!("Failed")));

    // Again: before-hook-creation replaces the Job; a Pod that is merely running is not done,
    // one that succeeded is.
    let test = tokio::spawn({
        let (actions, ns) = (s.actions.clone(), ns.clone());
        async move { actions.test("suite", &ns).await }
    });
    appears::<Job>(&s.client, &ns, "suite-test", Some(&first_job)).await;
    finish_job(&s.client, &ns, "suite-test", true).await;
    appears::<Pod>(&s.client, &ns, "suite-test-pod", None).await;
    finish_pod(&s.client, &ns, "suite-test-pod", "Running").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !test.is_finished(),
        "a running test Pod is not a finished one"
    );
    finish_pod(&s.client, &ns, "suite-test-pod", "Succeeded").await;
    let tested = test.await.expect("join").expect("tests pass");
    assert_eq!(tested.version, 1);
    assert_eq!(hook(&tested, "suite-test-pod").last_run.phase, "Succeeded");
    // A test that does not finish in time fails, recorded so.
    let impatient = Actions::new(
        s.client.clone(),
        ActionOptions::default().with_hook_timeout(Duration::from_secs(1)),
    );
    let err = impatient.test("suite", &ns).await.expect_err("a timeout");
    assert!(err.to_string().contains("not finished after 1 s"), "{err}");
    let record = s
        .actions
        .storage(&ns)
        .get("suite", 1)
        .await
        .expect("record");
    assert_eq!(hook(&record.release, "suite-test").last_run.phase, "Failed");
    assert!(
        hook(&record.release, "suite-test")
            .last_run
            .completed_at
            .is_some()
    );
    // `helm status` prints the test suite from our record.
    let text = s.helm.run(&ns, &["status", "suite"]);
    assert!(text.contains("TEST SUITE:"), "{text}");
    assert!(text.contains("suite-test-pod"), "{text}");
}

/// Hooks without Jobs or Pods, so the real `helm install` needs no controller.
const PLAIN_HOOKS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-one
  annotations:
    helm.sh/hook: pre-install
    helm.sh/hook-weight: "2"
data:
  a: b
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-two
  annotations:
    helm.sh/hook: pre-install,post-install
    helm.sh/hook-weight: "-1"
    helm.sh/hook-delete-policy: hook-succeeded
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-three
  annotations:
    helm.sh/hook: post-install
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-later
  annotations:
    helm.sh/hook: pre-upgrade
"#;

/// A hook as `helm status -o json` shows it, the release name replaced and times reduced to
/// whether they are set.
fn comparable_hooks(status: &Value, name: &str) -> Vec<Value> {
    status["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .map(|h| {
            let mut h = h.clone();
            let run = &mut h["last_run"];
            for time in ["started_at", "completed_at"] {
                let set = run[time]
                    .as_str()
                    .is_some_and(|t| !t.is_empty() && !t.starts_with("0001-"));
                run[time] = json!(set);
            }
            let text = serde_json::to_string(&h).expect("json");
            serde_json::from_str(&text.replace(name, "REL")).expect("json")
        })
        .collect()
}

#[tokio::test]
async fn hook_records_match_what_helm_install_writes() {
    let Some(s) = setup(ActionOptions::default()).await else {
        return;
    };
    let ns = s.namespace.clone();
    let dir = write_chart(
        &s.dir.path().join("plain"),
        &[
            (
                "Chart.yaml",
                &CHART_YAML.replace("name: web", "name: plain"),
            ),
            ("values.yaml", VALUES_YAML),
            ("templates/configmap.yaml", CONFIGMAP),
            ("templates/hooks.yaml", PLAIN_HOOKS),
        ],
    );
    let dir_text = dir.to_str().expect("utf-8 path");
    s.helm.run(&ns, &["install", "theirs", dir_text]);
    let chart = gitops_helm::chart::load(&dir).expect("chart");
    s.actions
        .install(&chart, &opts("ours", &ns))
        .await
        .expect("install");
    let theirs = s.helm.json(&ns, &["status", "theirs", "-o", "json"]);
    let ours = s.helm.json(&ns, &["status", "ours", "-o", "json"]);
    assert_eq!(
        comparable_hooks(&ours, "ours"),
        comparable_hooks(&theirs, "theirs")
    );
    // The same runs in the same order (a hook of two events keeps its last run).
    let order = |status: &Value, name: &str| {
        let parsed: release::Release = serde_json::from_value(status.clone()).expect("a release");
        let mut ran: Vec<&release::Hook> = parsed
            .hooks
            .iter()
            .filter(|h| h.last_run.started_at.is_some())
            .collect();
        ran.sort_by_key(|h| instant(&h.last_run.started_at));
        ran.iter()
            .map(|h| h.name.replace(name, "REL"))
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&ours, "ours"), order(&theirs, "theirs"));
    assert_eq!(
        s.helm
            .run(&ns, &["get", "hooks", "ours"])
            .replace("ours", "REL"),
        s.helm
            .run(&ns, &["get", "hooks", "theirs"])
            .replace("theirs", "REL")
    );
    for release in ["theirs", "ours"] {
        assert!(
            configmap(&s.client, &ns, &format!("{release}-one"))
                .await
                .is_some()
        );
        assert!(
            configmap(&s.client, &ns, &format!("{release}-two"))
                .await
                .is_none()
        );
        assert!(
            configmap(&s.client, &ns, &format!("{release}-three"))
                .await
                .is_none()
        );
    }
}

/// A ConfigMap whose token `lookup` keeps across upgrades, and which records whether it could
/// read a Secret of another namespace.
const LOOKUP: &str = r#"{{- $name := printf "%s-token" .Release.Name }}
{{- $old := lookup "v1" "ConfigMap" .Release.Namespace $name }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
data:
  token: {{ if $old }}{{ $old.data.token }}{{ else }}{{ randAlphaNum 24 }}{{ end }}
  namespaces: {{ (lookup "v1" "Namespace" "" "").items | default (list) | len | quote }}
"#;

#[tokio::test]
async fn lookup_reads_the_cluster_within_the_release_namespace() {
    let Some(s) = setup(ActionOptions::default()).await else {
        return;
    };
    let ns = s.namespace.as_str();
    let root = write_chart(
        &s.dir.path().join("token"),
        &[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: token\nversion: 1.0.0\n",
            ),
            ("templates/token.yaml", LOOKUP),
        ],
    );
    let chart = gitops_helm::chart::load(&root).expect("chart");
    let token =
        |cm: Option<ConfigMap>| cm.expect("configmap").data.unwrap_or_default()["token"].clone();

    s.actions
        .install(&chart, &opts("t", ns))
        .await
        .expect("install");
    let first = token(configmap(&s.client, ns, "t-token").await);
    assert_eq!(first.len(), 24);
    let data = configmap(&s.client, ns, "t-token")
        .await
        .expect("cm")
        .data
        .unwrap_or_default();
    // Cluster-scoped lists are read: at least this namespace exists.
    assert_ne!(data["namespaces"], "0");
    s.actions
        .upgrade(&chart, &opts("t", ns))
        .await
        .expect("upgrade");
    assert_eq!(token(configmap(&s.client, ns, "t-token").await), first);

    // Without the cluster (as `helm template`), the token is new.
    let blind = Actions::new(
        s.client.clone(),
        ActionOptions::default().with_cluster_lookup(false),
    );
    blind
        .upgrade(&chart, &opts("t", ns))
        .await
        .expect("upgrade without lookup");
    assert_ne!(token(configmap(&s.client, ns, "t-token").await), first);

    // Another namespace is refused, naming it; the revision is not recorded.
    let nosy = write_chart(
        &root,
        &[(
            "templates/nosy.yaml",
            "{{- $x := lookup \"v1\" \"ConfigMap\" \"kube-system\" \"x\" }}\n",
        )],
    );
    let chart = gitops_helm::chart::load(&nosy).expect("chart");
    let err = s
        .actions
        .upgrade(&chart, &opts("t", ns))
        .await
        .expect_err("a lookup outside the namespace");
    assert!(matches!(err, release::Error::Render { .. }), "{err:?}");
    let text = format!("{:?}", err);
    assert!(text.contains("in kube-system"), "{text}");
    assert!(
        text.contains("may only look up namespaced objects of its own namespace"),
        "{text}"
    );
    assert_eq!(s.actions.status("t", ns).await.expect("status").version, 3);
}

/// A CRD in `crds/` whose group is unique to one test run, with `description` as a marker of
/// the chart's version of it.
fn crd_yaml(group: &str, description: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: {description}
        x-kubernetes-preserve-unknown-fields: true
"#
    )
}

/// CRDs of `crds/` (the chart's and an enabled subchart's, not a disabled one's) are created
/// before the objects that use them, kept out of the manifest, left alone by an upgrade
/// unless the policy replaces them, and kept on uninstall, as Helm and Flux's `crds` policies do.
#[tokio::test]
async fn crds_are_installed_by_policy_and_never_recorded_or_deleted() {
    use gitops_helm::release::CrdPolicy;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let Some(s) = setup(ActionOptions::default()).await else {
        return;
    };
    let ns = s.namespace.as_str();
    let group = format!("{ns}.example.com");
    let sub_group = format!("sub.{ns}.example.com");
    let off_group = format!("off.{ns}.example.com");
    let widget = format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: {{{{ .Release.Name }}}}-widget\nspec:\n  size: 3\n"
    );
    let chart_yaml = "apiVersion: v2\nname: crdchart\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n- name: extra\n  version: 0.1.0\n  condition: extra.enabled\n";
    let write = |description: &str| {
        let root = s.dir.path().join(format!("crdchart-{description}"));
        write_chart(
            &root,
            &[
                ("Chart.yaml", chart_yaml),
                ("values.yaml", "extra:\n  enabled: false\n"),
                ("crds/widgets.yaml", &crd_yaml(&group, description)),
                ("templates/widget.yaml", &widget),
                (
                    "charts/sub/Chart.yaml",
                    "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
                ),
                (
                    "charts/sub/crds/gadgets.yaml",
                    &crd_yaml(&sub_group, description),
                ),
                (
                    "charts/extra/Chart.yaml",
                    "apiVersion: v2\nname: extra\nversion: 0.1.0\n",
                ),
                (
                    "charts/extra/crds/extra.yaml",
                    &crd_yaml(&off_group, description),
                ),
            ],
        );
        gitops_helm::chart::load(&root).expect("chart")
    };
    let definitions: Api<CustomResourceDefinition> = Api::all(s.client.clone());
    let description = |name: String| {
        let definitions = definitions.clone();
        async move {
            definitions
                .get_opt(&name)
                .await
                .expect("get CRD")
                .map(|crd| {
                    crd.spec.versions[0]
                        .schema
                        .as_ref()
                        .and_then(|s| s.open_api_v3_schema.as_ref())
                        .and_then(|s| s.description.clone())
                        .unwrap_or_default()
                })
        }
    };

    // Install (Create): both enabled CRDs exist and the Widget that needs one was applied.
    let installed = s
        .actions
        .install(&write("first"), &opts("crds", ns))
        .await
        .expect("install");
    assert_eq!(installed.info.status, Status::Deployed);
    assert_eq!(
        description(format!("widgets.{group}")).await.as_deref(),
        Some("first")
    );
    assert_eq!(
        description(format!("widgets.{sub_group}")).await.as_deref(),
        Some("first")
    );
    assert_eq!(
        description(format!("widgets.{off_group}")).await,
        None,
        "a disabled subchart's CRDs stay out"
    );
    let manifest = s.helm.run(ns, &["get", "manifest", "crds"]);
    assert!(manifest.contains("kind: Widget"), "{manifest}");
    assert!(!manifest.contains("CustomResourceDefinition"), "{manifest}");

    // Upgrade (Skip, the default): the chart's new CRD text is not applied.
    s.actions
        .upgrade(&write("second"), &opts("crds", ns))
        .await
        .expect("upgrade");
    assert_eq!(
        description(format!("widgets.{group}")).await.as_deref(),
        Some("first")
    );

    // Upgrade with CreateReplace: it is.
    let replacing = Actions::new(
        s.client.clone(),
        ActionOptions::default().with_crds(CrdPolicy::Create, CrdPolicy::CreateReplace),
    );
    replacing
        .upgrade(&write("third"), &opts("crds", ns))
        .await
        .expect("upgrade replacing CRDs");
    assert_eq!(
        description(format!("widgets.{group}")).await.as_deref(),
        Some("third")
    );
    assert_eq!(
        description(format!("widgets.{sub_group}")).await.as_deref(),
        Some("third")
    );

    // Uninstall removes the Widget, never the CRDs.
    s.actions
        .uninstall("crds", ns, false)
        .await
        .expect("uninstall");
    assert_eq!(
        description(format!("widgets.{group}")).await.as_deref(),
        Some("third")
    );
    for name in [format!("widgets.{group}"), format!("widgets.{sub_group}")] {
        let _ = definitions.delete(&name, &Default::default()).await;
    }
}

/// helm v3 (v3.21.4), which operators still run beside v4, reads the records we write as
/// its own: list, manifest, values and history; its rollback is seen by our next upgrade, and
/// a release it installed is upgraded by ours with continuous history.
#[tokio::test]
async fn helm_v3_reads_and_acts_on_our_releases() {
    let Some(s) = setup(ActionOptions::default()).await else {
        return;
    };
    let Some(bin3) = gitops_testenv::require_helm3() else {
        return;
    };
    let kube = gitops_testenv::require_kube().expect("started by setup");
    let helm3 = Helm::new(bin3, kube.kubeconfig_path());
    let version = helm3.run(&s.namespace, &["version", "--short"]);
    assert!(version.starts_with("v3."), "{version}");
    let ns = s.namespace.as_str();
    let chart = gitops_helm::chart::load(&chart(s.dir.path())).expect("chart");

    s.actions
        .install(&chart, &opts("web", ns).with_set("message=hi"))
        .await
        .expect("install");
    let upgraded = s
        .actions
        .upgrade(&chart, &opts("web", ns).with_set("message=there"))
        .await
        .expect("upgrade");
    let list = helm3.json(ns, &["list", "-o", "json"]);
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (
            &list[0]["name"],
            &list[0]["revision"],
            &list[0]["status"],
            &list[0]["chart"],
            &list[0]["app_version"]
        ),
        (
            &json!("web"),
            &json!("2"),
            &json!("deployed"),
            &json!("web-0.1.0"),
            &json!("1.2.3")
        )
    );
    assert_eq!(
        helm3.run(ns, &["get", "manifest", "web"]),
        format!("{}\n", upgraded.manifest)
    );
    assert_eq!(
        helm3.json(ns, &["get", "values", "web", "-o", "json"]),
        json!({"message": "there"})
    );
    assert_eq!(
        helm3.history(ns, "web"),
        [(1, "superseded".into()), (2, "deployed".into())]
    );

    // helm v3's rollback is a revision we see and build on; v4 agrees.
    helm3.run(ns, &["rollback", "web", "1"]);
    let status = s.actions.status("web", ns).await.expect("status");
    assert_eq!((status.version, status.info.status), (3, Status::Deployed));
    assert_eq!(status.info.description, "Rollback to 1");
    assert_eq!(
        configmap(&s.client, ns, "web-config")
            .await
            .expect("cm")
            .data
            .unwrap_or_default()["message"],
        "hi"
    );
    let again = s
        .actions
        .upgrade(&chart, &opts("web", ns).with_set("message=again"))
        .await
        .expect("upgrade after helm v3's rollback");
    assert_eq!(again.version, 4);
    assert_eq!(
        s.helm.history(ns, "web"),
        [
            (1, "superseded".into()),
            (2, "superseded".into()),
            (3, "superseded".into()),
            (4, "deployed".into())
        ]
    );

    // A release helm v3 installed: our upgrade is its revision 2.
    let chart_dir = s.dir.path().join("web");
    helm3.run(
        ns,
        &[
            "install",
            "api",
            chart_dir.to_str().expect("utf-8"),
            "--set",
            "message=v3",
        ],
    );
    let adopted = s
        .actions
        .upgrade(&chart, &opts("api", ns).with_set("message=ours"))
        .await
        .expect("upgrade of helm v3's release");
    assert_eq!(adopted.version, 2);
    assert_eq!(
        helm3.history(ns, "api"),
        [(1, "superseded".into()), (2, "deployed".into())]
    );
    assert_eq!(
        configmap(&s.client, ns, "api-config")
            .await
            .expect("cm")
            .data
            .unwrap_or_default()["message"],
        "ours"
    );
}
