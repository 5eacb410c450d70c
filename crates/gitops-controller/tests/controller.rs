//! The controller end to end, against the real test servers: a Git repository laid out
//! like the sample (infra → security → apps, a SOPS Secret), Flux objects written in both the
//! beta and the v1 API versions, then a push that removes an app, a hand edit, a new image tag
//! and the notifications a local receiver gets.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gitops_core::Applier;
use gitops_flux::{FluxObject, GitRepository, Kustomization};
use gitops_kube::KubeApplier;
use gitops_testenv::Process;
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

mod support;

/// The ports a controller serves on, free a moment ago.
#[derive(Clone, Copy)]
struct Ports {
    metrics: u16,
    receiver: u16,
}

impl Ports {
    fn free() -> Self {
        let free = || {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        Self {
            metrics: free(),
            receiver: free(),
        }
    }
}

/// Starts the controller binary; it stops when the returned process is dropped, or when the test
/// process dies.
fn start_controller(kubeconfig: &Path, storage: &Path, ports: Ports, extra: &[&str]) -> Process {
    let mut command = support::controller();
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--storage-path")
        .arg(storage)
        .args(["--install-crds", "--allow-insecure-http"])
        .args(["--requeue-dependency", "1s"])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", ports.metrics)])
        .args(["--receiver-addr", &format!("127.0.0.1:{}", ports.receiver)])
        .args(extra)
        .env("RUST_LOG", "info,kube=warn")
        .current_dir(support::workspace_root());
    let name = format!(
        "controller-{}",
        storage.file_name().unwrap().to_string_lossy()
    );
    Process::spawn(&name, command, storage.parent().unwrap()).unwrap()
}

/// Runs `gitops get all` and checks each named row says Ready `True`.
fn get_all_shows_ready(kubeconfig: &Path, names: &[&str]) {
    get_shows_ready(kubeconfig, "all", "flux-system", names);
}

/// Runs `gitops get WHAT -n NAMESPACE` and checks each named row says Ready `True`.
fn get_shows_ready(kubeconfig: &Path, what: &str, namespace: &str, names: &[&str]) {
    let listed = support::cli()
        .args(["get", what, "-n", namespace, "--kubeconfig"])
        .arg(kubeconfig)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&listed.stdout).to_string();
    println!("gitops get {what}:\n{table}");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    for name in names {
        let row = table
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row in:\n{table}"));
        assert!(row.contains("   True   "), "{row}");
    }
}

/// Polls `check` for up to 90 s until it returns `Some`, or fails with the controller's log.
async fn eventually<T, F, Fut>(controller: &Process, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    support::eventually(controller, what, Duration::from_secs(90), check).await
}

/// A local webhook receiver standing in for Slack and friends: keeps every JSON body.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let sink = Arc::clone(&sink);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let sink = Arc::clone(&sink);
                        async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                                sink.lock().unwrap().push(value);
                            }
                            Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Full::new(
                                hyper::body::Bytes::from_static(b"ok"),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, received)
}

async fn http_get(port: u16, path: &str) -> String {
    http_request(port, "GET", path, &[], "").await
}

