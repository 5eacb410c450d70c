//! One controller process from start to stop: connect, serve metrics, lead, watch every kind,
//! and keep the workers running, each taking one due object at a time through its kind's pass.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gitops_flux::metrics::Metrics;
use gitops_flux::{
    Alert, GitRepository, HelmChart, HelmRelease, HelmRepository, ImagePolicy, ImageRepository,
    ImageUpdateAutomation, Kustomization, OCIRepository, Provider, Receiver, SHARD_LABEL,
};
use gitops_kube::KubeApplier;
use gitops_kube::connect::{ConnectOptions, RequestCounter};
use kube::Api;
use kube::runtime::watcher;

use crate::context::{Ctx, get};
use crate::engine::{self, Key, Kind, Queue};
use crate::oci_repositories;
use crate::outcome::{Action, Failure};
use crate::settings::Settings;
use crate::{
    helm_charts, helm_releases, helm_repositories, images, kustomizations, metrics_server,
    notifications, receivers, sources,
};

/// Runs the controller with `settings` until interrupted (`Ok`) or until it loses leadership
/// (an error, so that the process exits non-zero and its supervisor restarts it).
///
/// # Errors
/// Connecting, installing the CRDs, binding the listen addresses, or taking the Lease failed,
/// or leadership was lost.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // 1. Connect, counting every API request for the metrics.
    let requests = RequestCounter::default();
    let options = ConnectOptions::default().with_counter(requests.clone());
    let kube_config = match &settings.kubeconfig {
        Some(path) => gitops_kube::connect::config_from_kubeconfig(path, &options).await?,
        None => kube::Config::infer().await?,
    };
    let client = gitops_kube::connect::client_from_config(kube_config.clone(), &options)?;
    if settings.install_crds {
        gitops_flux::crds::install(&client)
            .await
            .context("installing the CRDs")?;
        tracing::info!("CRDs installed");
    }

    // 2. Serve metrics and health at once; ready only once leading.
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(&settings.metrics_addr)
        .await
        .with_context(|| format!("binding {}", settings.metrics_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "serving metrics");
    tokio::spawn(metrics_server::serve(
        listener,
        Arc::clone(&metrics),
        Arc::clone(&ready),
    ));

    // 3. Lead, or wait for the leader to go.
    let leader = if settings.leader_elect {
        let identity = format!(
            "{}_{}",
            std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "gitops-controller".into()),
            std::process::id()
        );
        let lease = match &settings.shard {
            Some(shard) => format!("gitops-controller-{shard}"),
            None => "gitops-controller".to_string(),
        };
        let lock = gitops_kube::lease::LeaseLock::new(
            client.clone(),
            &settings.lease_namespace,
            lease,
            &identity,
        );
        tracing::info!(%identity, "waiting for leadership");
        let guard = gitops_kube::lease::acquire(lock).await?;
        tracing::info!(%identity, "leading");
        Some(guard)
    } else {
        None
    };
    ready.store(true, Ordering::SeqCst);

    // 4. Watch every kind (only this shard's objects) and run the workers.
    let selector = match &settings.shard {
        Some(shard) => format!("{SHARD_LABEL}={shard}"),
        None => format!("!{SHARD_LABEL}"),
    };
    // The server ends each watch before the client's 30 s read timeout would cut it.
    let config = watcher::Config::default().labels(&selector).timeout(25);
    let queue = Arc::new(Queue::default());
    let (deleted_tx, mut deleted_rx) = tokio::sync::mpsc::unbounded_channel::<Key>();
    // Only the kinds the API server serves: an installation with some components (no image
    // automation, say) runs without watches that would fail and retry for ever.
    let served = served_kinds(&client).await;
    macro_rules! watch {
        ($ty:ty, $kind:expr) => {{
            if served.contains(&$kind) {
                let tx = deleted_tx.clone();
                let (store, task) = engine::watch(
                    Api::<$ty>::all(client.clone()),
                    config.clone(),
                    $kind,
                    Arc::clone(&queue),
                    move |key| {
                        let _ = tx.send(key);
                    },
                );
                (store, Some(task))
            } else {
                tracing::info!(
                    kind = $kind.as_str(),
                    "not served by the API server: not watched"
                );
                (kube::runtime::reflector::store::<$ty>().0, None)
            }
        }};
    }
    let (_, git_task) = watch!(GitRepository, Kind::GitRepository);
    let (_, helm_repo_task) = watch!(HelmRepository, Kind::HelmRepository);
    let (helm_charts, helm_chart_task) = watch!(HelmChart, Kind::HelmChart);
    let (_, oci_repo_task) = watch!(OCIRepository, Kind::OCIRepository);
    let (helm_releases, helm_release_task) = watch!(HelmRelease, Kind::HelmRelease);
    let (kustomizations, ks_task) = watch!(Kustomization, Kind::Kustomization);
    let (_, repo_task) = watch!(ImageRepository, Kind::ImageRepository);
    let (image_policies, policy_task) = watch!(ImagePolicy, Kind::ImagePolicy);
    let (automations, automation_task) = watch!(ImageUpdateAutomation, Kind::ImageUpdateAutomation);
    let (_, provider_task) = watch!(Provider, Kind::Provider);
    let (_, alert_task) = watch!(Alert, Kind::Alert);
    let (_, receiver_task) = watch!(Receiver, Kind::Receiver);
    for kind in Kind::ALL.into_iter().filter(|k| !reconciled(*k)) {
        tracing::info!(
            kind = kind.as_str(),
            "not reconciled by this controller yet: not watched"
        );
    }
    let watches: Vec<_> = [
        git_task,
        helm_repo_task,
        helm_chart_task,
        oci_repo_task,
        helm_release_task,
        ks_task,
        repo_task,
        policy_task,
        automation_task,
        provider_task,
        alert_task,
        receiver_task,
    ]
    .into_iter()
    .flatten()
    .collect();

    let applier = KubeApplier::with_options(
        client.clone(),
        // Applied objects are read from watches, not listed on every pass: a no-op pass then
        // costs the Kustomization's read and its status write.
        gitops_kube::KubeApplierOptions::default()
            .with_field_manager(&settings.field_manager)
            .with_watch_owned(true),
    );
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        applier: Arc::new(applier),
        connection: (kube_config, options),
        field_manager: settings.field_manager.clone(),
        default_service_account: settings.default_service_account.clone(),
        tenant_appliers: Mutex::default(),
        storage: std::path::absolute(&settings.storage_path)?,
        queue: Arc::clone(&queue),
        metrics: Arc::clone(&metrics),
        requests: requests.clone(),
        requeue_dependency: settings.requeue_dependency,
        allow_insecure_http: settings.allow_insecure_http,
        no_cross_namespace_refs: settings.no_cross_namespace_refs,
        artifacts: RwLock::default(),
        artifact_locks: Mutex::default(),
        git_sources: Mutex::default(),
        tags: RwLock::default(),
        index_validators: Mutex::default(),
        failures: Mutex::default(),
        passes: Default::default(),
        kustomizations,
        image_policies,
        automations,
        helm_releases,
        helm_charts,
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
                ctx.index_validators
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                ctx.notifications.forget(&key);
                ctx.hooks.forget(&key);
                match key.kind {
                    Kind::GitRepository => sources::forget(&ctx, &key).await,
                    Kind::HelmRepository | Kind::HelmChart | Kind::OCIRepository => {
                        ctx.remove_storage(&key).await
                    }
                    _ => {}
                }
            }
        });
    }
    let hooks = tokio::net::TcpListener::bind(&settings.receiver_addr)
        .await
        .with_context(|| format!("binding {}", settings.receiver_addr))?;
    tracing::info!(addr = %hooks.local_addr()?, "serving receivers");
    let receiver_server = tokio::spawn(receivers::serve(Arc::clone(&ctx), hooks));

    // Labelled ConfigMaps and Secrets wake the HelmReleases that take values from them.
    let values_watches = if served.contains(&Kind::HelmRelease) {
        helm_releases::watch_values(&ctx, watcher::Config::default().timeout(25))
    } else {
        Vec::new()
    };

    let workers = tokio::spawn(supervise(Arc::clone(&ctx), settings.concurrent.max(1)));

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
    for task in std::iter::once(&workers)
        .chain(watches.iter())
        .chain(values_watches.iter())
    {
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
    // `count` workers per kind, as Flux's `--concurrent` is per reconciler.
    let mut workers = tokio::task::JoinSet::new();
    let mut kinds = HashMap::new();
    for kind in Kind::ALL {
        for _ in 0..count {
            kinds.insert(workers.spawn(worker(Arc::clone(&ctx), kind)).id(), kind);
        }
    }
    while let Some(ended) = workers.join_next_with_id().await {
        let (id, why) = match ended {
            Ok((id, ())) => (id, "it returned".to_string()),
            Err(error) => (error.id(), panic_message(error)),
        };
        let kind = kinds.remove(&id).unwrap_or(Kind::Kustomization);
        tracing::error!(%why, kind = kind.as_str(), "a worker stopped; starting another");
        kinds.insert(workers.spawn(worker(Arc::clone(&ctx), kind)).id(), kind);
    }
}

