//! An example controller: Flux's own custom resources, reconciled with gitops-rs.
//!
//! It watches `GitRepository`, `Kustomization`, `ImageRepository`, `ImagePolicy`,
//! `ImageUpdateAutomation`, `Provider`, `Alert` and `Receiver` (every API version Flux users
//! write) and reconciles each on its interval, writing Flux-style status. It is a composition of
//! the library's pieces, not a framework: `sources.rs`, `kustomizations.rs`, `images.rs`,
//! `notifications.rs` and `receivers.rs` each read top to bottom, one kind each; `engine.rs`
//! decides what is due.
//!
//! ```text
//! cargo run --example controller --all-features -- --kubeconfig ~/.kube/config --install-crds
//! ```
//!
//! Metrics are served on `--metrics-addr` (`/metrics`, `/healthz`, `/readyz`), Receiver webhook
//! paths on `--receiver-addr`. With leader
//! election on (the default), replicas wait for a `coordination.k8s.io` Lease before reconciling,
//! and exit when they lose it. `--shard KEY` watches only objects labelled
//! `sharding.fluxcd.io/key=KEY`; without it, objects carrying that label are left to their shard.

mod engine;
mod images;
mod kustomizations;
mod notifications;
mod receivers;
mod sources;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use gitops::Artifact;
use gitops::flux::metrics::Metrics;
use gitops::flux::{
    Alert, FluxCondition, FluxObject, GitRepository, ImagePolicy, ImageRepository,
    ImageUpdateAutomation, Kustomization, Provider, REQUESTED_AT_ANNOTATION, Receiver, SHARD_LABEL,
    status,
};
use gitops::kube::KubeApplier;
use gitops::kube::connect::{ConnectOptions, RequestCounter};
use kube::api::{Patch, PatchParams};
use kube::runtime::{reflector::Store, watcher};
use kube::{Api, Resource};
use serde_json::{Value, json};

use engine::{Key, Kind, Queue};

/// Command-line settings.
#[derive(Parser, Debug, Clone)]
#[command(about = "Reconciles Flux's custom resources with gitops-rs")]
struct Args {
    /// Kubeconfig to use; in-cluster or `$KUBECONFIG` when unset.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Where source artifacts and automation checkouts are kept.
    #[arg(long, default_value = "./controller-storage")]
    storage_path: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_addr: String,
    /// Objects reconciled at once.
    #[arg(long, default_value_t = 4)]
    concurrent: usize,
    /// Install (or update) the CRDs at start.
    #[arg(long)]
    install_crds: bool,
    /// Wait for a Lease before reconciling.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// The Lease's namespace.
    #[arg(long, default_value = "flux-system")]
    lease_namespace: String,
    /// Only reconcile objects labelled `sharding.fluxcd.io/key=SHARD`.
    #[arg(long)]
    shard: Option<String>,
    /// How soon to look again at an object waiting for a dependency or a source.
    #[arg(long, default_value = "10s", value_parser = parse_go_duration)]
    requeue_dependency: Duration,
    /// Allow credentials over plain `http://` Git URLs (test servers).
    #[arg(long)]
    allow_insecure_http: bool,
    /// Refuse a Kustomization's `sourceRef` in another namespace (Flux's flag of that name).
    #[arg(long)]
    no_cross_namespace_refs: bool,
    /// The field manager of applied objects.
    #[arg(long, default_value = "gitops-controller")]
    field_manager: String,
    /// Where `Receiver` webhook paths are served (Flux's notification-controller uses :9292).
    #[arg(long, default_value = "127.0.0.1:9292")]
    receiver_addr: String,
    /// How logs are written to standard error (Flux's controllers write `json`).
    #[arg(long, value_enum, default_value = "console")]
    log_encoding: LogEncoding,
}

/// Log formats.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum LogEncoding {
    /// Human-readable lines, coloured on a terminal.
    Console,
    /// One JSON object a line.
    Json,
}

fn parse_go_duration(text: &str) -> Result<Duration, String> {
    gitops::flux::parse_duration(text).ok_or_else(|| format!("not a duration: {text}"))
}

