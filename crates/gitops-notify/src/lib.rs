//! Notifications out and webhooks in, for gitops-rs.
//!
//! **Out**: [`Notifier`](gitops_core::Notifier)s for Slack ([`Slack`]: incoming webhook or
//! `chat.postMessage`), Discord ([`Discord`]: webhook with embeds coloured by severity), GitHub
//! commit statuses ([`GitHubStatus`]) and a generic JSON webhook ([`Webhook`], optionally signed
//! with HMAC-SHA256). Every notifier shares one [`Delivery`] policy: a timeout per request,
//! bounded retries with exponential backoff on network errors and 5xx, `Retry-After` honoured
//! on 429 (up to a cap), no retry on other 4xx. Secret-bearing URLs and tokens are kept in
//! [`SecretUrl`] / redacted types and never appear in errors or `Debug` output.
//!
//! **In**: [`receiver`] verifies incoming webhook requests (GitHub, GitLab, generic HMAC,
//! generic token) as plain functions over method, headers and body, so any HTTP server can host
//! them, and says which objects to reconcile. With the `server` feature, [`server`] hosts them
//! on hyper with the limits an internet-facing endpoint needs (header and request timeouts, a
//! body cap, a connection cap, backoff on failing `accept`).
//!
//! Route events through [`gitops_core::alert::Alert`] first to filter and de-duplicate them.
//!
//! ```no_run
//! use gitops_core::{Event, Notifier, ObjectRef, Severity};
//! use gitops_notify::{Delivery, Slack};
//!
//! # async fn send() -> Result<(), Box<dyn std::error::Error>> {
//! let slack = Slack::webhook("https://hooks.slack.com/services/T000/B000/XXXX", Delivery::default())?;
//! let me = ObjectRef::new("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", Some("flux-system"), "apps");
//! slack.notify(&Event::new(Severity::Error, me, "HealthCheckFailed", "Deployment/apps/api not ready")).await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod delivery;
mod discord;
mod github;
pub mod receiver;
#[cfg(feature = "server")]
pub mod server;
mod slack;
mod webhook;

pub use delivery::{Delivery, SecretUrl};
pub use discord::Discord;
pub use github::GitHubStatus;
pub use slack::Slack;
pub use webhook::Webhook;

/// Errors from building a notifier. URLs in them are redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL does not parse or is not http(s).
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A proxy or CA option is invalid, or the HTTP client cannot be built.
    #[error("invalid HTTP client option: {0}")]
    Client(String),
}

/// `Kind/namespace/name` of the event's object, as the services show it.
pub(crate) fn title(event: &gitops_core::Event) -> String {
    let o = &event.involved_object;
    match &o.namespace {
        Some(ns) => format!("{}/{ns}/{}", o.kind, o.name),
        None => format!("{}/{}", o.kind, o.name),
    }
}

/// The metadata a notification shows: the revision first, then the event's own entries.
pub(crate) fn fields(event: &gitops_core::Event) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    if let Some(revision) = &event.revision {
        fields.push(("revision".to_owned(), revision.to_string()));
    }
    fields.extend(event.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    fields
}
