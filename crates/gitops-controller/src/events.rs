//! Kubernetes Events on the objects the controller reconciles, written as client-go's recorder
//! (and so Flux's controllers) writes them: one `v1` Event per object, type, reason and
//! message, whose `count` and `lastTimestamp` grow when the same event happens again.
//!
//! kube-runtime's `Recorder` is not used because it folds every event with the same reason
//! into the first one's series and keeps that first message: a Kustomization's second change
//! set, or a new error after an earlier one, would never be readable with `kubectl events`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// Distinct events remembered for aggregation at most; the oldest are forgotten first.
const REMEMBERED: usize = 4096;

/// After this long an event that happens again is written as a new Event (the API server
/// drops Events an hour after their last write by default).
const AGGREGATION_WINDOW: Duration = Duration::from_secs(30 * 60);

/// Writes Events for one controller.
pub struct EventRecorder {
    client: kube::Client,
    component: String,
    instance: String,
    seen: Mutex<HashMap<EventKey, Seen>>,
}

/// What makes two events the same one, as in client-go's aggregation.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct EventKey {
    namespace: String,
    api_version: String,
    kind: String,
    name: String,
    type_: &'static str,
    reason: String,
    message: String,
}

/// The Event already written for a key.
struct Seen {
    name: String,
    count: i32,
    at: Instant,
}

/// Whether an event reports a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

impl EventRecorder {
    /// A recorder writing as `component` (`source.component`, `reportingComponent`) from
    /// `instance` (the pod's name, when known).
    pub fn new(client: kube::Client, component: &str, instance: Option<String>) -> Self {
        Self {
            client,
            component: component.to_string(),
            instance: instance.unwrap_or_else(|| component.to_string()),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records one event about `object`: a new Event, or one more occurrence of the same event
    /// (same object, type, reason and message) written before.
    pub async fn record(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        let namespace = object
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let key = EventKey {
            namespace: namespace.clone(),
            api_version: object.api_version.clone().unwrap_or_default(),
            kind: object.kind.clone().unwrap_or_default(),
            name: object.name.clone().unwrap_or_default(),
            type_: type_.as_str(),
            reason: reason.to_string(),
            message: message.to_string(),
        };
        let now = Timestamp::now();
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Some((name, count)) = self.again(&key) {
            let patch = json!({"count": count, "lastTimestamp": Time(now)});
            match events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Expired or deleted meanwhile: written anew below.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!("{}.{nanos:x}", key.name);
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            involved_object: object.clone(),
            type_: Some(key.type_.to_string()),
            reason: Some(key.reason.clone()),
            message: Some(key.message.clone()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.instance.clone()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            ..Event::default()
        };
        events.create(&PostParams::default(), &event).await?;
        self.remember(key, name);
        Ok(())
    }

    /// The Event to count `key` on again, and its new count, if it was written recently.
    fn again(&self, key: &EventKey) -> Option<(String, i32)> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entry = seen.get_mut(key)?;
        if entry.at.elapsed() > AGGREGATION_WINDOW {
            seen.remove(key);
            return None;
        }
        entry.count = entry.count.saturating_add(1);
        entry.at = Instant::now();
        Some((entry.name.clone(), entry.count))
    }

    fn remember(&self, key: EventKey, name: String) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= REMEMBERED {
            seen.retain(|_, entry| entry.at.elapsed() <= AGGREGATION_WINDOW);
        }
        if seen.len() >= REMEMBERED
            && let Some(oldest) = seen
                .iter()
                .min_by_key(|(_, entry)| entry.at)
                .map(|(key, _)| key.clone())
        {
            seen.remove(&oldest);
        }
        seen.insert(
            key,
            Seen {
                name,
                count: 1,
                at: Instant::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ListParams;

    /// Two messages under one reason are two Events; the same message again counts on its own.
    #[tokio::test]
    async fn each_message_is_its_own_event_and_repeats_are_counted() {
        let Some(kube) = gitops_testenv::require_kube() else {
            return;
        };
        let client = kube.client().await;
        let namespace = kube.namespace().await;
        let recorder = EventRecorder::new(client.clone(), "gitops-controller", None);
        let object = ObjectReference {
            api_version: Some("kustomize.toolkit.fluxcd.io/v1".into()),
            kind: Some("Kustomization".into()),
            name: Some("apps".into()),
            namespace: Some(namespace.clone()),
            ..ObjectReference::default()
        };
        let created = "Deployment/apps/api created";
        let configured = "Deployment/apps/api configured";
        for message in [created, configured, configured, configured] {
            recorder
                .record(&object, EventType::Normal, "Progressing", message)
                .await
                .expect("the event is written");
        }
        recorder
            .record(&object, EventType::Warning, "Progressing", configured)
            .await
            .expect("the event is written");

        let events: Api<Event> = Api::namespaced(client, &namespace);
        let mut seen: Vec<(String, String, i32)> = events
            .list(&ListParams::default())
            .await
            .expect("events are listed")
            .into_iter()
            .map(|event| {
                assert_eq!(event.involved_object.name.as_deref(), Some("apps"));
                assert_eq!(
                    event.source.and_then(|s| s.component).as_deref(),
                    Some("gitops-controller")
                );
                (
                    event.type_.unwrap_or_default(),
                    event.message.unwrap_or_default(),
                    event.count.unwrap_or_default(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("Normal".to_string(), configured.to_string(), 3),
                ("Normal".to_string(), created.to_string(), 1),
                ("Warning".to_string(), configured.to_string(), 1),
            ]
        );
    }
}