/// One HTTP/1.1 request over a fresh connection; the whole response as text.
async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn deployment_image(deployment: &Deployment) -> String {
    deployment.spec.template.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_objects_converge_prune_correct_drift_and_follow_new_images() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let Some(registries) = gitops_testenv::require_registry() else {
        return;
    };
    let registry = &registries.basic;
    let client = kube_env.client().await;
    let image = format!("{}/platform/api-gateway", registry.addr());
    registry
        .push_image("platform/api-gateway", "1.4.2", CONFIG, b"1.4.2", &[])
        .await
        .unwrap();

    // 1. The fleet repository: the sample (`wait` off for apps), with the gateway's image in
    //    the test registry.
    let mut files = support::sample_files();
    files.insert(
        "apps/api-gateway/deployment.yaml".into(),
        files["apps/api-gateway/deployment.yaml"]
            .replace("registry.example.com/platform/api-gateway", &image),
    );
    let repo = git.create_repo("fleet").unwrap();
    let listed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let first_commit = repo.commit_files("main", &listed, "fleet").unwrap();

    // 2. The cluster side: namespace, decryption key, Git credentials, the receiver.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "flux-system"}})).unwrap(),
        )
        .await
        .unwrap();
    let dockerconfig = json!({"auths": {registry.addr(): {
        "username": registry.username(), "password": registry.password()}}})
    .to_string();
    support::create_secrets(
        &client,
        "flux-system",
        &[
            ("sops-age", json!({"age.agekey": support::sample_age_key()})),
            (
                "git-credentials",
                json!({"username": git.http_username(), "password": git.http_password()}),
            ),
            ("registry", json!({".dockerconfigjson": dockerconfig})),
        ],
    )
    .await;
    let (hook, received) = receiver().await;

    // 3. The controller.
    let storage = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let metrics_port = ports.metrics;
    // JSON log lines, as in a cluster, so that `gitops logs` can read them at the end.
    let controller = start_controller(
        kube_env.kubeconfig_path(),
        &storage.path().join("storage"),
        ports,
        &["--log-encoding", "json"],
    );

    // 4. Flux's objects: the GitRepository and the Provider in their beta versions, the
    //    Kustomizations as the repository has them (v1). Applied with our own applier.
    let applier = KubeApplier::new(client.clone());
    // The controller installs the CRDs too; installing them here first (idempotent) means the
    // applier's discovery sees every kind established.
    gitops_flux::crds::install(&client).await.unwrap();
    let flux_objects = format!(
        r#"
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: GitRepository
metadata: {{name: flux-system, namespace: flux-system}}
spec:
  interval: 1s
  url: {url}
  ref: {{branch: main}}
  secretRef: {{name: git-credentials}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: receiver, namespace: flux-system}}
spec: {{type: generic, address: "{hook}"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: everything, namespace: flux-system}}
spec:
  providerRef: {{name: receiver}}
  eventSeverity: info
  eventSources:
  - {{kind: GitRepository, name: "*"}}
  - {{kind: Kustomization, name: "*"}}
  - {{kind: ImagePolicy, name: "*"}}
  - {{kind: ImageUpdateAutomation, name: "*"}}
