//! `notification.toolkit.fluxcd.io`: `Provider`, `Alert`, `Receiver`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use super::*;

/// `Provider.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpec {
    /// `slack`, `discord`, `github`, `generic` or `generic-hmac`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The URL (or the repository URL for `github`); the Secret's `address` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The channel (Slack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The user name shown (Slack, Discord).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A Secret with `address` and/or `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Timeout of one delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Stop delivering.
    #[serde(default)]
    pub suspend: bool,
}

/// `Provider.status` and `Alert.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
}

impl NotificationStatus {
    fn revision(&self) -> Option<String> {
        None
    }
}

flux_kind!(
    /// Where notifications go (`notification.toolkit.fluxcd.io`).
    Provider, ProviderSpec, NotificationStatus, "notification.toolkit.fluxcd.io", "providers"
);

/// Which objects' events an Alert forwards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSourceReference {
    /// The kind.
    pub kind: String,
    /// The name, or `*`.
    pub name: String,
    /// The namespace; the Alert's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `Alert.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// The Provider to send to.
    pub provider_ref: LocalObjectReference,
    /// `info` (everything) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_severity: Option<String>,
    /// The objects whose events to forward.
    #[serde(default)]
    pub event_sources: Vec<EventSourceReference>,
    /// Regular expressions a message must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_list: Vec<String>,
    /// Regular expressions that drop a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_list: Vec<String>,
    /// A summary added to every notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Metadata added to every notification.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_metadata: BTreeMap<String, String>,
    /// Stop forwarding.
    #[serde(default)]
    pub suspend: bool,
}

flux_kind!(
    /// Routes events to a Provider (`notification.toolkit.fluxcd.io`).
    Alert, AlertSpec, NotificationStatus, "notification.toolkit.fluxcd.io", "alerts"
);

/// An object a Receiver asks to reconcile: one by name, or every object of the kind with the
/// given labels (`name: "*"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverResource {
    /// The API version; Flux's current one for the kind when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The kind.
    pub kind: String,
    /// The name, or `*` for every object matching `matchLabels`.
    pub name: String,
    /// The namespace; the Receiver's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// With `name: "*"`: the labels the objects must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// `Receiver.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverSpec {
    /// `generic`, `generic-hmac`, `github` or `gitlab`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Event types to act on (`push`, `Push Hook`, ...); the type's push events when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The objects to reconcile on a verified request.
    #[serde(default)]
    pub resources: Vec<ReceiverResource>,
    /// The Secret whose `token` key holds the shared token.
    pub secret_ref: LocalObjectReference,
    /// How often to re-read the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Stop accepting requests.
    #[serde(default)]
    pub suspend: bool,
}

/// `Receiver.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The secret path requests must be sent to (`/hook/<sha256>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
}

impl ReceiverStatus {
    fn revision(&self) -> Option<String> {
        None
    }
}

flux_kind!(
    /// Turns verified webhook requests into reconcile requests (`notification.toolkit.fluxcd.io`).
    Receiver, ReceiverSpec, ReceiverStatus, "notification.toolkit.fluxcd.io", "receivers"
);