/// What every reconcile shares.
pub struct Ctx {
    pub(crate) client: kube::Client,
    pub(crate) applier: Arc<KubeApplier>,
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
    pub(crate) git_sources: Mutex<HashMap<Key, (String, Arc<gitops::git::GitSource>)>>,
    /// The tags each ImageRepository found last.
    pub(crate) tags: RwLock<HashMap<Key, Vec<String>>>,
    pub(crate) failures: Mutex<HashMap<Key, u32>>,
    pub(crate) kustomizations: Store<Kustomization>,
    pub(crate) image_policies: Store<ImagePolicy>,
    pub(crate) automations: Store<ImageUpdateAutomation>,
    pub(crate) notifications: notifications::Hub,
    pub(crate) hooks: receivers::Hooks,
}

impl Ctx {
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
        gitops::schedule::Backoff {
            max: cap,
            ..gitops::schedule::Backoff::default()
        }
        .delay(*count)
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
        conditions: &gitops::condition::Conditions,
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
        if let Some(ready) = merged.iter().find(|c| c.type_ == "Ready") {
            self.metrics
                .record_condition(kind.as_str(), &namespace, &name, "Ready", &ready.status);
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
    /// Writes a failed pass: `Ready=False` with `reason`, `Stalled` when only a change to the
    /// input can help, `Reconciling` (a retry is coming) otherwise.
    pub async fn fail<K>(
        &self,
        kind: Kind,
        object: &K,
        reason: &str,
        message: &str,
        stalled: bool,
        extra: Value,
    ) -> kube::Result<()>
    where
        K: FluxObject + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let mut conditions = gitops::condition::Conditions::new();
        let generation = object.meta().generation.unwrap_or_default();
        conditions.mark_failed(
            reason,
            message,
            stalled,
            generation,
            std::time::SystemTime::now(),
        );
        self.write_status(kind, object, &conditions, extra).await
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

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        );
    match args.log_encoding {
        LogEncoding::Console => logs.init(),
        // One JSON object a line, for log collectors; no colours.
        LogEncoding::Json => logs.json().with_ansi(false).init(),
    }

    // 1. Connect, counting every API request for the metrics.
    let requests = RequestCounter::default();
    let options = ConnectOptions::default().with_counter(requests.clone());
    let client = match &args.kubeconfig {
        Some(path) => gitops::kube::connect::client_from_kubeconfig(path, &options).await?,
        None => gitops::kube::connect::client_from_config(kube::Config::infer().await?, &options)?,
    };
    if args.install_crds {
        gitops::flux::crds::install(&client)
            .await
            .context("installing the CRDs")?;
        tracing::info!("CRDs installed");
    }

    // 2. Serve metrics and health at once; ready only once leading.
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(&args.metrics_addr)
        .await
        .with_context(|| format!("binding {}", args.metrics_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "serving metrics");
    tokio::spawn(gitops::flux::metrics::serve(
        listener,
        Arc::clone(&metrics),
        Arc::clone(&ready),
    ));

    // 3. Lead, or wait for the leader to go.
    let leader = if args.leader_elect {
        let identity = format!(
            "{}_{}",
            std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "gitops-controller".into()),
            std::process::id()
        );
        let lease = match &args.shard {
            Some(shard) => format!("gitops-controller-{shard}"),
            None => "gitops-controller".to_string(),
        };
        let lock = gitops::kube::lease::LeaseLock::new(
            client.clone(),
            &args.lease_namespace,
            lease,
            &identity,
        );
        tracing::info!(%identity, "waiting for leadership");
        let guard = gitops::kube::lease::acquire(lock).await?;
        tracing::info!(%identity, "leading");
        Some(guard)
    } else {
        None
    };
    ready.store(true, Ordering::SeqCst);

