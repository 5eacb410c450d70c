//! The controller under faults, against the real test servers: an object whose pass
//! panicked, a notification receiver that never answers, a large render, and the tenancy
//! refusals (each ends Stalled with a clear message).
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::time::{Duration, Instant};

use gitops_core::Applier;
use gitops_flux::{FluxObject, GitRepository, ImageUpdateAutomation, Kustomization};
use gitops_kube::KubeApplier;
use gitops_testenv::Process;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

mod support;

fn start_controller(kubeconfig: &Path, storage: &Path, metrics: u16, extra: &[&str]) -> Process {
    let mut command = support::controller();
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--storage-path")
        .arg(storage)
        .args([
            "--install-crds",
            "--allow-insecure-http",
            "--leader-elect",
            "false",
        ])
        .args(["--requeue-dependency", "1s"])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
        .args([
            "--receiver-addr",
            &format!("127.0.0.1:{}", support::free_port()),
        ])
        .args(extra)
        .env("RUST_LOG", "info,kube=warn")
        .current_dir(support::workspace_root());
    let name = format!(
        "controller-{}",
        storage.file_name().unwrap().to_string_lossy()
    );
    Process::spawn(&name, command, storage.parent().unwrap()).unwrap()
}

async fn namespace(client: &kube::Client, name: &str) {
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
}

/// `/healthz`, with how long it took to answer.
async fn healthz(port: u16) -> (String, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    (response, started.elapsed())
}

/// A receiver that accepts connections and never answers (a stalled Slack).
async fn stalled_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    url
}

/// One worker (`--concurrent 1`): a Kustomization whose pass panicked (its interval is past
/// what a duration or an `Instant` can hold) is listed first; the others still become Ready
/// promptly though every event goes to a receiver that never answers, and `/healthz` keeps
/// answering during a large render.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_object_and_a_stalled_receiver_do_not_stop_the_others() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let client = kube_env.client().await;
    gitops_flux::crds::install(&client).await.unwrap();
    namespace(&client, "faults").await;
    let mut big = String::new();
    for i in 0..1500 {
        big.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-{i}\ndata:\n  key: value-{i}\n"
        ));
    }
    let repo = git.create_repo("faults").unwrap();
    let commit = repo
        .commit_files(
            "main",
            &[
                (
                    "small/cm.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: small\ndata:\n  a: b\n",
                ),
                ("big/all.yaml", big.as_str()),
                (
                    "big/kustomization.yaml",
                    "resources: [all.yaml]\ncommonLabels: {size: big}\n",
                ),
            ],
            "small and big",
        )
        .unwrap();
    let hook = stalled_receiver().await;
    let storage = tempfile::tempdir().unwrap();
    let metrics = support::free_port();
    let controller = start_controller(
        kube_env.kubeconfig_path(),
        &storage.path().join("faults"),
        metrics,
        &["--concurrent", "1"],
    );
    let yaml = format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{name: git-credentials, namespace: faults}}
stringData: {{username: {user}, password: {password}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: stalled, namespace: faults}}
spec: {{type: slack, address: "{hook}"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: everything, namespace: faults}}
spec:
  providerRef: {{name: stalled}}
  eventSeverity: info
  eventSources: [{{kind: Kustomization, name: "*"}}, {{kind: GitRepository, name: "*"}}]
"#,
        user = git.http_username(),
        password = git.http_password(),
    );
    let applier = KubeApplier::new(client.clone());
    applier
        .apply(&support::objects(&yaml), &Default::default())
        .await
        .unwrap();
    support::eventually(
        &controller,
        "the Alert",
        Duration::from_secs(90),
        || async {
            let api: Api<gitops_flux::Alert> = Api::namespaced(client.clone(), "faults");
            api.get("everything").await.ok().filter(|a| a.is_ready())
        },
    )
    .await;
    let flux = format!(
        r#"
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: a-huge-interval, namespace: faults}}
spec: {{interval: 6000000000000000h, path: ./small, prune: false, sourceRef: {{kind: GitRepository, name: repo}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: b-overflowing-interval, namespace: faults}}
spec: {{interval: 3000000000000000h, path: ./small, prune: false, sourceRef: {{kind: GitRepository, name: repo}}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: repo, namespace: faults}}
spec: {{interval: 10m, url: "{url}", ref: {{branch: main}}, secretRef: {{name: git-credentials}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: small, namespace: faults}}
spec: {{interval: 10m, path: ./small, prune: true, targetNamespace: faults, sourceRef: {{kind: GitRepository, name: repo}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: big, namespace: faults}}
spec: {{interval: 10m, path: ./big, prune: true, targetNamespace: faults, sourceRef: {{kind: GitRepository, name: repo}}}}
"#,
        url = repo.http_url(),
    );
    let started = Instant::now();
    applier
        .apply(&support::objects(&flux), &Default::default())
        .await
        .unwrap();
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), "faults");
    let revision = format!("main@sha1:{commit}");
    // /healthz answers all along, the large render included.
    let slowest = std::sync::Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let (kustomizations, revision) = (&kustomizations, &revision);
    for name in ["small", "big"] {
        let what = format!("{name} to be Ready");
        support::eventually(&controller, &what, Duration::from_secs(60), || {
            let slowest = std::sync::Arc::clone(&slowest);
            async move {
                let (response, took) = healthz(metrics).await;
                assert!(response.starts_with("HTTP/1.1 200"), "{response}");
                {
                    let mut max = slowest.lock().unwrap();
                    *max = (*max).max(took);
                }
                let ks = kustomizations.get(name).await.ok()?;
                (ks.is_ready() && ks.revision()? == *revision).then_some(())
            }
        })
        .await;
    }
    let slowest = *slowest.lock().unwrap();
    let took = started.elapsed();
    println!("small and big Ready after {took:?}; slowest /healthz {slowest:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "/healthz took {slowest:?}"
    );
    // The objects with a bad interval were reconciled (or recorded as failed), not lost.
    for name in ["a-huge-interval", "b-overflowing-interval"] {
        let ks = support::eventually(
            &controller,
            &format!("{name} to have a status"),
            Duration::from_secs(30),
            || async {
                kustomizations
                    .get(name)
                    .await
                    .ok()
                    .filter(|k| k.ready().is_some())
            },
        )
        .await;
        println!("{name}: {:?}", ks.ready());
    }
    assert!(
        !controller.log().contains("a worker stopped"),
        "{}",
        controller.log()
    );
}

