//! A generic JSON webhook, optionally signed with HMAC-SHA256.

use async_trait::async_trait;
use gitops_core::condition::rfc3339;
use gitops_core::notify::Error as NotifyError;
use gitops_core::{Event, Notifier};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{Delivery, Error, SecretUrl};

/// The header carrying the signature: `X-Signature: sha256=<hex HMAC of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// Posts each event as JSON in Flux's event format (`involvedObject`, `severity`, `timestamp`,
/// `message`, `reason`, `metadata`, `reportingController`).
pub struct Webhook {
    url: SecretUrl,
    hmac_key: Option<Vec<u8>>,
    delivery: Delivery,
    client: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("signed", &self.hmac_key.is_some())
            .finish()
    }
}

impl Webhook {
    /// A webhook to `url`.
    pub fn new(url: &str, delivery: Delivery) -> Result<Self, Error> {
        Ok(Self {
            url: SecretUrl::parse(url)?,
            hmac_key: None,
            client: delivery.client()?,
            delivery,
        })
    }

    /// Signs every body with HMAC-SHA256 under `key`.
    pub fn with_hmac_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.hmac_key = Some(key.into());
        self
    }

    /// The JSON body for an event.
    pub fn payload(event: &Event) -> Value {
        let o = &event.involved_object;
        let mut metadata: serde_json::Map<String, Value> = event
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        if let Some(revision) = &event.revision {
            metadata.insert("revision".into(), json!(revision.to_string()));
        }
        json!({
            "involvedObject": {
                "apiVersion": o.api_version(),
                "kind": o.kind,
                "namespace": o.namespace.clone().unwrap_or_default(),
                "name": o.name,
            },
            "severity": event.severity.to_string(),
            "timestamp": rfc3339(event.timestamp),
            "message": event.message,
            "reason": event.reason,
            "metadata": metadata,
            "reportingController": "gitops-rs",
        })
    }
}

/// `sha256=<hex>` of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl Notifier for Webhook {
    async fn notify(&self, event: &Event) -> Result<(), NotifyError> {
        let body =
            serde_json::to_vec(&Self::payload(event)).map_err(|e| NotifyError::Undeliverable {
                target: self.url.to_string(),
                reason: e.to_string(),
            })?;
        let signature = self.hmac_key.as_deref().map(|key| sign(key, &body));
        let target = self.url.to_string();
        self.delivery
            .send(&target, || {
                let mut request = self
                    .client
                    .post(self.url.expose().clone())
                    .header("Content-Type", "application/json")
                    .body(body.clone());
                if let Some(signature) = &signature {
                    request = request.header(SIGNATURE_HEADER, signature);
                }
                request
            })
            .await?;
        Ok(())
    }
}