    // 4. Watch every kind (only this shard's objects) and run the workers.
    let selector = match &args.shard {
        Some(shard) => format!("{SHARD_LABEL}={shard}"),
        None => format!("!{SHARD_LABEL}"),
    };
    // The server ends each watch before the client's 30 s read timeout would cut it.
    let config = watcher::Config::default().labels(&selector).timeout(25);
    let queue = Arc::new(Queue::default());
    let (deleted_tx, mut deleted_rx) = tokio::sync::mpsc::unbounded_channel::<Key>();
    macro_rules! watch {
        ($ty:ty, $kind:expr) => {{
            let tx = deleted_tx.clone();
            engine::watch(
                Api::<$ty>::all(client.clone()),
                config.clone(),
                $kind,
                Arc::clone(&queue),
                move |key| {
                    let _ = tx.send(key);
                },
            )
        }};
    }
    let (_, git_task) = watch!(GitRepository, Kind::GitRepository);
    let (kustomizations, ks_task) = watch!(Kustomization, Kind::Kustomization);
    let (_, repo_task) = watch!(ImageRepository, Kind::ImageRepository);
    let (image_policies, policy_task) = watch!(ImagePolicy, Kind::ImagePolicy);
    let (automations, automation_task) = watch!(ImageUpdateAutomation, Kind::ImageUpdateAutomation);
    let (_, provider_task) = watch!(Provider, Kind::Provider);
    let (_, alert_task) = watch!(Alert, Kind::Alert);
    let (_, receiver_task) = watch!(Receiver, Kind::Receiver);
    let watches = [
        git_task,
        ks_task,
        repo_task,
        policy_task,
        automation_task,
        provider_task,
        alert_task,
        receiver_task,
    ];

    let applier = KubeApplier::with_options(
        client.clone(),
        gitops::kube::KubeApplierOptions::default().with_field_manager(&args.field_manager),
    );
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        applier: Arc::new(applier),
        storage: std::path::absolute(&args.storage_path)?,
        queue: Arc::clone(&queue),
        metrics: Arc::clone(&metrics),
        requests: requests.clone(),
        requeue_dependency: args.requeue_dependency,
        allow_insecure_http: args.allow_insecure_http,
        no_cross_namespace_refs: args.no_cross_namespace_refs,
        artifacts: RwLock::default(),
        artifact_locks: Mutex::default(),
        git_sources: Mutex::default(),
        tags: RwLock::default(),
        failures: Mutex::default(),
        kustomizations,
        image_policies,
        automations,
        notifications: notifications::Hub::new(client.clone()),
        hooks: receivers::Hooks::default(),
    });

    {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            while let Some(key) = deleted_rx.recv().await {
                tracing::info!(object = %key, "deleted");
                ctx.metrics
                    .forget(key.kind.as_str(), &key.namespace, &key.name);
                ctx.artifacts
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                ctx.tags
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                ctx.notifications.forget(&key);
                ctx.hooks.forget(&key);
            }
        });
    }
    let hooks = tokio::net::TcpListener::bind(&args.receiver_addr)
        .await
        .with_context(|| format!("binding {}", args.receiver_addr))?;
    tracing::info!(addr = %hooks.local_addr()?, "serving receivers");
    let receiver_server = tokio::spawn(receivers::serve(Arc::clone(&ctx), hooks));

    let workers = tokio::spawn(supervise(Arc::clone(&ctx), args.concurrent.max(1)));

    // 5. Run until interrupted or no longer leading.
    let reason = match leader {
        Some(mut guard) => tokio::select! {
            _ = guard.lost() => "lost leadership",
            _ = tokio::signal::ctrl_c() => {
                let _ = guard.release().await;
                "interrupted"
            }
        },
        None => {
            let _ = tokio::signal::ctrl_c().await;
            "interrupted"
        }
    };
    ready.store(false, Ordering::SeqCst);
    receiver_server.abort();
    for task in std::iter::once(&workers).chain(watches.iter()) {
        task.abort();
    }
    tracing::info!(reason, "stopping");
    if reason == "lost leadership" {
        anyhow::bail!("lost leadership");
    }
    Ok(())
}

/// Keeps `count` workers running: one that ends (only a panic outside a pass can end one) is
/// replaced at once, so the controller never silently reconciles with fewer workers or none.
async fn supervise(ctx: Arc<Ctx>, count: usize) {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..count {
        workers.spawn(worker(Arc::clone(&ctx)));
    }
    while let Some(ended) = workers.join_next().await {
        let why = match ended {
            Ok(()) => "it returned".to_string(),
            Err(error) => panic_message(error),
        };
        tracing::error!(%why, "a worker stopped; starting another");
        workers.spawn(worker(Arc::clone(&ctx)));
    }
}