/// Flux's tenancy rules, each refusal Stalled with a clear message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_refusals_end_stalled() {
    let Some(kube_env) = gitops_testenv::require_kube() else {
        return;
    };
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let client = kube_env.client().await;
    gitops_flux::crds::install(&client).await.unwrap();
    namespace(&client, "tenant-a").await;
    namespace(&client, "tenant-b").await;
    let repo = git.create_repo("tenancy").unwrap();
    repo.commit_files(
        "main",
        &[(
            "apps/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )],
        "one",
    )
    .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let controller = start_controller(
        kube_env.kubeconfig_path(),
        &storage.path().join("tenancy"),
        support::free_port(),
        // Its own shard: the other test's controller, on the same API server, must not
        // reconcile these objects (it allows cross-namespace references), nor this one theirs.
        &["--no-cross-namespace-refs", "--shard", "tenancy"],
    );
    let yaml = format!(
        r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: local-disk, namespace: tenant-a, labels: {{sharding.fluxcd.io/key: tenancy}}}}
spec: {{interval: 10m, url: "file:///etc", ref: {{branch: main}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: git-credentials, namespace: tenant-b}}
stringData: {{username: {user}, password: {password}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: b-repo, namespace: tenant-b, labels: {{sharding.fluxcd.io/key: tenancy}}}}
spec: {{interval: 10m, url: "{url}", ref: {{branch: main}}, secretRef: {{name: git-credentials}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: borrows-b, namespace: tenant-a, labels: {{sharding.fluxcd.io/key: tenancy}}}}
spec:
  interval: 1m
  sourceRef: {{kind: GitRepository, name: b-repo, namespace: tenant-b}}
  git: {{commit: {{author: {{name: bot, email: bot@example.com}}}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: climbs-out, namespace: tenant-b, labels: {{sharding.fluxcd.io/key: tenancy}}}}
spec:
  interval: 1m
  sourceRef: {{kind: GitRepository, name: b-repo}}
  git: {{commit: {{author: {{name: bot, email: bot@example.com}}}}}}
  update: {{path: ../.., strategy: Setters}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: uses-b, namespace: tenant-a, labels: {{sharding.fluxcd.io/key: tenancy}}}}
spec: {{interval: 10m, path: ./apps, prune: true, sourceRef: {{kind: GitRepository, name: b-repo, namespace: tenant-b}}}}
"#,
        user = git.http_username(),
        password = git.http_password(),
        url = repo.http_url(),
    );
    KubeApplier::new(client.clone())
        .apply(&support::objects(&yaml), &Default::default())
        .await
        .unwrap();
    async fn stalled<K>(controller: &Process, api: Api<K>, name: &str, needle: &str)
    where
        K: FluxObject + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let message = support::eventually(
            controller,
            &format!("{name} to stall"),
            Duration::from_secs(90),
            || async {
                let object = api.get(name).await.ok()?;
                object
                    .conditions()
                    .iter()
                    .find(|c| c.type_ == "Stalled" && c.status == "True")
                    .map(|c| c.message.clone())
            },
        )
        .await;
        println!("{name}: {message}");
        assert!(message.contains(needle), "{name}: {message}");
    }
    stalled(
        &controller,
        Api::<GitRepository>::namespaced(client.clone(), "tenant-a"),
        "local-disk",
        "must be http, https or ssh",
    )
    .await;
    let a_automations = Api::<ImageUpdateAutomation>::namespaced(client.clone(), "tenant-a");
    stalled(
        &controller,
        a_automations,
        "borrows-b",
        "must be in the ImageUpdateAutomation's namespace",
    )
    .await;
    let b_automations = Api::<ImageUpdateAutomation>::namespaced(client.clone(), "tenant-b");
    stalled(&controller, b_automations, "climbs-out", "update.path").await;
    stalled(
        &controller,
        Api::<Kustomization>::namespaced(client.clone(), "tenant-a"),
        "uses-b",
        "cross-namespace references are disabled",
    )
    .await;
}
