//! `Provider` and `Alert`, and the hub every event goes through: a Kubernetes Event on the
//! object (what `gitops events` and `kubectl events` show), then each Alert that selects it.
//!
//! Deliveries to providers go through a bounded queue drained by their own task: a pass never
//! waits for Slack (a stalled receiver costs a delivery up to its timeout times its attempts),
//! and when the queue is full a new notification is dropped, logged and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use gitops_core::alert::Alert as Route;
use gitops_core::condition::Conditions;
use gitops_core::{Event, Notifier, Severity};
use gitops_flux::api::ProviderSpec;
use gitops_flux::{Alert, Provider};
use serde_json::json;

use crate::context::{Ctx, get, secret_data, suspended};
use crate::engine::{Key, Kind};
use crate::events::{EventRecorder, EventType};
use crate::outcome::Action;
use crate::translate::{self, AlertPlan};

/// Where events go.
#[derive(Clone)]
pub struct Hub(Arc<HubState>);

struct HubState {
    recorder: EventRecorder,
    providers: RwLock<HashMap<Key, Arc<dyn Notifier>>>,
    alerts: Mutex<HashMap<Key, (Route, Key)>>,
    /// Routed notifications waiting for delivery, and the provider each goes to.
    outbox: tokio::sync::mpsc::Sender<(Event, Key)>,
    /// Notifications dropped because the outbox was full.
    dropped: AtomicU64,
}

/// Notifications waiting for delivery at most; more are dropped.
const OUTBOX: usize = 256;

impl Hub {
    pub fn new(client: kube::Client) -> Self {
        let (outbox, pending) = tokio::sync::mpsc::channel(OUTBOX);
        let hub = Self(Arc::new(HubState {
            recorder: EventRecorder::new(
                client,
                "gitops-controller",
                std::env::var("POD_NAME").ok(),
            ),
            providers: RwLock::default(),
            alerts: Mutex::default(),
            outbox,
            dropped: AtomicU64::new(0),
        }));
        tokio::spawn(deliver(Arc::downgrade(&hub.0), pending));
        hub
    }

    /// Records `event` on its object and forwards it to every Alert that selects it.
    pub async fn publish(&self, event: &Event) {
        let id = &event.involved_object;
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(id.api_version()),
            kind: Some(id.kind.clone()),
            name: Some(id.name.clone()),
            namespace: id.namespace.clone(),
            ..Default::default()
        };
        let mut note = event.message.clone();
        if note.len() > 1000 {
            let mut end = 1000;
            while !note.is_char_boundary(end) {
                end -= 1;
            }
            note.truncate(end);
        }
        let type_ = match event.severity {
            Severity::Error => EventType::Warning,
            _ => EventType::Normal,
        };
        if let Err(error) = self
            .0
            .recorder
            .record(&reference, type_, &event.reason, &note)
            .await
        {
            tracing::warn!(%error, "recording an event failed");
        }

        let targets: Vec<(Event, Key)> = {
            let mut alerts = self.0.alerts.lock().unwrap_or_else(|e| e.into_inner());
            alerts
                .values_mut()
                .filter_map(|(route, provider)| {
                    route
                        .route(event, SystemTime::now())
                        .map(|routed| (routed, provider.clone()))
                })
                .collect()
        };
        for (routed, provider) in targets {
            if let Err(error) = self.0.outbox.try_send((routed, provider.clone())) {
                let dropped = self.0.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let why = match error {
                    tokio::sync::mpsc::error::TrySendError::Full(_) => "the delivery queue is full",
                    tokio::sync::mpsc::error::TrySendError::Closed(_) => "delivery has stopped",
                };
                tracing::warn!(provider = %provider, dropped, "notification dropped: {why}");
            }
        }
    }

    /// Publishes an event about `key`'s object.
    pub async fn announce(
        &self,
        key: &Key,
        severity: Severity,
        reason: &str,
        message: &str,
        revision: Option<gitops_core::Revision>,
    ) {
        let event = Event::new(severity, key.object_ref(), reason, message).with_revision(revision);
        self.publish(&event).await;
    }

    /// Drops a deleted Provider or Alert.
    pub fn forget(&self, key: &Key) {
        match key.kind {
            Kind::Provider => {
                self.0
                    .providers
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(key);
            }
            Kind::Alert => {
                self.0
                    .alerts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(key);
            }
            _ => {}
        }
    }
}

