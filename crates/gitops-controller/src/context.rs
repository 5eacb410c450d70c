//! What every pass shares: the [`Ctx`] (client, applier, caches, queue, notification hub and
//! webhook registry) and the small object helpers each kind's module uses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use gitops_core::Artifact;
use gitops_core::condition::{ConditionStatus, ConditionType, Conditions, rfc3339};
use gitops_flux::api::ArtifactStatus;
use gitops_flux::metrics::Metrics;
use gitops_flux::{
    FluxCondition, FluxObject, HelmChart, HelmRelease, ImagePolicy, ImageUpdateAutomation,
    Kustomization, REQUESTED_AT_ANNOTATION, status,
};
use gitops_kube::connect::{ConnectOptions, RequestCounter};
use gitops_kube::{KubeApplier, KubeApplierOptions, ServiceAccount};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, Resource};
use serde_json::{Value, json};

use crate::engine::{Key, Kind, Queue};
use crate::outcome::{Action, Failure};
use crate::{notifications, receivers};

/// What every reconcile shares.
pub struct Ctx {
    pub(crate) client: kube::Client,
    pub(crate) applier: Arc<KubeApplier>,
    /// How the controller connected, to connect again as a tenant's ServiceAccount.
    pub(crate) connection: (kube::Config, ConnectOptions),
    /// The field manager of applied objects, whoever applies them.
    pub(crate) field_manager: String,
    /// `--default-service-account`: the account a Kustomization without one applies as.
    pub(crate) default_service_account: Option<String>,
    /// Appliers acting as a ServiceAccount, built once per account.
    pub(crate) tenant_appliers: Mutex<HashMap<ServiceAccount, Arc<KubeApplier>>>,
    pub(crate) storage: PathBuf,
    pub(crate) queue: Arc<Queue>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) requests: RequestCounter,
    pub(crate) requeue_dependency: Duration,
    pub(crate) allow_insecure_http: bool,
    pub(crate) no_cross_namespace_refs: bool,
    /// The last artifact of each GitRepository, with a lock a fetch takes to swap it.
    pub(crate) artifacts: RwLock<HashMap<Key, Artifact>>,
    pub(crate) artifact_locks: Mutex<HashMap<Key, Arc<tokio::sync::RwLock<()>>>>,
    pub(crate) git_sources: Mutex<HashMap<Key, (String, Arc<gitops_git::GitSource>)>>,
    /// The validators (`ETag`, `Last-Modified`) each HelmRepository's stored index was served
    /// with, by the generation and revision they belong to.
    pub(crate) index_validators:
        Mutex<HashMap<Key, (i64, String, gitops_helm::repository::IndexState)>>,
    /// The tags each ImageRepository found last.
    pub(crate) tags: RwLock<HashMap<Key, Vec<String>>>,
    pub(crate) failures: Mutex<HashMap<Key, u32>>,
    /// Successful passes so far, which varies each object's jitter from pass to pass.
    pub(crate) passes: std::sync::atomic::AtomicU64,
    pub(crate) kustomizations: Store<Kustomization>,
    pub(crate) image_policies: Store<ImagePolicy>,
    pub(crate) automations: Store<ImageUpdateAutomation>,
    pub(crate) helm_releases: Store<HelmRelease>,
    pub(crate) helm_charts: Store<HelmChart>,
    pub(crate) notifications: notifications::Hub,
    pub(crate) hooks: receivers::Hooks,
}

impl Ctx {
    /// The applier for a Kustomization in `namespace` that names `account`: the controller's
    /// own, or one acting as that ServiceAccount of the same namespace (impersonation, as
    /// Flux does), so the API server holds the pass to the account's rights. Without an
    /// account, `--default-service-account` applies when set.
    ///
    /// # Errors
    /// The client for the account cannot be built.
    pub fn applier_as(
        &self,
        namespace: &str,
        account: Option<&str>,
    ) -> anyhow::Result<Arc<KubeApplier>> {
        let Some(name) = account.or(self.default_service_account.as_deref()) else {
            return Ok(Arc::clone(&self.applier));
        };
        let account = ServiceAccount::new(namespace, name);
        let mut appliers = self
            .tenant_appliers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(applier) = appliers.get(&account) {
            return Ok(Arc::clone(applier));
        }
        let (config, options) = &self.connection;
        let options = options.clone().with_impersonate(account.clone());
        let client = gitops_kube::connect::client_from_config(config.clone(), &options)
            .with_context(|| format!("connecting as {}", account.user_name()))?;
        let applier = Arc::new(KubeApplier::with_options(
            client,
            KubeApplierOptions::default().with_field_manager(&self.field_manager),
        ));
        appliers.insert(account, Arc::clone(&applier));
        Ok(applier)
    }

