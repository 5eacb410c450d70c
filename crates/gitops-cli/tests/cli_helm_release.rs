//! `gitops helm install|upgrade|rollback|uninstall|list|history` against a real API server
//! and the real `helm` v4.3.2: what `helm` sees of releases the built `gitops` binary makes,
//! and the same chart installed by `helm` itself as the reference.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_testenv::KubeEnv;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde_json::{Value, json};

const CHART_YAML: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.2.3\"\n";
const VALUES_YAML: &str = "message: hello\nextra: true\nsize: 1\n";
const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    chart: {{ .Chart.Name }}-{{ .Chart.Version }}
data:
  message: {{ .Values.message | quote }}
  size: {{ .Values.size | quote }}
  revision: {{ .Release.Revision | quote }}
  upgrade: {{ .Release.IsUpgrade | quote }}
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
const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  ports:
  - port: 80
    targetPort: 8080
"#;

const NOTES: &str = r#"
  {{ .Release.Name }} says {{ .Values.message }} at revision {{ .Release.Revision }}.
{{- if .Values.missing }} never {{ end }} {{ .Values.nothing }}

"#;

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The chart of these tests: two ConfigMaps (one optional) and a Service.
fn chart(dir: &Path) -> PathBuf {
    let root = dir.join("web");
    for (name, text) in [
        ("Chart.yaml", CHART_YAML),
        ("values.yaml", VALUES_YAML),
        ("templates/configmap.yaml", CONFIGMAP),
        ("templates/extra.yaml", EXTRA),
        ("templates/service.yaml", SERVICE),
        ("templates/NOTES.txt", NOTES),
    ] {
        write(&root, name, text);
    }
    root
}