"#,
        url = repo.http_url(),
    );
    let mut to_apply = support::objects(&flux_objects);
    to_apply.extend(support::sample_kustomizations(&files));
    // The Alert must exist before the first events, or they go nowhere.
    applier
        .apply(&to_apply[1..3], &Default::default())
        .await
        .unwrap();
    eventually(&controller, "the Alert to be ready", || async {
        let api: Api<gitops_flux::Alert> = Api::namespaced(client.clone(), "flux-system");
        api.get("everything").await.ok().filter(|a| a.is_ready())
    })
    .await;
    applier.apply(&to_apply, &Default::default()).await.unwrap();

    // 5. Convergence: every Kustomization Ready at the pushed revision, objects present,
    //    the Secret decrypted, variables substituted.
    let revision = format!("main@sha1:{first_commit}");
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), "flux-system");
    for name in ["infra", "security", "apps"] {
        let ks =
            eventually(
                &controller,
                &format!("{name} to apply {revision}"),
                || async {
                    kustomizations.get(name).await.ok().filter(|k| {
                        k.is_ready() && k.revision().as_deref() == Some(revision.as_str())
                    })
                },
            )
            .await;
        let status = ks.status.unwrap();
        assert!(
            !status.inventory.unwrap().entries.is_empty(),
            "{name} has an inventory"
        );
        assert_eq!(
            status.last_attempted_revision.as_deref(),
            Some(revision.as_str())
        );
    }
    let sources: Api<GitRepository> = Api::namespaced(client.clone(), "flux-system");
    let source = sources.get("flux-system").await.unwrap();
    assert_eq!(source.revision().as_deref(), Some(revision.as_str()));
    assert!(source.is_ready());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "apps");
    let gateway = deployments.get("api-gateway").await.unwrap();
    assert_eq!(gateway.spec.replicas, Some(2), "substituted");
    assert_eq!(deployment_image(&gateway), format!("{image}:1.4.2"));
    assert!(
        deployments
            .get_opt("api-enrichment")
            .await
            .unwrap()
            .is_some()
    );
    let kafka: Api<Secret> = Api::namespaced(client.clone(), "kafka");
    let credentials = kafka.get("kafka-credentials").await.unwrap();
    let username = &credentials.data.as_ref().unwrap()["username"].0;
    assert_eq!(
        String::from_utf8_lossy(username),
        "api-platform",
        "decrypted"
    );

    // The CLI's view of the same state, as a user reads it.
    get_all_shows_ready(
        kube_env.kubeconfig_path(),
        &[
            "gitrepository/flux-system",
            "kustomization/infra",
            "kustomization/security",
            "kustomization/apps",
            "provider/receiver",
            "alert/everything",
        ],
    );

    // 6. A push that removes an app: pruned, and the new revision recorded.
    let mut apps = files["apps/kustomization.yaml"].clone();
    apps = apps.replace("  - api-enrichment\n", "");
    let second_commit = repo
        .commit(
            "main",
            &[
                ("apps/kustomization.yaml", Some(apps.as_str())),
                ("apps/api-enrichment/deployment.yaml", None),
                ("apps/api-enrichment/service.yaml", None),
                ("apps/api-enrichment/hpa.yaml", None),
                ("apps/api-enrichment/kustomization.yaml", None),
            ],
            "remove api-enrichment",
        )
        .unwrap();
    let revision = format!("main@sha1:{second_commit}");
    eventually(&controller, "api-enrichment to be pruned", || async {
        let gone = deployments
            .get_opt("api-enrichment")
            .await
            .unwrap()
            .is_none();
        let applied = kustomizations.get("apps").await.ok()?.revision();
        (gone && applied.as_deref() == Some(revision.as_str())).then_some(())
    })
    .await;
    let ks = kustomizations.get("apps").await.unwrap();
    let entries = ks.status.unwrap().inventory.unwrap().entries;
    assert!(
        entries.iter().all(|e| !e.id.contains("api-enrichment")),
        "inventory forgets pruned objects: {entries:?}"
    );

    // 7. A hand edit (as `kubectl edit` makes it): corrected on the next pass, which a requestedAt annotation asks for now.
    deployments
        .patch(
            "api-gateway",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    kustomizations
        .patch(
            "apps",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                gitops_flux::REQUESTED_AT_ANNOTATION: "drift-check"}}})),
        )
        .await
        .unwrap();
    eventually(&controller, "the drift to be corrected", || async {
        let replicas = deployments.get("api-gateway").await.ok()?.spec.replicas;
        let handled = kustomizations
            .get("apps")
            .await
            .ok()?
            .last_handled_reconcile_at()
            .map(str::to_owned);
        (replicas == Some(2) && handled.as_deref() == Some("drift-check")).then_some(())
    })
    .await;
    eventually(&controller, "the drift gauge", || async {
        http_get(metrics_port, "/metrics")
            .await
            .contains(r#"gitops_drift_objects{kind="Kustomization",name="apps",namespace="flux-system"} 1"#)
            .then_some(())
    })
    .await;
    eventually(&controller, "the drift to be reported", || async {
        received
            .lock()
            .unwrap()
            .iter()
            .any(|event| {
                event["involvedObject"]["name"] == "apps"
                    && event["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("Deployment/apps/api-gateway configured"))
            })
            .then_some(())
    })
    .await;

    // 8. A new image tag: scanned, chosen, committed, pushed, fetched and applied.
    let image_objects = format!(
        r#"
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {{name: api-gateway, namespace: flux-system}}
spec: {{image: "{image}", interval: 1s, insecure: true, secretRef: {{name: registry}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {{name: api-gateway, namespace: flux-system}}
spec:
  imageRepositoryRef: {{name: api-gateway}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: fleet, namespace: flux-system}}
spec:
  interval: 1m
  sourceRef: {{kind: GitRepository, name: flux-system}}
  git:
    checkout: {{ref: {{branch: main}}}}
    commit:
      author: {{name: gitops-rs, email: bot@example.com}}
      messageTemplate: "Update images"
    push: {{branch: main}}
  update: {{path: ./apps, strategy: Setters}}
"#
    );
    applier
        .apply(&support::objects(&image_objects), &Default::default())
        .await
        .unwrap();
    registry
        .push_image("platform/api-gateway", "1.5.0", CONFIG, b"1.5.0", &[])
        .await
        .unwrap();
    let updated = eventually(&controller, "the new image to be applied", || async {
        let deployment = deployments.get("api-gateway").await.ok()?;
        (deployment_image(&deployment) == format!("{image}:1.5.0")).then_some(deployment)
    })
    .await;
    assert_eq!(updated.spec.replicas, Some(2));
    let head = git
        .git_command()
        .arg("--git-dir")
        .arg(repo.bare_path())
        .args(["rev-parse", "main"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert_ne!(head, second_commit, "the automation pushed a commit");
    let pushed = git
        .git_command()
        .arg("--git-dir")
        .arg(repo.bare_path())
        .args(["show", "main:apps/api-gateway/deployment.yaml"])
        .output()
        .unwrap();
    let pushed = String::from_utf8_lossy(&pushed.stdout).to_string();
    assert!(
        pushed.contains(&format!("{image}:1.5.0 # {{\"$imagepolicy\"")),
        "{pushed}"
    );
    assert!(
        pushed.contains("replicas: ${gateway_replicas}"),
        "other bytes kept:\n{pushed}"
    );
    let revision = format!("main@sha1:{head}");
    eventually(&controller, "apps at the automation's commit", || async {
        (kustomizations.get("apps").await.ok()?.revision()? == revision).then_some(())
    })
    .await;

    get_all_shows_ready(
        kube_env.kubeconfig_path(),
        &[
            "imagerepository/api-gateway",
            "imagepolicy/api-gateway",
            "imageupdateautomation/fleet",
        ],
    );

    // 9. Notifications: each kind reported through the Alert to the receiver.
    eventually(&controller, "notifications from every kind", || async {
        let events = received.lock().unwrap().clone();
        let kinds: Vec<&str> = events
            .iter()
            .filter_map(|e| e["involvedObject"]["kind"].as_str())
            .collect();
        [
            "GitRepository",
            "Kustomization",
            "ImagePolicy",
            "ImageUpdateAutomation",
        ]
        .iter()
        .all(|kind| kinds.contains(kind))
        .then_some(())
    })
    .await;
    let events = received.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e["involvedObject"]["kind"] == "ImageUpdateAutomation"
                && e["message"].as_str().is_some_and(|m| m.contains("1.5.0"))),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .all(|e| !e.to_string().contains("api-platform")),
        "no decrypted value leaves in a notification"
    );

    // 10. Metrics under Flux's names.
    let metrics = http_get(metrics_port, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for needle in [
        r#"gotk_reconcile_condition{kind="Kustomization",name="apps",namespace="flux-system",type="Ready",status="True"} 1"#,
        "gotk_reconcile_duration_seconds_bucket{",
        r#"gotk_suspend_status{kind="Kustomization",name="apps",namespace="flux-system"} 0"#,
        "gitops_objects_applied_total{",
        "gitops_kube_api_requests_total ",
        "gitops_source_fetch_bytes_total{",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }
    // Every metric the shipped alerts and dashboards use is served.
    for name in gitops_install::monitoring::metric_names() {
        let family = gitops_install::monitoring::family(&name);
        assert!(
            metrics.contains(&format!("# TYPE {family} ")),
            "{name}, used by the alerts or dashboards, is missing from:\n{metrics}"
        );
    }

    // 11. Suspend: the next push is not applied, and the gauge says so.
    kustomizations
        .patch(
            "apps",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    eventually(&controller, "the suspend gauge", || async {
        http_get(metrics_port, "/metrics")
            .await
            .contains(r#"gotk_suspend_status{kind="Kustomization",name="apps",namespace="flux-system"} 1"#)
            .then_some(())
    })
    .await;
    let before = kustomizations.get("apps").await.unwrap().revision();
    let third = repo
        .commit_files(
            "main",
            &[("apps/api-gateway/extra.txt", "not a manifest\n")],
            "noise",
        )
        .unwrap();
    eventually(&controller, "the source to see the new commit", || async {
        let revision = sources.get("flux-system").await.ok()?.revision()?;
        revision.ends_with(&third).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        kustomizations.get("apps").await.unwrap().revision(),
        before,
        "suspended"
    );

    // 12. Deleting a Kustomization prunes what it applied before it goes.
    kustomizations
        .patch(
            "apps",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    eventually(&controller, "apps to resume", || async {
        let revision = kustomizations.get("apps").await.ok()?.revision()?;
        revision.ends_with(&third).then_some(())
    })
    .await;
    kustomizations
        .delete("apps", &Default::default())
        .await
        .unwrap();
    eventually(&controller, "the apps objects to be pruned", || async {
        let left = deployments
            .list(&Default::default())
            .await
            .ok()?
            .items
            .len();
        let gone = kustomizations.get_opt("apps").await.ok()?.is_none();
        (left == 0 && gone).then_some(())
    })
    .await;
    assert!(
        kafka.get_opt("kafka-credentials").await.unwrap().is_some(),
        "other Kustomizations' objects stay"
    );

    // 12b. Deleting a GitRepository removes its cache and artifacts from storage.
    let repo_dir = storage
        .path()
        .join("storage/gitrepository/flux-system/flux-system");
    assert!(repo_dir.is_dir(), "artifacts under {}", repo_dir.display());
    sources
        .delete("flux-system", &Default::default())
        .await
        .unwrap();
    eventually(&controller, "the GitRepository's storage to go", || async {
        (!repo_dir.exists()).then_some(())
    })
    .await;

    // 13. A second replica waits for the Lease; stopping the first gracefully hands it over.
    let standby_ports = Ports::free();
    let standby_port = standby_ports.metrics;
    let standby = start_controller(
        kube_env.kubeconfig_path(),
        &storage.path().join("standby"),
        standby_ports,
        &[],
    );
    eventually(&standby, "the standby to wait for the Lease", || async {
        standby
            .log()
            .contains("waiting for leadership")
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        http_get(standby_port, "/readyz")
            .await
            .starts_with("HTTP/1.1 503"),
        "the standby is not ready while another replica leads:\n{}",
        standby.log()
    );
    assert!(!standby.log().contains("leading"), "{}", standby.log());
    controller.interrupt();
    eventually(&standby, "the standby to take over", || async {
        http_get(standby_port, "/readyz")
            .await
            .starts_with("HTTP/1.1 200")
            .then_some(())
    })
    .await;
    assert!(
        controller.log().contains("stopping"),
        "{}",
        controller.log()
    );

    // 14. `gitops logs` reads the controller's JSON lines and keeps those about one object.
    let log_file = storage.path().join("controller.jsonl");
    std::fs::write(&log_file, controller.log()).unwrap();
    let logs = support::cli()
        .args([
            "logs",
            "--kind",
            "kustomization",
            "--name",
            "apps",
            "-n",
            "flux-system",
        ])
        .arg("--from-file")
        .arg(&log_file)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&logs.stdout).to_string();
    assert!(
        logs.status.success(),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    assert!(
        shown
            .lines()
            .any(|l| l.contains(" info Kustomization/flux-system/apps applied ")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .all(|l| l.contains(" Kustomization/flux-system/apps ")),
        "{shown}"
    );
    let errors = support::cli()
        .args(["logs", "--level", "error", "--from-file"])
        .arg(&log_file)
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&errors.stdout).to_string();
    assert!(errors.lines().all(|l| l.contains(" error ")), "{errors}");
    drop(controller);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_reconciles_only_its_labelled_objects() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let client = kube_env.client().await;
    gitops_flux::crds::install(&client).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shards"}})).unwrap(),
        )
        .await
        .unwrap();
    let repo = git.create_repo("sharded").unwrap();
    let commit = repo
        .commit_files(
            "main",
            &[
                (
                    "config/settings.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: ${mode}\n  owner: ${owner:=platform}\n",
                ),
                (
                    "slow/deployment.yaml",
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: never-ready\nspec:\n  selector:\n    matchLabels: {app: never-ready}\n  template:\n    metadata:\n      labels: {app: never-ready}\n    spec:\n      containers:\n      - {name: app, image: registry.invalid/app:1}\n",
                ),
                (
                    "components/audit/kustomization.yaml",
                    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n- target: {kind: ConfigMap}\n  patch: |-\n    - {op: add, path: /data/audit, value: enabled}\n",
                ),
            ],
            "settings and a component",
        )
        .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let shard = start_controller(
        kube_env.kubeconfig_path(),
        &storage.path().join("s"),
        ports,
        &[
            "--shard",
            "blue",
            "--lease-namespace",
            "shards",
            "--log-encoding",
            "json",
        ],
    );

    let objects_yaml = format!(
        r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: blue, namespace: shards, labels: {{sharding.fluxcd.io/key: blue}}}}
spec: {{interval: 10m, url: "{url}", ref: {{branch: main}}, secretRef: {{name: git-credentials}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: blue, namespace: shards, labels: {{sharding.fluxcd.io/key: blue}}}}
spec:
  interval: 1m
  path: ./config
  prune: true
  targetNamespace: shards
  wait: true
  timeout: 30s
  retryInterval: 2s
  healthChecks: [{{apiVersion: v1, kind: ConfigMap, name: vars, namespace: shards}}]
  namePrefix: blue-
  patches:
  - target: {{kind: ConfigMap, name: settings}}
    patch: |
      apiVersion: v1
      kind: ConfigMap
      metadata: {{name: settings}}
      data: {{patched: "yes"}}
  components: [../components/audit, ../components/absent]
  ignoreMissingComponents: true
  commonMetadata:
    labels: {{team: blue}}
    annotations: {{contact: platform@example.com}}
  postBuild:
    substituteFrom:
    - {{kind: ConfigMap, name: vars}}
    - {{kind: Secret, name: absent, optional: true}}
  sourceRef: {{kind: GitRepository, name: blue}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: blue-slow, namespace: shards, labels: {{sharding.fluxcd.io/key: blue}}}}
spec:
  interval: 1m
  path: ./slow
  targetNamespace: shards
  wait: true
  timeout: 2m
  sourceRef: {{kind: GitRepository, name: blue}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: green, namespace: shards, labels: {{sharding.fluxcd.io/key: green}}}}
spec: {{interval: 1m, url: "{url}", ref: {{branch: main}}}}
"#,
        // Flux allows only http(s) and ssh: the test git server's http side, with its basic auth.
        url = repo.http_url(),
    );
    let credentials = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: git-credentials, namespace: shards}}\nstringData: {{username: {}, password: {}}}\n",
        git.http_username(),
        git.http_password()
    );
    KubeApplier::new(client.clone())
        .apply(&support::objects(&credentials), &Default::default())
        .await
        .unwrap();
    let vars = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vars, namespace: shards}\ndata: {mode: sharded}\n";
    KubeApplier::new(client.clone())
        .apply(&support::objects(vars), &Default::default())
        .await
        .unwrap();
    KubeApplier::new(client.clone())
        .apply(&support::objects(&objects_yaml), &Default::default())
        .await
        .unwrap();
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), "shards");
    let revision = format!("main@sha1:{commit}");
    eventually(&shard, "the blue shard to apply", || async {
        let ks = kustomizations.get("blue").await.ok()?;
        (ks.is_ready() && ks.revision()? == revision).then_some(())
    })
    .await;
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "shards");
    // The spec's own additions to the build, as Flux's generator makes them.
    let settings = maps.get("blue-settings").await.unwrap();
    let labels = settings.metadata.labels.clone().unwrap_or_default();
    let annotations = settings.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("blue"));
    assert_eq!(
        annotations.get("contact").map(String::as_str),
        Some("platform@example.com")
    );
    let settings = settings.data.unwrap();
    assert_eq!(
        settings["mode"], "sharded",
        "substituted from the ConfigMap"
    );
    assert_eq!(
        settings["owner"], "platform",
        "default of an unset variable"
    );
    assert_eq!(settings["patched"], "yes", "spec.patches applied");
    assert_eq!(settings["audit"], "enabled", "spec.components applied");
    assert!(
        maps.get_opt("settings").await.unwrap().is_none(),
        "namePrefix renamed the object"
    );
    let ks = kustomizations.get("blue").await.unwrap();
    assert!(
        ks.conditions()
            .iter()
            .any(|c| c.type_ == "Healthy" && c.status == "True"),
        "{:?}",
        ks.conditions()
    );
    // A pass that waits (no kubelet here, so the Deployment never becomes available) shows
    // that work is under way: Reconciling, and Ready Unknown, naming the revision.
    let progress = eventually(&shard, "blue-slow to report progress", || async {
        let ks = kustomizations.get("blue-slow").await.ok()?;
        let reconciling = ks
            .conditions()
            .iter()
            .find(|c| c.type_ == "Reconciling" && c.status == "True")?
            .clone();
        let ready = ks.ready()?;
        (ready.status == "Unknown").then_some(reconciling)
    })
    .await;
    assert_eq!(progress.reason, "Progressing");
    assert!(progress.message.contains(&revision), "{}", progress.message);

    // A Receiver: a push announced by a signed webhook is fetched and applied at once, though
    // the GitRepository's interval is ten minutes.
    let receiver_yaml = r#"
