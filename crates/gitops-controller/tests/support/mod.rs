//! What the controller's integration tests share.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use gitops_core::Object;
use gitops_testenv::Process;

/// The workspace's root, where the sample repository and test keys live.
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.join("../..").canonicalize().unwrap_or(here)
}

/// The controller binary cargo built for these tests.
#[allow(dead_code)]
pub fn controller() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gitops-controller"))
}

// Not every test file runs the CLI.
#[allow(dead_code)]
/// The `gitops` CLI: the binary `cargo test --workspace` built beside the test binaries when
/// there is one, else `cargo run` of it, as a user would type it.
pub fn cli() -> Command {
    let built = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("gitops")))
        .filter(|path| path.is_file());
    match built {
        Some(binary) => Command::new(binary),
        None => {
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .arg("run")
                .arg("--quiet")
                .arg("--manifest-path")
                .arg(workspace_root().join("Cargo.toml"))
                .args(["-p", "gitops-cli", "--"]);
            cargo
        }
    }
}

/// Polls `check` until it returns `Some`; fails after `limit`, or when the controller exits,
/// with the controller's log.
#[allow(dead_code)]
pub async fn eventually<T, F, Fut>(
    controller: &Process,
    what: &str,
    limit: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if let Err(exited) = controller.check_running() {
            panic!("waiting for {what}: {exited}");
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; controller log:\n{}",
            controller.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The objects of a YAML stream written by a test.
#[allow(dead_code)]
pub fn objects(yaml: &str) -> Vec<Object> {
    gitops_core::object::parse_yaml("test", yaml).expect("the test's YAML parses")
}

/// The sample repository's files, relative path → text, with `wait` off for apps: the test API
/// server runs no kube-controller-manager, so no Deployment would ever become Ready.
#[allow(dead_code)]
pub fn sample_files() -> std::collections::BTreeMap<String, String> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        files: &mut std::collections::BTreeMap<String, String>,
    ) {
        for entry in std::fs::read_dir(dir).expect("the sample repository reads") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .expect("below the root")
                    .display()
                    .to_string();
                files.insert(
                    relative,
                    std::fs::read_to_string(&path).expect("a text file"),
                );
            }
        }
    }
    let root = workspace_root().join("examples/sample-repo");
    let mut files = std::collections::BTreeMap::new();
    walk(&root, &root, &mut files);
    let apps = files["clusters/vps/apps.yaml"].replace("wait: true", "wait: false");
    files.insert("clusters/vps/apps.yaml".into(), apps);
    files
}

/// The sample's Kustomizations (`clusters/vps/`), as a user commits them.
#[allow(dead_code)]
pub fn sample_kustomizations(files: &std::collections::BTreeMap<String, String>) -> Vec<Object> {
    ["infra", "security", "apps"]
        .iter()
        .flat_map(|file| objects(&files[&format!("clusters/vps/{file}.yaml")]))
        .collect()
}

/// Creates Secrets in `namespace` from `stringData` maps, as a user would before the first pass.
#[allow(dead_code)]
pub async fn create_secrets(
    client: &kube::Client,
    namespace: &str,
    secrets: &[(&str, serde_json::Value)],
) {
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), namespace);
    for (name, data) in secrets {
        let secret = serde_json::json!({"metadata": {"name": name}, "stringData": data});
        api.create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(secret).expect("a Secret"),
        )
        .await
        .expect("the Secret is created");
    }
}

/// The test age key the sample's SOPS Secret is encrypted to.
#[allow(dead_code)]
pub fn sample_age_key() -> String {
    std::fs::read_to_string(workspace_root().join("examples/test-keys/quickstart.agekey"))
        .expect("the test key reads")
}

/// A kubeconfig for `admin`'s cluster that authenticates with a token the API server issued
/// to the ServiceAccount `namespace/name` (TokenRequest), so requests carry exactly that
/// account's identity, as a Pod's projected token does.
#[allow(dead_code)]
pub async fn as_service_account(
    admin: &kube::Client,
    admin_kubeconfig: &std::path::Path,
    namespace: &str,
    name: &str,
    out: &std::path::Path,
) {
    let accounts: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(admin.clone(), namespace);
    let request = serde_json::from_value(serde_json::json!({"spec": {"expirationSeconds": 3600}}))
        .expect("the test environment answers");
    let issued = accounts
        .create_token_request(name, &kube::api::PostParams::default(), &request)
        .await
        .expect("the test environment answers");
    let token = issued.status.expect("the test environment answers").token;
    let text = std::fs::read_to_string(admin_kubeconfig).expect("the test environment answers");
    let mut config: serde_json::Value =
        serde_yaml_ng::from_str(&text).expect("the test environment answers");
    config["users"][0]["user"] = serde_json::json!({ "token": token });
    std::fs::write(
        out,
        serde_yaml_ng::to_string(&config).expect("the test environment answers"),
    )
    .expect("the test environment answers");
}

/// Starts the controller binary as the installed ServiceAccount (a kubeconfig with its token,
/// written in `work`; no `--install-crds`: `gitops install` did that) with `extra` flags.
/// Returns the process and that kubeconfig.
#[allow(dead_code)]
pub async fn start_installed_controller(
    admin: &kube::Client,
    admin_kubeconfig: &std::path::Path,
    work: &std::path::Path,
    extra: &[&str],
) -> (gitops_testenv::Process, std::path::PathBuf) {
    let kubeconfig = work.join("controller-kubeconfig");
    as_service_account(
        admin,
        admin_kubeconfig,
        "flux-system",
        gitops_install::CONTROLLER,
        &kubeconfig,
    )
    .await;
    let mut command = controller();
    command
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--storage-path")
        .arg(work.join("storage"))
        .args(["--allow-insecure-http", "--requeue-dependency", "1s"])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--receiver-addr", &format!("127.0.0.1:{}", free_port())])
        .args(extra)
        .env("RUST_LOG", "info,kube=warn");
    let process = gitops_testenv::Process::spawn("installed-controller", command, work)
        .expect("the test environment answers");
    (process, kubeconfig)
}