/// Takes due objects one at a time and reconciles them; records duration and the next time.
///
/// Each pass runs in its own task: a pass that panics (a bug, or an input nobody foresaw) is
/// one failed pass of one object, recorded in its status and retried with backoff, never a
/// worker gone for good with its object left "running".
async fn worker(ctx: Arc<Ctx>, kind: Kind) {
    loop {
        let key = ctx.queue.next(kind).await;
        // Released even if this worker unwinds, so the object is never held forever.
        let _holding = Holding {
            queue: Arc::clone(&ctx.queue),
            key: key.clone(),
        };
        let started = Instant::now();
        let mut pass = AbortOnDrop(tokio::spawn(pass(Arc::clone(&ctx), key.clone())));
        let next = match (&mut pass.0).await {
            Ok(Ok(action)) => action.delay(),
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
async fn pass(ctx: Arc<Ctx>, key: Key) -> anyhow::Result<Action> {
    match key.kind {
        Kind::GitRepository => sources::reconcile(&ctx, &key).await,
        Kind::Kustomization => kustomizations::reconcile(&ctx, &key).await,
        Kind::ImageRepository => images::reconcile_repository(&ctx, &key).await,
        Kind::ImagePolicy => images::reconcile_policy(&ctx, &key).await,
        Kind::ImageUpdateAutomation => images::reconcile_automation(&ctx, &key).await,
        Kind::Provider | Kind::Alert => notifications::reconcile(&ctx, &key).await,
        Kind::Receiver => receivers::reconcile(&ctx, &key).await,
        Kind::HelmRepository => helm_repositories::reconcile(&ctx, &key).await,
        Kind::OCIRepository => oci_repositories::reconcile(&ctx, &key).await,
        Kind::HelmRelease => helm_releases::reconcile(&ctx, &key).await,
        Kind::HelmChart => helm_charts::reconcile(&ctx, &key).await,
    }
}

/// Whether this controller reconciles `kind` (and so watches it).
fn reconciled(kind: Kind) -> bool {
    match kind {
        Kind::GitRepository
        | Kind::HelmRepository
        | Kind::HelmChart
        | Kind::HelmRelease
        | Kind::Kustomization
        | Kind::ImageRepository
        | Kind::ImagePolicy
        | Kind::ImageUpdateAutomation
        | Kind::Provider
        | Kind::Alert
        | Kind::Receiver
        | Kind::OCIRepository => true,
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
                    &Failure::retry("ReconciliationFailed", message),
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
        Kind::HelmRepository => fail!(HelmRepository),
        Kind::HelmChart => fail!(HelmChart),
        Kind::OCIRepository => fail!(OCIRepository),
        Kind::HelmRelease => fail!(HelmRelease),
    }
    Ok(())
}

/// The Flux kinds whose storage version (`v1`, `v2` for `HelmRelease`) the server serves (all
/// of them when discovery fails, so a transient error costs retries, not a kind).
async fn served_kinds(client: &kube::Client) -> Vec<Kind> {
    let mut served = Vec::new();
    for kind in Kind::ALL {
        match client.list_api_group_resources(&kind.api_version()).await {
            Ok(list) => {
                if list.resources.iter().any(|r| r.name == kind.plural()) {
                    served.push(kind);
                }
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                tracing::warn!(%error, group = kind.group(), "discovery failed; watching anyway");
                served.push(kind);
            }
        }
    }
    served
}
