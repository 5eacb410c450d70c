//! Faults on the real servers, across crates: a Git server that goes down or hangs during a
//! fetch, and two replicas reconciling one Kustomization at once. In each, nothing that is in
//! Git is deleted, nothing another owner holds is touched, and the next pass converges.
//!
//! The Git server is the test environment's git daemon; faults are injected by a TCP relay in
//! front of it that the test can stop (nothing listens: connection refused) or make hang
//! (connections accepted, nothing answered).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gitops::git::{GitSource, Reference};
use gitops::kube::{ConfigMapInventory, KubeApplier};
use gitops::kustomize::KustomizeRenderer;
use gitops::local::{DirectorySource, PlainRenderer};
use gitops::reconcile::{Options, Stage};
use gitops::{Action, InventoryStore, ObjectRef, Reconciler};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay to `target`: `stop` closes the port, `hang` keeps accepting without answering.
struct Relay {
    port: u16,
    target: String,
    hang: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let port = listener.local_addr().expect("a bound listener").port();
        let mut relay = Self {
            port,
            target,
            hang: Arc::new(AtomicBool::new(false)),
            task: None,
        };
        relay.serve(listener);
        relay
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        let hang = Arc::clone(&self.hang);
        self.task = Some(tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if hang.load(Ordering::SeqCst) {
                    held.push(client);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    async fn restart(&mut self) {
        self.stop();
        self.hang.store(false, Ordering::SeqCst);
        // The aborted task dropped its listener; the port is free to bind again.
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }
}

const KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
namespace: {ns}\nresources: [crd.yaml, gadget.yaml, settings.yaml]\n";

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.{ns}.example.com}
spec:
  group: {ns}.example.com
  scope: Cluster
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";

const GADGET: &str =
    "apiVersion: {ns}.example.com/v1\nkind: Gadget\nmetadata: {name: keep-me}\nspec: {size: 1}\n";

fn settings(level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{level: {level}}}\n"
    )
}

async fn live_config(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), ns);
    api.get_opt(name)
        .await
        .expect("the API server answers")
        .map(|cm| {
            cm.data
                .unwrap_or_default()
                .get("level")
                .cloned()
                .unwrap_or_default()
        })
}

async fn gadget_exists(client: &kube::Client, ns: &str) -> bool {
    let resource = kube::api::ApiResource {
        group: format!("{ns}.example.com"),
        version: "v1".into(),
        api_version: format!("{ns}.example.com/v1"),
        kind: "Gadget".into(),
        plural: "gadgets".into(),
    };
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(client.clone(), &resource);
    api.get_opt("keep-me")
        .await
        .expect("the API server answers")
        .is_some()
}

fn me(ns: &str, name: &str) -> ObjectRef {
    ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some(ns),
        name,
    )
}

