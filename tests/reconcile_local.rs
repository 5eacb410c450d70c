//! A whole reconcile pass with the local backends: a folder as the source, plain YAML rendering,
//! rendered manifests in an output folder.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::sync::{Arc, Mutex};

use gitops::async_trait;
use gitops::local::{DirectoryApplier, DirectorySource, PlainRenderer};
use gitops::reconcile::{Options, Stage};
use gitops::{Action, Event, InventoryStore, Notifier, ObjectRef, Reconciler, Severity};

/// Collects events, as a host that logs them would.
#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

#[async_trait]
impl Notifier for Collect {
    async fn notify(&self, event: &Event) -> Result<(), gitops::notify::Error> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

struct Fixture {
    repo: tempfile::TempDir,
    out: tempfile::TempDir,
    events: Arc<Collect>,
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: NAME\n  namespace: apps\nspec:\n  replicas: 1\n";

impl Fixture {
    fn new() -> Self {
        let repo = tempfile::tempdir().unwrap();
        for name in ["api-gateway", "api-enrichment"] {
            write(
                repo.path(),
                &format!("apps/{name}/deployment.yaml"),
                &DEPLOY.replace("NAME", name),
            );
        }
        write(
            repo.path(),
            "apps/namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
        );
        Self {
            repo,
            out: tempfile::tempdir().unwrap(),
            events: Arc::default(),
        }
    }

    fn reconciler(&self, options: Options) -> (Reconciler, Arc<DirectoryApplier>) {
        let applier = Arc::new(DirectoryApplier::new(self.out.path().join("apps")));
        let me = ObjectRef::new(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            Some("flux-system"),
            "apps",
        );
        let reconciler = Reconciler::new(
            me,
            Arc::new(DirectorySource::new(self.repo.path())),
            Arc::new(PlainRenderer::new()),
            applier.clone(),
        )
        .with_inventory_store(applier.clone())
        .with_notifier(self.events.clone())
        .with_options(options.with_path("apps"));
        (reconciler, applier)
    }