/// Delivers queued notifications one at a time, each bounded by its provider's timeout and
/// attempts, until the hub is gone.
async fn deliver(
    hub: std::sync::Weak<HubState>,
    mut pending: tokio::sync::mpsc::Receiver<(Event, Key)>,
) {
    while let Some((event, provider)) = pending.recv().await {
        let Some(hub) = hub.upgrade() else { return };
        let notifier = hub
            .providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&provider)
            .cloned();
        drop(hub);
        if let Some(notifier) = notifier {
            if let Err(error) = notifier.notify(&event).await {
                tracing::warn!(provider = %provider, %error, "notification failed");
            }
        }
    }
}

#[gitops_core::async_trait]
impl Notifier for Hub {
    async fn notify(&self, event: &Event) -> Result<(), gitops_core::notify::Error> {
        self.publish(event).await;
        Ok(())
    }
}

/// One pass of a Provider or an Alert: (re)build it; it is Ready when it can deliver.
pub async fn reconcile(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let generation;
    let mut conditions = Conditions::new();
    let now = SystemTime::now();
    match key.kind {
        Kind::Provider => {
            let Some(provider) = get::<Provider>(ctx, key).await? else {
                return Ok(Action::AwaitChange);
            };
            generation = provider.metadata.generation.unwrap_or_default();
            if suspended(ctx, key, &provider) {
                ctx.notifications.forget(key);
                return Ok(Action::AwaitChange);
            }
            match notifier(ctx, key, &provider.spec).await {
                Ok(notifier) => {
                    ctx.notifications
                        .0
                        .providers
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key.clone(), notifier);
                    conditions.mark_ready("Succeeded", "Initialized", generation, now);
                }
                Err(error) => {
                    conditions.mark_failed(
                        "InvalidProvider",
                        &format!("{error:#}"),
                        true,
                        generation,
                        now,
                    );
                }
            }
            ctx.write_status(Kind::Provider, &provider, &conditions, json!({}))
                .await?;
        }
        Kind::Alert => {
            let Some(alert) = get::<Alert>(ctx, key).await? else {
                return Ok(Action::AwaitChange);
            };
            generation = alert.metadata.generation.unwrap_or_default();
            if suspended(ctx, key, &alert) {
                ctx.notifications.forget(key);
                return Ok(Action::AwaitChange);
            }
            match translate::alert(&key.namespace, &alert.spec) {
                Ok(AlertPlan { route, provider }) => {
                    ctx.notifications
                        .0
                        .alerts
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key.clone(), (route, provider));
                    conditions.mark_ready("Succeeded", "Initialized", generation, now);
                }
                Err(error) => {
                    conditions.mark_failed(
                        "InvalidAlert",
                        &format!("{error:#}"),
                        true,
                        generation,
                        now,
                    );
                }
            }
            ctx.write_status(Kind::Alert, &alert, &conditions, json!({}))
                .await?;
        }
        _ => return Ok(Action::AwaitChange),
    }
    // Secrets may rotate without the object changing: rebuild now and then.
    Ok(ctx.after_interval(key, Duration::from_secs(600)))
}

/// The notifier a Provider describes, with its Secret read.
async fn notifier(ctx: &Ctx, key: &Key, spec: &ProviderSpec) -> anyhow::Result<Arc<dyn Notifier>> {
    let secret: HashMap<String, Vec<u8>> = match &spec.secret_ref {
        Some(reference) => secret_data(ctx, &key.namespace, &reference.name)
            .await?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    Ok(translate::provider(spec, &secret)?)
}