#[tokio::test]
async fn a_git_server_down_or_hanging_during_a_fetch_deletes_nothing_and_the_next_pass_converges() {
    let (Some(kube), Some(git)) = (
        gitops_testenv::require_kube(),
        gitops_testenv::require_git(),
    ) else {
        return;
    };
    let ns = kube.namespace().await;
    let repo = git.create_repo("faults").unwrap();
    let fill = |text: &str| text.replace("{ns}", &ns);
    repo.commit_files(
        "main",
        &[
            ("app/kustomization.yaml", &fill(KUSTOMIZATION)),
            ("app/crd.yaml", &fill(CRD)),
            ("app/gadget.yaml", &fill(GADGET)),
            ("app/settings.yaml", &settings("info")),
        ],
        "first",
    )
    .unwrap();

    // git://127.0.0.1:<daemon>/<name>.git, reached through the relay.
    let url = repo.git_url();
    let rest = url.strip_prefix("git://").unwrap();
    let (daemon, path) = rest.split_once('/').unwrap();
    let mut relay = Relay::start(daemon.to_owned()).await;
    let relayed = format!("git://127.0.0.1:{}/{path}", relay.port);

    let storage = tempfile::tempdir().unwrap();
    let source = GitSource::new(&relayed, Reference::branch("main"), storage.path())
        .unwrap()
        .with_timeout(Duration::from_secs(3));
    let applier = KubeApplier::new(kube.client().await);
    let client = applier.client().clone();
    let store = Arc::new(ConfigMapInventory::new(
        client.clone(),
        &ns,
        "app-inventory",
    ));
    let reconciler = Reconciler::new(
        me(&ns, "app"),
        Arc::new(source),
        Arc::new(KustomizeRenderer::new()),
        Arc::new(applier),
    )
    .with_inventory_store(store.clone())
    .with_options(Options::default().with_path("app").with_prune(true));

    let first = reconciler.reconcile(None).await.unwrap();
    assert!(gadget_exists(&client, &ns).await);
    let owned = store.load().await.unwrap().unwrap();

    repo.commit_files(
        "main",
        &[("app/settings.yaml", &settings("debug"))],
        "second",
    )
    .unwrap();

    // Down: nothing listens.
    relay.stop();
    let down = reconciler
        .reconcile(Some(&first.revision))
        .await
        .unwrap_err();
    assert_eq!(down.stage, Stage::Fetch, "{down}");
    assert!(
        !down.is_stalled(),
        "a server that is down is transient: {down}"
    );

    // Hanging: accepted, never answered; the fetch gives up within its timeout.
    relay.restart().await;
    relay.hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let hung = reconciler
        .reconcile(Some(&first.revision))
        .await
        .unwrap_err();
    assert_eq!(hung.stage, Stage::Fetch, "{hung}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    // Nothing was touched meanwhile.
    assert!(gadget_exists(&client, &ns).await);
    assert_eq!(
        live_config(&client, &ns, "settings").await.as_deref(),
        Some("info")
    );
    assert_eq!(store.load().await.unwrap().unwrap(), owned);

    // Back: the next pass applies the new commit and deletes nothing.
    relay.restart().await;
    let back = reconciler.reconcile(Some(&first.revision)).await.unwrap();
    assert_ne!(back.revision, first.revision);
    assert_eq!(back.changes.count(Action::Deleted), 0, "{:?}", back.changes);
    assert!(gadget_exists(&client, &ns).await);
    assert_eq!(
        live_config(&client, &ns, "settings").await.as_deref(),
        Some("debug")
    );
    relay.stop();
}

/// Two replicas without leader election (the worst case: a split brain) reconcile the same
/// Kustomization at once while a commit adds, changes and removes objects: whatever order their
/// requests land in, what is in Git stays, what left Git goes, and a next pass converges.
#[tokio::test]
async fn two_replicas_racing_on_one_kustomization_delete_nothing_in_git() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    let configs = |range: std::ops::Range<u32>, level: &str| {
        range
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: {ns}}}\ndata: {{level: {level}}}\n---\n"
                )
            })
            .collect::<String>()
    };
    let gadget = GADGET.replace("{ns}", &ns).replace(
        "metadata: {name: keep-me}",
        &format!("metadata: {{name: keep-me, namespace: {ns}}}"),
    );
    write("crd.yaml", &CRD.replace("{ns}", &ns));
    write("gadget.yaml", &gadget);
    write("configs.yaml", &configs(0..20, "info"));

    let replica = || async {
        let applier = KubeApplier::new(kube.client().await);
        let store = Arc::new(ConfigMapInventory::new(
            applier.client().clone(),
            &ns,
            "raced-inventory",
        ));
        Reconciler::new(
            me(&ns, "raced"),
            Arc::new(DirectorySource::new(dir.path())),
            Arc::new(PlainRenderer::new()),
            Arc::new(applier),
        )
        .with_inventory_store(store)
        .with_options(Options::default().with_prune(true))
    };
    let a = replica().await;
    let b = replica().await;
    a.reconcile(None).await.unwrap();

    // The commit: c0..c4 leave, c5..c19 change, c20..c24 arrive. Both replicas see it at once.
    write("configs.yaml", &configs(5..25, "debug"));
    let (ra, rb) = tokio::join!(a.reconcile(None), b.reconcile(None));
    // Each may succeed or lose a write race on the inventory (transient); neither may delete
    // what is in Git.
    for result in [&ra, &rb] {
        if let Err(failure) = result {
            assert!(!failure.is_stalled(), "{failure}: {}", failure.error);
        }
    }
    let settled = a.reconcile(None).await.unwrap();
    let client = kube.client().await;
    assert!(gadget_exists(&client, &ns).await, "{:?}", settled.changes);
    for i in 0..25 {
        let level = live_config(&client, &ns, &format!("c{i}")).await;
        match i {
            0..5 => assert_eq!(level, None, "c{i} left Git and must be pruned"),
            _ => assert_eq!(level.as_deref(), Some("debug"), "c{i} is in Git"),
        }
    }
    let again = b.reconcile(None).await.unwrap();
    assert!(!again.changes.has_changes(), "{:?}", again.changes);
}
