//! The [`Notifier`] trait: delivering events to people and systems.

use async_trait::async_trait;

use crate::{BoxError, Event};

/// Errors from delivering an event. The target is named without credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The receiver answered with an error status.
    #[error("{target}: delivery rejected with status {status}")]
    Rejected {
        /// Where the event went (redacted URL or service name).
        target: String,
        /// The status the receiver answered.
        status: u16,
    },
    /// The event cannot be expressed for this receiver (e.g. a commit status without a commit).
    #[error("{target}: cannot deliver: {reason}")]
    Undeliverable {
        /// Where the event would have gone.
        target: String,
        /// Why not.
        reason: String,
    },
    /// The receiver could not be reached or kept failing after retries.
    #[error("{target}: delivery failed")]
    Unavailable {
        /// Where the event went.
        target: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// Delivers events (Slack, Discord, GitHub commit status, webhooks).
///
/// # Guarantees
/// - Never puts secrets (tokens, webhook URLs with keys) into errors or logs.
/// - Retries transient failures itself within a bounded time; an error means the event is lost.
///
/// # Cancellation
/// Dropping the future abandons the delivery.
///
/// # Errors
/// See [`Error`]. A failed notification never fails a reconcile pass.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers one event.
    async fn notify(&self, event: &Event) -> Result<(), Error>;
}