/// Takes due objects one at a time and reconciles them; records duration and the next time.
///
/// Each pass runs in its own task: a pass that panics (a bug, or an input nobody foresaw) is
/// one failed pass of one object, recorded in its status and retried with backoff, never a
/// worker gone for good with its object left "running".
async fn worker(ctx: Arc<Ctx>) {
    loop {
        let key = ctx.queue.next().await;
        // Released even if this worker unwinds, so the object is never held forever.
        let _holding = Holding {
            queue: Arc::clone(&ctx.queue),
            key: key.clone(),
        };
        let started = Instant::now();
        let mut pass = AbortOnDrop(tokio::spawn(pass(Arc::clone(&ctx), key.clone())));
        let next = match (&mut pass.0).await {
            Ok(Ok(next)) => next,
            Ok(Err(error)) => {
                // Reading the object or writing its status failed: the API server is away.
                tracing::warn!(object = %key, error = %format!("{error:#}"), "pass failed");
                Some(ctx.backoff(&key, Duration::from_secs(60)))
            }
            Err(error) => {
                let delay = ctx.backoff(&key, Duration::from_secs(600));
                let message = format!(
                    "reconciliation panicked: {}; retrying in {delay:?}",
                    panic_message(error)
                );
                tracing::error!(object = %key, %message, "pass panicked");
                if let Err(error) = record_failure(&ctx, &key, &message).await {
                    tracing::warn!(object = %key, error = %format!("{error:#}"), "recording the failure failed");
                }
                Some(delay)
            }
        };
        ctx.metrics.record_duration(
            key.kind.as_str(),
            &key.namespace,
            &key.name,
            started.elapsed(),
        );
        ctx.metrics.observe_api_requests_total(ctx.requests.get());
        if let Some(delay) = next {
            ctx.queue.schedule(key.clone(), delay);
        }
    }
}

/// One pass of one object.
async fn pass(ctx: Arc<Ctx>, key: Key) -> anyhow::Result<Option<Duration>> {
    match key.kind {
        Kind::GitRepository => sources::reconcile(&ctx, &key).await,
        Kind::Kustomization => kustomizations::reconcile(&ctx, &key).await,
        Kind::ImageRepository => images::reconcile_repository(&ctx, &key).await,
        Kind::ImagePolicy => images::reconcile_policy(&ctx, &key).await,
        Kind::ImageUpdateAutomation => images::reconcile_automation(&ctx, &key).await,
        Kind::Provider | Kind::Alert => notifications::reconcile(&ctx, &key).await,
        Kind::Receiver => receivers::reconcile(&ctx, &key).await,
    }
}

/// Releases an object from the queue when dropped, unwinding included.
struct Holding {
    queue: Arc<Queue>,
    key: Key,
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.queue.done(&self.key);
    }
}

/// Stops a pass when its worker stops (shutdown), instead of leaving it running detached.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a failed pass task says: the panic's message, or that it was cancelled.
fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into()),
        Err(_) => "the pass was cancelled".into(),
    }
}

/// Writes `Ready=False` with `message` on the object of `key`, whatever its kind.
async fn record_failure(ctx: &Ctx, key: &Key, message: &str) -> anyhow::Result<()> {
    macro_rules! fail {
        ($ty:ty) => {{
            if let Some(object) = get::<$ty>(ctx, key).await? {
                ctx.fail(
                    key.kind,
                    &object,
                    "ReconciliationFailed",
                    message,
                    false,
                    json!({}),
                )
                .await?;
            }
        }};
    }
    match key.kind {
        Kind::GitRepository => fail!(GitRepository),
        Kind::Kustomization => fail!(Kustomization),
        Kind::ImageRepository => fail!(ImageRepository),
        Kind::ImagePolicy => fail!(ImagePolicy),
        Kind::ImageUpdateAutomation => fail!(ImageUpdateAutomation),
        Kind::Provider => fail!(Provider),
        Kind::Alert => fail!(Alert),
        Kind::Receiver => fail!(Receiver),
    }
    Ok(())
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

/// A Flux interval, or `fallback` when unset or malformed.
pub fn interval(text: &str, fallback: Duration) -> Duration {
    gitops::flux::parse_duration(text)
        .filter(|d| !d.is_zero())
        .unwrap_or(fallback)
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