    fn files(&self) -> Vec<String> {
        let mut files = Vec::new();
        let root = self.out.path().join("apps");
        for dir in std::fs::read_dir(&root).unwrap() {
            let dir = dir.unwrap().path();
            if dir.is_dir() {
                for f in std::fs::read_dir(&dir).unwrap() {
                    let f = f.unwrap().path();
                    files.push(f.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        files.sort();
        files
    }
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn applies_then_reports_no_change_then_prunes() {
    let fx = Fixture::new();
    let (reconciler, applier) = fx.reconciler(Options::default());

    let first = reconciler.reconcile(None).await.unwrap();
    assert_eq!(first.changes.count(Action::Created), 3);
    assert!(first.source_changed);
    assert_eq!(
        fx.files(),
        [
            "_cluster/Namespace_apps.yaml",
            "apps/Deployment.apps_api-enrichment.yaml",
            "apps/Deployment.apps_api-gateway.yaml"
        ]
    );
    assert_eq!(
        first.changes.changes[0].id.kind, "Namespace",
        "definitions are applied first"
    );

    let second = reconciler.reconcile(Some(&first.revision)).await.unwrap();
    assert!(!second.source_changed);
    assert!(!second.changes.has_changes());
    assert_eq!(second.changes.count(Action::Unchanged), 3);

    std::fs::remove_dir_all(fx.repo.path().join("apps/api-enrichment")).unwrap();
    let third = reconciler.reconcile(Some(&second.revision)).await.unwrap();
    assert_eq!(third.changes.count(Action::Deleted), 1);
    assert_eq!(
        fx.files(),
        [
            "_cluster/Namespace_apps.yaml",
            "apps/Deployment.apps_api-gateway.yaml"
        ]
    );
    assert_eq!(applier.load().await.unwrap().unwrap().len(), 2);

    let events = fx.events.0.lock().unwrap();
    assert!(events.iter().all(|e| e.severity == Severity::Info));
    assert!(
        events
            .iter()
            .any(|e| { e.message.contains("Deployment/apps/api-enrichment deleted") })
    );
}

#[tokio::test]
async fn a_failed_render_prunes_nothing() {
    let fx = Fixture::new();
    let (reconciler, applier) = fx.reconciler(Options::default());
    let first = reconciler.reconcile(None).await.unwrap();

    // Break one file and delete another: the pass must stop before pruning anything.
    write(
        fx.repo.path(),
        "apps/api-gateway/deployment.yaml",
        "kind: [unclosed\n",
    );
    std::fs::remove_dir_all(fx.repo.path().join("apps/api-enrichment")).unwrap();
    let failure = reconciler
        .reconcile(Some(&first.revision))
        .await
        .unwrap_err();
    assert_eq!(failure.stage, Stage::Render);
    assert!(failure.is_stalled());
    assert!(failure.changes.changes.is_empty());
    assert!(
        failure
            .error
            .to_string()
            .contains("apps/api-gateway/deployment.yaml:"),
        "{}",
        failure.error
    );
    assert_eq!(fx.files().len(), 3, "nothing pruned");
    assert_eq!(
        applier.load().await.unwrap().unwrap().len(),
        3,
        "inventory kept"
    );

    let events = fx.events.0.lock().unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.severity, last.reason.as_str()),
        (Severity::Error, "BuildFailed")
    );
}

#[tokio::test]
async fn an_empty_render_prunes_nothing_unless_allowed() {
    let fx = Fixture::new();
    let (reconciler, _) = fx.reconciler(Options::default());
    let first = reconciler.reconcile(None).await.unwrap();
    for entry in std::fs::read_dir(fx.repo.path().join("apps")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap()
        } else {
            std::fs::remove_file(path).unwrap()
        }
    }
    let failure = reconciler
        .reconcile(Some(&first.revision))
        .await
        .unwrap_err();
    assert!(
        failure.error.to_string().contains("produced no objects"),
        "{}",
        failure.error
    );
    assert_eq!(fx.files().len(), 3);

    let (allowing, _) = fx.reconciler(Options::default().with_allow_empty(true));
    let emptied = allowing.reconcile(Some(&first.revision)).await.unwrap();
    assert_eq!(emptied.changes.count(Action::Deleted), 3);
    assert!(fx.files().is_empty());
}

#[tokio::test]
async fn prune_disabled_objects_survive_and_duplicates_fail() {
    let fx = Fixture::new();
    write(
        fx.repo.path(),
        "apps/keep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: apps\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\n",
    );
    let (reconciler, _) = fx.reconciler(Options::default());
    let first = reconciler.reconcile(None).await.unwrap();
    std::fs::remove_file(fx.repo.path().join("apps/keep.yaml")).unwrap();
    let second = reconciler.reconcile(Some(&first.revision)).await.unwrap();
    assert_eq!(second.changes.count(Action::Skipped), 1);
    assert!(fx.files().contains(&"apps/ConfigMap_keep.yaml".to_owned()));

    write(
        fx.repo.path(),
        "apps/copy.yaml",
        &DEPLOY.replace("NAME", "api-gateway"),
    );
    let failure = reconciler
        .reconcile(Some(&second.revision))
        .await
        .unwrap_err();
    assert_eq!(
        failure.error.to_string(),
        "duplicate object Deployment.apps/apps/api-gateway in one render"
    );
}

#[tokio::test]
async fn encrypted_secrets_need_a_decryptor_and_variables_are_substituted() {
    let fx = Fixture::new();
    write(
        fx.repo.path(),
        "apps/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: kafka\n  namespace: apps\ndata:\n  password: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n  mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n",
    );
    let (reconciler, _) = fx.reconciler(Options::default());
    let failure = reconciler.reconcile(None).await.unwrap_err();
    assert_eq!(failure.stage, Stage::Decrypt);
    assert_eq!(
        failure.error.to_string(),
        "Secret/apps/kafka is encrypted but no decryption is configured"
    );
    assert!(!fx.out.path().join("apps").exists(), "nothing applied");

    std::fs::remove_file(fx.repo.path().join("apps/secret.yaml")).unwrap();
    write(
        fx.repo.path(),
        "apps/api-gateway/deployment.yaml",
        &DEPLOY
            .replace("replicas: 1", "replicas: ${REPLICAS:=2}")
            .replace("NAME", "api-gateway"),
    );
    let vars = [("REPLICAS".to_owned(), "5".to_owned())]
        .into_iter()
        .collect();
    let (reconciler, _) = fx.reconciler(Options::default().with_substitute(vars));
    reconciler.reconcile(None).await.unwrap();
    let text = std::fs::read_to_string(
        fx.out
            .path()
            .join("apps/apps/Deployment.apps_api-gateway.yaml"),
    )
    .unwrap();
    assert!(text.contains("replicas: 5\n"), "{text}");
}

#[tokio::test]
async fn target_namespace_reaches_the_inventory_so_prune_finds_the_object() {
    let fx = Fixture::new();
    write(
        fx.repo.path(),
        "apps/plain.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: no-namespace\n",
    );
    let options = Options::default()
        .with_apply(gitops::apply::ApplyOptions::default().with_target_namespace("apps"));
    let (reconciler, applier) = fx.reconciler(options);
    let first = reconciler.reconcile(None).await.unwrap();
    let owned = applier.load().await.unwrap().unwrap();
    assert!(owned.contains(&ObjectRef::new(
        "",
        "v1",
        "ConfigMap",
        Some("apps"),
        "no-namespace"
    )));
    assert!(
        fx.files()
            .contains(&"apps/ConfigMap_no-namespace.yaml".to_owned())
    );

    std::fs::remove_file(fx.repo.path().join("apps/plain.yaml")).unwrap();
    let second = reconciler.reconcile(Some(&first.revision)).await.unwrap();
    assert_eq!(second.changes.count(Action::Deleted), 1);
    assert!(
        !fx.files()
            .contains(&"apps/ConfigMap_no-namespace.yaml".to_owned())
    );
}