    /// The lock guarding a GitRepository's artifact directory.
    pub fn artifact_lock(&self, key: &Key) -> Arc<tokio::sync::RwLock<()>> {
        let mut locks = self
            .artifact_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(key.clone()).or_default())
    }

    /// Counts a failure of `key` and returns the backoff before the next try, capped at `cap`.
    pub fn backoff(&self, key: &Key, cap: Duration) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(key.clone()).or_default();
        *count = count.saturating_add(1);
        gitops_core::schedule::Backoff {
            max: cap,
            ..gitops_core::schedule::Backoff::default()
        }
        .delay(*count)
    }

    /// The next pass of `key` after a successful one: [`Action::after_interval`], counting
    /// passes across the process.
    pub fn after_interval(&self, key: &Key, interval: Duration) -> Action {
        let pass = self
            .passes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Action::Requeue(
            gitops_core::schedule::Interval::new(interval).delay(&key.to_string(), pass),
        )
    }

    /// Forgets the failures of `key`.
    pub fn succeeded(&self, key: &Key) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Writes Flux-style status: the conditions (keeping unchanged transition times),
    /// `observedGeneration`, the handled `requestedAt` token, and `extra` fields. Skips the
    /// write when the stored status already says all of it.
    pub async fn write_status<K>(
        &self,
        kind: Kind,
        object: &K,
        conditions: &gitops_core::condition::Conditions,
        extra: Value,
    ) -> kube::Result<()>
    where
        K: FluxObject + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let meta = object.meta();
        let (namespace, name) = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let merged: Vec<FluxCondition> = status::merge(object.conditions(), conditions);
        // Health checks, for the dashboards' health panels.
        if let Some(healthy) = merged.iter().find(|c| c.type_ == "Healthy") {
            self.metrics.record_condition(
                kind.as_str(),
                &namespace,
                &name,
                "Healthy",
                &healthy.status,
            );
        }
        if let Some(ready) = merged.iter().find(|c| c.type_ == "Ready") {
            self.metrics
                .record_condition(kind.as_str(), &namespace, &name, "Ready", &ready.status);
            // A pass ends in Ready True or False; `Unknown` is progress along the way.
            if ready.status != "Unknown" {
                let success = ready.status == "True";
                self.metrics
                    .record_result(kind.as_str(), &namespace, &name, success);
            }
        }
        let mut patch = json!({ "observedGeneration": meta.generation, "conditions": merged });
        if let Some(token) = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(REQUESTED_AT_ANNOTATION))
        {
            patch["lastHandledReconcileAt"] = json!(token);
        }
        if let (Some(fields), Some(extra)) = (patch.as_object_mut(), extra.as_object()) {
            fields.extend(extra.clone());
        }
        let current = serde_json::to_value(object)
            .ok()
            .and_then(|v| v.get("status").cloned())
            .unwrap_or(Value::Null);
        if contains(&current, &patch) {
            return Ok(());
        }
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": patch })),
        )
        .await
        .map(drop)
    }
}

