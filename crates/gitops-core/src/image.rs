//! Image scanning: the [`ImageScanner`] trait and what a scan returns.
//!
//! Image policies (semver, alphabetical, numerical) and setters (rewriting marked fields) live in
//! this module's submodules as they land; they are pure and do no I/O.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::BoxError;

pub mod message;
pub mod policy;
pub mod setters;

/// Errors from scanning an image repository. URLs never carry credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The registry refused the credentials.
    #[error("{repository}: authentication failed")]
    Auth {
        /// The image repository.
        repository: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The repository does not exist.
    #[error("{repository}: repository not found")]
    NotFound {
        /// The image repository.
        repository: String,
    },
    /// The registry could not be reached, timed out, or kept rate limiting us.
    #[error("{repository}: registry unavailable")]
    Unavailable {
        /// The image repository.
        repository: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The registry answered something we cannot read.
    #[error("{repository}: invalid registry response: {message}")]
    InvalidResponse {
        /// The image repository.
        repository: String,
        /// What was wrong.
        message: String,
    },
}

impl ScanError {
    /// Whether another try may succeed unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// The result of one scan.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanResult {
    /// The image repository (`registry.example.com/team/app`).
    pub repository: String,
    /// Every tag found, after exclusions, in the registry's order.
    pub tags: Vec<String>,
    /// When the scan finished.
    pub scanned_at: SystemTime,
    /// How long the scan took.
    pub duration: Duration,
}

impl ScanResult {
    /// A result stamped now.
    pub fn new(repository: impl Into<String>, tags: Vec<String>, duration: Duration) -> Self {
        Self {
            repository: repository.into(),
            tags,
            scanned_at: SystemTime::now(),
            duration,
        }
    }
}

/// Lists the tags of an image repository.
///
/// # Guarantees
/// - Follows the registry's pagination to the end; a partial list is an error, not a result.
/// - Applies the scanner's exclusion list before returning.
///
/// # Cancellation
/// Dropping the future abandons the scan; nothing is cached from a partial one.
///
/// # Errors
/// See [`ScanError`].
#[async_trait]
pub trait ImageScanner: Send + Sync {
    /// Lists the tags of `repository` (`host[:port]/path`).
    async fn scan(&self, repository: &str) -> Result<ScanResult, ScanError>;
}