/// Waits until each named Kustomization of `api` is Ready at `revision`.
#[allow(dead_code)]
pub async fn ready_at(
    controller: &Process,
    api: &kube::Api<gitops_flux::Kustomization>,
    names: &[&str],
    revision: &str,
) {
    use gitops_flux::FluxObject as _;
    for name in names {
        eventually(
            controller,
            &format!("{name} ready at {revision}"),
            Duration::from_secs(120),
            || async {
                api.get(name)
                    .await
                    .ok()
                    .filter(|k| k.is_ready() && k.revision().as_deref() == Some(revision))
            },
        )
        .await;
    }
}

/// A port free on 127.0.0.1 at the time of asking.
#[allow(dead_code)]
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("the test environment answers");
    probe
        .local_addr()
        .expect("the test environment answers")
        .port()
}

/// Starts the controller binary with admin rights (`kubeconfig`), installing the CRDs, without
/// leader election, logging at `rust_log`; its log is kept beside `storage` under `name`.
#[allow(dead_code)]
pub fn start_admin_controller(
    name: &str,
    kubeconfig: &std::path::Path,
    storage: &std::path::Path,
    rust_log: &str,
) -> Process {
    let mut command = controller();
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--storage-path")
        .arg(storage)
        .args(["--install-crds", "--leader-elect", "false"])
        .args(["--concurrent", "4"])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--receiver-addr", &format!("127.0.0.1:{}", free_port())])
        .env("RUST_LOG", rust_log)
        .current_dir(workspace_root());
    let dir = storage.parent().expect("storage has a parent");
    Process::spawn(name, command, dir).expect("the controller starts")
}

/// The object once its Ready condition is `status` for its current generation, waiting at
/// most `timeout`.
#[allow(dead_code)]
pub async fn settled<K>(
    controller: &Process,
    api: &kube::Api<K>,
    name: &str,
    status: &str,
    timeout: Duration,
) -> K
where
    K: gitops_flux::FluxObject + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(
        controller,
        &format!("{name} Ready={status}"),
        timeout,
        || async {
            let object = api.get(name).await.ok()?;
            let ready = object.ready()?;
            let current = object.observed_generation() == object.meta().generation;
            (current && ready.status == status).then_some(object)
        },
    )
    .await
}

/// Runs the `helm` binary at `helm`; panics with its stderr when it fails; returns its stdout.
#[allow(dead_code)]
pub fn helm_ok(helm: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(helm).args(args).output().expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("helm prints UTF-8")
}

/// Asks for a pass of `name` (`reconcile.fluxcd.io/requestedAt` = `token`) and returns the
/// object once the controller has handled that request.
#[allow(dead_code)]
pub async fn requested<K>(controller: &Process, api: &kube::Api<K>, name: &str, token: &str) -> K
where
    K: gitops_flux::FluxObject + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({"metadata": {"annotations": {
        gitops_flux::REQUESTED_AT_ANNOTATION: token}}});
    api.patch(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .expect("the request is written");
    eventually(
        controller,
        &format!("{name} handling {token}"),
        Duration::from_secs(60),
        || async {
            let object = api.get(name).await.ok()?;
            (object.last_handled_reconcile_at() == Some(token)).then_some(object)
        },
    )
    .await
}

/// Packages the chart in `chart` into `out` with the real `helm package`, then indexes `out`
/// with `helm repo index`: a chart repository as `helm` makes one.
#[allow(dead_code)]
pub fn publish_chart(helm: &std::path::Path, chart: &std::path::Path, out: &std::path::Path) {
    let (chart, out) = (chart.display().to_string(), out.display().to_string());
    helm_ok(helm, &["package", &chart, "-d", &out]);
    helm_ok(helm, &["repo", "index", &out]);
}

/// What the Helm end-to-end tests stand on: the test API server (Flux's CRDs installed, a
/// fresh namespace), the static web server that serves chart repositories, and the real `helm`.
#[allow(dead_code)]
pub struct HelmWorld {
    /// The test API server.
    pub kube: &'static gitops_testenv::KubeEnv,
    /// Its kubeconfig, for `helm` and the CLI.
    pub kubeconfig: PathBuf,
    /// A client of it.
    pub client: kube::Client,
    /// The namespace of this test.
    pub ns: String,
    /// The web server whose root serves chart repositories.
    pub web: &'static gitops_testenv::StaticEnv,
    /// The real `helm` binary.
    pub helm: PathBuf,
}

/// The [`HelmWorld`] of a test whose namespace starts with `prefix`, or `None` (the test is
/// skipped) when a server is missing outside `GITOPS_TESTENV_REQUIRED`.
#[allow(dead_code)]
pub async fn helm_world(prefix: &str) -> Option<HelmWorld> {
    let kube = gitops_testenv::require_kube()?;
    let web = gitops_testenv::require_static()?;
    let helm = gitops_testenv::require_helm()?;
    let client = kube.client().await;
    gitops_flux::crds::install(&client)
        .await
        .expect("Flux's CRDs install");
    let ns = kube.namespace_with_prefix(prefix).await;
    Some(HelmWorld {
        kube,
        kubeconfig: kube.kubeconfig_path().to_path_buf(),
        client,
        ns,
        web,
        helm,
    })
}