apiVersion: v1
kind: Secret
metadata: {name: hook-token, namespace: shards}
stringData: {token: s3cret-hook}
---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: blue-push, namespace: shards, labels: {sharding.fluxcd.io/key: blue}}
spec:
  type: generic-hmac
  secretRef: {name: hook-token}
  resources:
  - {kind: GitRepository, name: blue}
  - {kind: Kustomization, name: "*", matchLabels: {sharding.fluxcd.io/key: blue}}
"#;
    KubeApplier::new(client.clone())
        .apply(&support::objects(receiver_yaml), &Default::default())
        .await
        .unwrap();
    let receivers: Api<gitops_flux::Receiver> = Api::namespaced(client.clone(), "shards");
    let path = eventually(&shard, "the Receiver to publish its path", || async {
        let receiver = receivers.get("blue-push").await.ok()?;
        if !receiver.is_ready() {
            return None;
        }
        receiver.status?.webhook_path
    })
    .await;
    assert!(path.starts_with("/hook/") && path.len() == 6 + 64, "{path}");
    get_shows_ready(
        kube_env.kubeconfig_path(),
        "receivers",
        "shards",
        &["blue-push"],
    );
    let pushed = repo
        .commit_files(
            "main",
            &[(
                "config/release.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release\ndata:\n  version: two\n",
            )],
            "release two",
        )
        .unwrap();
    let body = r#"{"ref":"refs/heads/main"}"#;
    let signature = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret-hook").unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let forged = http_request(
        ports.receiver,
        "POST",
        &path,
        &[("X-Signature", "sha256=00")],
        body,
    )
    .await;
    assert!(forged.starts_with("HTTP/1.1 401"), "{forged}");
    let unknown = http_request(ports.receiver, "POST", "/hook/guess", &[], body).await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    let accepted = http_request(
        ports.receiver,
        "POST",
        &path,
        &[("X-Signature", &signature)],
        body,
    )
    .await;
    assert!(accepted.starts_with("HTTP/1.1 200"), "{accepted}");
    assert!(
        accepted.ends_with("reconcile requested for 3 objects"),
        "the GitRepository and both blue Kustomizations: {accepted}"
    );
    let pushed_revision = format!("main@sha1:{pushed}");
    eventually(&shard, "the announced push to be applied", || async {
        let applied = kustomizations.get("blue").await.ok()?.revision()? == pushed_revision;
        let released = maps.get_opt("blue-release").await.ok()??;
        (applied && released.data?.get("version")? == "two").then_some(())
    })
    .await;

    let sources: Api<GitRepository> = Api::namespaced(client.clone(), "shards");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let green = sources.get("green").await.unwrap();
    assert!(
        green.status.is_none(),
        "another shard's object is left alone: {:?}",
        green.status
    );
    assert!(!shard.log().contains("shards/green"), "{}", shard.log());

    // `--log-encoding json`: one JSON object a line, fields kept typed.
    let log = shard.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines.iter().any(|line| line["level"] == "INFO"
            && line["fields"]["message"] == "reconcile requested"
            && line["fields"]["objects"] == 3),
        "{log}"
    );
}
