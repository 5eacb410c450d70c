//! The [`Source`] trait: fetching a revision into an [`Artifact`].

use async_trait::async_trait;

use crate::{Artifact, BoxError, Revision};

/// Errors from fetching a source. URLs in errors never carry credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reference (branch, tag, semver range, commit) does not exist in the source.
    #[error("{url}: reference {reference} not found")]
    ReferenceNotFound {
        /// The source's URL or path.
        url: String,
        /// The reference as configured.
        reference: String,
    },
    /// The source refused the credentials.
    #[error("{url}: authentication failed")]
    Auth {
        /// The source's URL.
        url: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The source could not be reached or did not answer in time.
    #[error("{url}: unavailable")]
    Unavailable {
        /// The source's URL.
        url: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The fetched content is unusable (a path escaping the tree, a bad signature, an empty repository).
    #[error("{url}: {message}")]
    Invalid {
        /// The source's URL.
        url: String,
        /// What is wrong.
        message: String,
        /// The cause, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Writing the artifact to local storage failed.
    #[error("{path}: cannot store artifact")]
    Storage {
        /// The local path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether another try may succeed without a change to the configuration or the source.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Storage { .. })
    }
}

/// What a fetch found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetch {
    /// The revision did not move since the `last` one; the artifact is the one kept from before.
    Unchanged(Artifact),
    /// A new revision was fetched.
    Updated(Artifact),
}

impl Fetch {
    /// The artifact, changed or not.
    pub fn artifact(&self) -> &Artifact {
        match self {
            Self::Unchanged(a) | Self::Updated(a) => a,
        }
    }

    /// Whether the revision moved.
    pub fn is_updated(&self) -> bool {
        matches!(self, Self::Updated(_))
    }
}

/// Fetches the configured revision of a source (a Git repository, a local folder, a bucket).
///
/// # Guarantees
/// - When `last` equals the current revision and the artifact for it is still stored, the fetch
///   returns [`Fetch::Unchanged`] without downloading content.
/// - A failed fetch leaves the previously returned artifact usable.
/// - Artifacts exclude VCS metadata (`.git`) and honour the source's ignore rules.
///
/// # Cancellation
/// Dropping the future stops the fetch cooperatively; a partial download is never handed out
/// as an artifact.
///
/// # Errors
/// See [`Error`]; [`Error::is_transient`] tells whether to retry with backoff.
#[async_trait]
pub trait Source: Send + Sync {
    /// Fetches the current revision, comparing it with `last`.
    async fn fetch(&self, last: Option<&Revision>) -> Result<Fetch, Error>;
}