/// What a run printed.
struct Run {
    ok: bool,
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

fn output(command: &mut Command) -> Run {
    let out = command.output().unwrap();
    Run {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The test's cluster, the real `helm` pointed at it, and a work folder.
struct Env {
    kube: &'static KubeEnv,
    helm: PathBuf,
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Option<Env> {
        let kube = gitops_testenv::require_kube()?;
        let helm = gitops_testenv::require_helm()?;
        Some(Env {
            kube,
            helm,
            home: tempfile::tempdir().unwrap(),
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// The command `gitops ARGS --kubeconfig …`.
    fn gitops_command(&self, args: &[&str]) -> Command {
        let mut command = support::gitops();
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kube.kubeconfig_path());
        command
    }

    /// `gitops ARGS --kubeconfig …`.
    fn gitops(&self, args: &[&str]) -> Run {
        output(&mut self.gitops_command(args))
    }

    /// The command `helm ARGS --kubeconfig …`, with its own configuration folders.
    fn helm_command(&self, args: &[&str]) -> Command {
        let home = self.home.path();
        let mut command = Command::new(&self.helm);
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kube.kubeconfig_path())
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"));
        command
    }

    /// `gitops ARGS`, which must succeed.
    fn gitops_ok(&self, args: &[&str]) -> String {
        let run = self.gitops(args);
        assert!(run.ok, "gitops {args:?}: {run}");
        run.stdout
    }

    /// `helm ARGS --kubeconfig …`, which must succeed.
    fn helm(&self, args: &[&str]) -> String {
        let run = output(&mut self.helm_command(args));
        assert!(run.ok, "helm {args:?}: {run}");
        run.stdout
    }

    fn helm_json(&self, args: &[&str]) -> Value {
        let out = self.helm(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("helm {args:?}: {e}: {out}"))
    }

    fn gitops_json(&self, args: &[&str]) -> Value {
        let out = self.gitops_ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("gitops {args:?}: {e}: {out}"))
    }

    /// `helm history -o json` as (revision, status, description).
    fn history(&self, ns: &str, name: &str) -> Vec<(i64, String, String)> {
        self.helm_json(&["history", name, "-n", ns, "-o", "json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["revision"].as_i64().unwrap(),
                    h["status"].as_str().unwrap().to_owned(),
                    h["description"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn configmap(&self, ns: &str, name: &str) -> Option<ConfigMap> {
        Api::<ConfigMap>::namespaced(self.kube.client().await, ns)
            .get_opt(name)
            .await
            .unwrap()
    }
}

/// The lines of a status text, times and `NAMESPACE` masked.
fn masked_status(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("LAST DEPLOYED:") {
                "LAST DEPLOYED: <time>".to_owned()
            } else if l.starts_with("Last Started:") || l.starts_with("Last Completed:") {
                format!("{}<time>", &l[..16])
            } else if l.starts_with("NAMESPACE:") {
                "NAMESPACE: <ns>".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn install_upgrade_rollback_uninstall_as_helm_sees_them() {
    let Some(env) = Env::new() else {
        return;
    };
    // Ours in `ns`, the reference made by helm itself in `reference`.
    let ns = env.kube.namespace_with_prefix("clihelm").await;
    let reference = env.kube.namespace_with_prefix("clihelmref").await;
    let chart_dir = chart(env.dir.path());
    let chart = chart_dir.to_str().unwrap();
    write(env.dir.path(), "more.yaml", "size: 3\n");
    let values = env.dir.path().join("more.yaml");
    let values = values.to_str().unwrap();
    let set = [
        "-f",
        values,
        "--set",
        "message=hi",
        "--set-string",
        "size=4",
    ];

    // Install: revision 1 deployed, what helm install prints apart from the time.
    let ours = env.gitops_ok(&[&["helm", "install", "web", chart, "-n", &ns][..], &set].concat());
    let theirs = env.helm(&[&["install", "web", chart, "-n", &reference][..], &set].concat());
    assert_eq!(masked_status(&ours), masked_status(&theirs));
    let list = env.helm_json(&["list", "-n", &ns, "-o", "json"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (
            &list[0]["name"],
            &list[0]["namespace"],
            &list[0]["revision"],
            &list[0]["status"],
            &list[0]["chart"],
            &list[0]["app_version"]
        ),
        (
            &json!("web"),
            &json!(ns),
            &json!("1"),
            &json!("deployed"),
            &json!("web-0.1.0"),
            &json!("1.2.3")
        )
    );
    // The stored manifest and values are those helm stores for the same install.
    assert_eq!(
        env.helm(&["get", "manifest", "web", "-n", &ns]),
        env.helm(&["get", "manifest", "web", "-n", &reference])
    );
    assert_eq!(
        env.helm_json(&["get", "values", "web", "-n", &ns, "-o", "json"]),
        json!({"message": "hi", "size": "4"})
    );
    let notes = env.helm(&["get", "notes", "web", "-n", &ns]);
    assert!(notes.contains("web says hi at revision 1."), "{notes}");
    assert_eq!(notes, env.helm(&["get", "notes", "web", "-n", &reference]));
    assert_eq!(
        env.helm_json(&["get", "values", "web", "-n", &ns, "-o", "json", "--all"]),
        env.helm_json(&[
            "get", "values", "web", "-n", &reference, "-o", "json", "--all"
        ])
    );
    let data = env
        .configmap(&ns, "web-config")
        .await
        .expect("applied")
        .data
        .unwrap();
    assert_eq!(
        (data["message"].as_str(), data["size"].as_str()),
        ("hi", "4")
    );

    // Upgrade: the optional ConfigMap leaves the manifest and the cluster.
    let upgrade = [
        "helm",
        "upgrade",
        "web",
        chart,
        "-n",
        &ns,
        "--set",
        "message=there",
        "--set",
        "extra=false",
    ];
    let out = env.gitops_ok(&upgrade);
    assert!(
        out.starts_with("Release \"web\" has been upgraded. Happy Helming!\nNAME: web\n"),
        "{out}"
    );
    assert_eq!(
        env.history(&ns, "web"),
        [
            (1, "superseded".into(), "Install complete".into()),
            (2, "deployed".into(), "Upgrade complete".into())
        ]
    );
    assert!(env.configmap(&ns, "web-extra").await.is_none());
    let data = env
        .configmap(&ns, "web-config")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        (data["message"].as_str(), data["revision"].as_str()),
        ("there", "2")
    );

    // Rollback to 1: revision 3, the optional ConfigMap back.
    let out = env.gitops_ok(&["helm", "rollback", "web", "1", "-n", &ns]);
    assert_eq!(out, "Rollback was a success! Happy Helming!\n");
    assert_eq!(
        env.history(&ns, "web").last().unwrap(),
        &(3, "deployed".into(), "Rollback to 1".into())
    );
    assert!(env.configmap(&ns, "web-extra").await.is_some());
    assert_eq!(
        env.configmap(&ns, "web-config")
            .await
            .unwrap()
            .data
            .unwrap()["message"],
        "hi"
    );

    // Our list and history print what helm's do, times and table layout included.
    for format in ["json", "table", "yaml"] {
        assert_eq!(
            env.gitops_ok(&["helm", "list", "-n", &ns, "-o", format]),
            env.helm(&["list", "-n", &ns, "-o", format])
        );
        assert_eq!(
            env.gitops_ok(&["helm", "history", "web", "-n", &ns, "-o", format]),
            env.helm(&["history", "web", "-n", &ns, "-o", format])
        );
    }

    // Uninstall: objects and records go; helm lists nothing.
    let out = env.gitops_ok(&["helm", "uninstall", "web", "-n", &ns]);
    assert_eq!(out, "release \"web\" uninstalled\n");
    assert!(env.configmap(&ns, "web-config").await.is_none());
    assert!(env.configmap(&ns, "web-extra").await.is_none());
    assert_eq!(env.helm_json(&["list", "-n", &ns, "-o", "json"]), json!([]));
    assert_eq!(
        env.gitops_json(&["helm", "list", "-n", &ns, "-o", "json"]),
        json!([])
    );
    env.helm(&["uninstall", "web", "-n", &reference]);
}

#[tokio::test]
async fn upgrade_install_creates_and_errors_exit_non_zero() {
    let Some(env) = Env::new() else {
        return;
    };
    let base = env.kube.namespace_with_prefix("clihelmup").await;
    // A namespace that does not exist yet.
    let ns = format!("{base}-new");
    let chart_dir = chart(env.dir.path());
    let chart = chart_dir.to_str().unwrap();

    let out = env.gitops_ok(&[
        "helm",
        "upgrade",
        "--install",
        "web",
        chart,
        "-n",
        &ns,
        "--create-namespace",
    ]);
    assert!(
        out.starts_with("Release \"web\" does not exist. Installing it now.\nNAME: web\n"),
        "{out}"
    );
    assert_eq!(
        env.history(&ns, "web"),
        [(1, "deployed".into(), "Install complete".into())]
    );
    env.gitops_ok(&["helm", "upgrade", "-i", "web", chart, "-n", &ns]);
    assert_eq!(env.history(&ns, "web").len(), 2);
    // --history-max keeps the latest revisions only.
    for _ in 0..2 {
        env.gitops_ok(&[
            "helm",
            "upgrade",
            "web",
            chart,
            "-n",
            &ns,
            "--history-max",
            "2",
        ]);
    }
    let revisions: Vec<i64> = env.history(&ns, "web").iter().map(|h| h.0).collect();
    assert_eq!(revisions, [3, 4]);

    // An upgrade without values keeps the current ones, as helm's; with values, only those.
    env.gitops_ok(&[
        "helm",
        "upgrade",
        "web",
        chart,
        "-n",
        &ns,
        "--set",
        "message=kept",
    ]);
    env.gitops_ok(&["helm", "upgrade", "web", chart, "-n", &ns]);
    assert_eq!(
        env.helm_json(&["get", "values", "web", "-n", &ns, "-o", "json"]),
        json!({"message": "kept"})
    );
    env.helm(&["upgrade", "web", chart, "-n", &ns]);
    assert_eq!(
        env.helm_json(&["get", "values", "web", "-n", &ns, "-o", "json"]),
        json!({"message": "kept"})
    );
    env.gitops_ok(&[
        "helm", "upgrade", "web", chart, "-n", &ns, "--set", "size=2",
    ]);
    assert_eq!(
        env.helm_json(&["get", "values", "web", "-n", &ns, "-o", "json"]),
        json!({"size": 2})
    );
    assert_eq!(
        env.configmap(&ns, "web-config")
            .await
            .unwrap()
            .data
            .unwrap()["message"],
        "hello"
    );

    // Installing a name in use fails, naming the release; so does a missing release or chart.
    let run = env.gitops(&["helm", "install", "web", chart, "-n", &ns]);
    assert!(!run.ok, "{run}");
    assert!(run.stderr.contains("\"web\""), "{run}");
    assert!(run.stderr.contains("name is in use"), "{run}");
    let run = env.gitops(&["helm", "rollback", "nothing", "-n", &ns]);
    assert!(!run.ok, "{run}");
    assert!(run.stderr.contains("nothing"), "{run}");
    let run = env.gitops(&["helm", "install", "other", "/no/such/chart", "-n", &ns]);
    assert!(!run.ok, "{run}");
    assert!(run.stderr.contains("/no/such/chart"), "{run}");
    let run = env.gitops(&["helm", "list", "-n", &ns, "-o", "xml"]);
    assert!(!run.ok, "{run}");
    // The failed commands recorded nothing.
    assert_eq!(
        env.history(&ns, "web").last().unwrap(),
        &(8, "deployed".into(), "Upgrade complete".into())
    );
}

/// A Secret whose generated password `lookup` keeps across upgrades, and a ConfigMap naming the
/// release namespace as the cluster reports it.
const AUTH: &str = r#"{{- $name := printf "%s-auth" .Release.Name }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
type: Opaque
data:
  {{- if $existing }}
  password: {{ index $existing.data "password" }}
  {{- else }}
  password: {{ randAlphaNum 20 | b64enc }}
  {{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-seen
data:
  namespace: {{ (lookup "v1" "Namespace" "" .Release.Namespace).metadata.name | quote }}
  revision: {{ .Release.Revision | quote }}
"#;

#[tokio::test]
async fn lookup_reads_the_release_namespace_and_keeps_a_password() {
    let Some(env) = Env::new() else {
        return;
    };
    let ns = env.kube.namespace_with_prefix("clihelmlookup").await;
    let root = env.dir.path().join("vault");
    write(
        &root,
        "Chart.yaml",
        "apiVersion: v2\nname: vault\nversion: 1.0.0\n",
    );
    write(&root, "templates/auth.yaml", AUTH);
    let chart = root.to_str().unwrap();
    let client = env.kube.client().await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, &ns);
    let password = || async {
        let secret = secrets.get("app-auth").await.unwrap();
        secret.data.unwrap()["password"].0.clone()
    };

    env.gitops_ok(&["helm", "install", "app", chart, "-n", &ns]);
    let first = password().await;
    assert_eq!(first.len(), 20);
    let seen = env.configmap(&ns, "app-seen").await.unwrap().data.unwrap();
    assert_eq!(seen["namespace"], ns);

    // Our upgrade reads the Secret and keeps the password; so does helm's after it.
    env.gitops_ok(&["helm", "upgrade", "app", chart, "-n", &ns]);
    assert_eq!(password().await, first);
    assert_eq!(
        env.configmap(&ns, "app-seen").await.unwrap().data.unwrap()["revision"],
        "2"
    );
    env.helm(&["upgrade", "app", chart, "-n", &ns]);
    assert_eq!(password().await, first);
    env.gitops_ok(&["helm", "upgrade", "app", chart, "-n", &ns]);
    assert_eq!(password().await, first);
    assert_eq!(env.history(&ns, "app").len(), 4);

    // Namespaced objects of another namespace are refused, with the reason.
    write(
        &root,
        "templates/nosy.yaml",
        "{{- $x := lookup \"v1\" \"Secret\" \"kube-system\" \"token\" }}\n",
    );
    let run = env.gitops(&["helm", "upgrade", "app", chart, "-n", &ns]);
    assert!(!run.ok, "{run}");
    assert!(
        run.stderr
            .contains("may only look up namespaced objects of its own namespace"),
        "{run}"
    );
    assert!(run.stderr.contains("kube-system"), "{run}");
    assert_eq!(password().await, first);
}

const TEST_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: registry.example/test:1
"#;

/// Runs `command` in a blocking thread while playing the missing kubelet: the test Pod
/// `pod` in `ns` succeeds once it appears.
async fn run_with_passing_pod(env: &Env, mut command: Command, ns: &str, pod: &str) -> Run {
    let run = tokio::task::spawn_blocking(move || output(&mut command));
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.kube.client().await, ns);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pods.get_opt(pod).await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "no pod {pod}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    pods.patch_status(
        pod,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
    )
    .await
    .unwrap();
    run.await.unwrap()
}

#[tokio::test]
async fn test_runs_the_test_hooks_and_prints_what_helm_prints() {
    let Some(env) = Env::new() else {
        return;
    };
    let ns = env.kube.namespace_with_prefix("clihelmtest").await;
    let reference = env.kube.namespace_with_prefix("clihelmtestref").await;
    let chart_dir = chart(env.dir.path());
    write(&chart_dir, "templates/tests/pod.yaml", TEST_POD);
    let chart = chart_dir.to_str().unwrap();
    // `--wait` on objects that are ready at once.
    let install = [
        "helm",
        "install",
        "web",
        chart,
        "--wait",
        "--timeout",
        "30s",
    ];
    env.gitops_ok(&[&install[..], &["-n", &ns]].concat());
    env.helm(&[&install[1..], &["-n", &reference]].concat());

    let ours = run_with_passing_pod(
        &env,
        env.gitops_command(&["helm", "test", "web", "-n", &ns]),
        &ns,
        "web-test",
    )
    .await;
    assert!(ours.ok, "{ours}");
    let theirs = run_with_passing_pod(
        &env,
        env.helm_command(&["test", "web", "-n", &reference]),
        &reference,
        "web-test",
    )
    .await;
    assert!(theirs.ok, "{theirs}");
    assert!(
        ours.stdout.contains("Phase:          Succeeded\n"),
        "{ours}"
    );
    assert_eq!(masked_status(&ours.stdout), masked_status(&theirs.stdout));
    // helm sees the run recorded.
    let status = env.helm_json(&["status", "web", "-n", &ns, "-o", "json"]);
    let hooks = status["hooks"].as_array().unwrap();
    assert_eq!(hooks[0]["last_run"]["phase"], "Succeeded", "{status}");

    // Rollback and uninstall print what helm prints.
    assert_eq!(
        masked_status(&env.gitops_ok(&["helm", "upgrade", "web", chart, "-n", &ns])),
        masked_status(&env.helm(&["upgrade", "web", chart, "-n", &reference]))
    );
    assert_eq!(
        env.gitops_ok(&["helm", "rollback", "web", "-n", &ns]),
        env.helm(&["rollback", "web", "-n", &reference])
    );
    assert_eq!(
        env.history(&ns, "web").last().unwrap(),
        &(3, "deployed".into(), "Rollback to 1".into())
    );
    assert_eq!(
        env.gitops_ok(&["helm", "uninstall", "web", "-n", &ns, "--keep-history"]),
        env.helm(&["uninstall", "web", "-n", &reference, "--keep-history"])
    );
    assert_eq!(
        env.history(&ns, "web").last().unwrap().1,
        "uninstalled".to_owned()
    );
    // Listed by default (helm v4 lists every status) and with --uninstalled, by both.
    for flags in [
        &[][..],
        &["--uninstalled"],
        &["--superseded"],
        &["--deployed"],
        &["-q"],
        &["--superseded", "--no-headers"],
    ] {
        let args = [&["list", "-n", ns.as_str()][..], flags].concat();
        assert_eq!(
            env.gitops_ok(&[&["helm"][..], &args].concat()),
            env.helm(&args),
            "{flags:?}"
        );
    }
    let uninstalled = env.gitops_ok(&["helm", "list", "-n", &ns, "--uninstalled", "--no-headers"]);
    assert!(uninstalled.starts_with("web\t"), "{uninstalled}");
}