impl Ctx {
    /// Writes a failed pass: `Ready=False` with its reason, `Stalled` when only a change to
    /// the input can help, `Reconciling` (a retry is coming) otherwise.
    pub async fn fail<K>(&self, kind: Kind, object: &K, failure: &Failure) -> kube::Result<()>
    where
        K: FluxObject + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let mut conditions = gitops_core::condition::Conditions::new();
        let generation = object.meta().generation.unwrap_or_default();
        conditions.mark_failed(
            &failure.reason,
            &failure.message,
            failure.stalled,
            generation,
            std::time::SystemTime::now(),
        );
        self.write_status(kind, object, &conditions, json!({}))
            .await
    }

    /// Where the object `key` names keeps what it stores (a source's cache and artifacts):
    /// `<storage>/<kind, lower case>/<namespace>/<name>`, as source-controller lays it out.
    pub fn storage_dir(&self, key: &Key) -> PathBuf {
        self.storage
            .join(key.kind.as_str().to_ascii_lowercase())
            .join(&key.namespace)
            .join(&key.name)
    }

    /// Marks `conditions` as a source's that stored an artifact (`ArtifactInStorage` and
    /// `Ready` true, reason `Succeeded`, with `message`) and returns the artifact as its
    /// `status.artifact` says it: `path` relative to the storage, its `file://` URL. The last
    /// update time stays `previous`'s when the same revision and digest are at the same path,
    /// so a pass that stored nothing new writes nothing.
    pub fn publish_artifact(
        &self,
        conditions: &mut Conditions,
        message: &str,
        (generation, now): (i64, SystemTime),
        stored: StoredArtifact<'_>,
        previous: Option<&ArtifactStatus>,
    ) -> ArtifactStatus {
        conditions.set(
            ConditionType::Other("ArtifactInStorage".into()),
            ConditionStatus::True,
            "Succeeded",
            message,
            generation,
            now,
        );
        conditions.mark_ready("Succeeded", message, generation, now);
        let relative = stored
            .path
            .strip_prefix(&self.storage)
            .unwrap_or(stored.path)
            .display()
            .to_string();
        let last_update_time = match previous {
            Some(previous)
                if previous.revision == stored.revision
                    && previous.digest.as_deref() == Some(stored.digest.as_str())
                    && previous.path == relative =>
            {
                previous.last_update_time.clone()
            }
            _ => rfc3339(now),
        };
        ArtifactStatus {
            path: relative,
            url: format!("file://{}", stored.path.display()),
            revision: stored.revision,
            digest: Some(stored.digest),
            last_update_time,
            size: Some(stored.size),
        }
    }

    /// Removes what a deleted object stored ([`Self::storage_dir`]), as source-controller's
    /// garbage collection does; a failure is logged, never fatal.
    pub async fn remove_storage(&self, key: &Key) {
        let dir = self.storage_dir(key);
        if let Err(error) = tokio::fs::remove_dir_all(&dir).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(object = %key, %error, dir = %dir.display(), "removing what it stored failed");
        }
    }

    /// Replaces the finalizers of the object `key` names (a merge patch of
    /// `metadata.finalizers`).
    pub async fn set_finalizers<K>(&self, key: &Key, finalizers: Vec<String>) -> kube::Result<()>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &key.namespace);
        let patch = json!({ "metadata": { "finalizers": finalizers } });
        api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
    }

    /// Reports a failed pass of a source: its status ([`Self::fail`]) and an error event.
    pub async fn report_failure<K>(
        &self,
        key: &Key,
        object: &K,
        failure: &Failure,
    ) -> kube::Result<()>
    where
        K: FluxObject + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        self.fail(key.kind, object, failure).await?;
        self.notifications
            .announce(
                key,
                gitops_core::Severity::Error,
                &failure.reason,
                &failure.message,
                None,
            )
            .await;
        Ok(())
    }

    /// Reports a failed pass ([`Self::report_failure`]) and retries with a backoff capped at
    /// `every`, the object's interval.
    pub async fn fail_with_backoff<K>(
        &self,
        key: &Key,
        object: &K,
        failure: Failure,
        every: Duration,
    ) -> anyhow::Result<Action>
    where
        K: FluxObject + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        self.report_failure(key, object, &failure).await?;
        Ok(Action::Requeue(self.backoff(key, every)))
    }
}

/// Whether `have` already holds every field of `want`.
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(have), Value::Object(want)) => want.iter().all(|(k, v)| {
            v.is_null() && !have.contains_key(k) || have.get(k).is_some_and(|h| contains(h, v))
        }),
        _ => have == want,
    }
}

/// An artifact a source stored, as [`Ctx::publish_artifact`] publishes it.
pub struct StoredArtifact<'a> {
    /// The file or directory in the storage.
    pub path: &'a Path,
    /// Its revision (`main@sha1:…`, a chart version, an index digest).
    pub revision: String,
    /// The digest of its contents (`sha256:…`).
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Writes `bytes` to `path` (an artifact, a chart archive) through a temporary file in the same
/// folder, synced and renamed into place, so a reader never sees half of it.
///
/// # Errors
/// Creating the folder, writing or renaming failed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .suffix(".partial")
        .tempfile_in(dir)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map(drop).map_err(|e| e.error)
}

/// Reads one object of a kind, or `None` when it is gone.
pub async fn get<K>(ctx: &Ctx, key: &Key) -> kube::Result<Option<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(ctx.client.clone(), &key.namespace)
        .get_opt(&key.name)
        .await
}

/// The suspend gauge, and whether to stop here.
pub fn suspended<K: FluxObject>(ctx: &Ctx, key: &Key, object: &K) -> bool {
    let suspended = object.suspended();
    ctx.metrics
        .record_suspend(key.kind.as_str(), &key.namespace, &key.name, suspended);
    if suspended {
        tracing::debug!(object = %key, "suspended");
    }
    suspended
}

/// The data of a Secret, decoded.
pub async fn secret_data(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let api: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(ctx.client.clone(), namespace);
    let secret = api
        .get(name)
        .await
        .with_context(|| format!("reading Secret {namespace}/{name}"))?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}
