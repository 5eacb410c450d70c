//! The [`Renderer`] trait: turning a path of an artifact into Kubernetes objects.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{BoxError, Decryptor, Object, decrypt, object};

/// Errors from rendering. Every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is wrong: bad kustomization, bad patch, missing file.
    #[error("{path}: {message}")]
    Invalid {
        /// The file at fault, relative to the artifact root.
        path: String,
        /// What is wrong, for a person.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A path leaves the artifact root (or follows a symlink out of it).
    #[error("{path}: path escapes the repository root")]
    PathEscape {
        /// The offending path as written.
        path: String,
    },
    /// A feature the renderer deliberately does not implement.
    #[error("{path}: {feature} is not supported by this renderer")]
    Unsupported {
        /// The file that asks for it.
        path: String,
        /// The feature.
        feature: String,
    },
    /// A file could not be read.
    #[error("{path}: cannot read")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The render did not finish in time (a host's bound, such as a Kustomization's timeout).
    #[error("{path}: rendering did not finish within {after:?}")]
    Timeout {
        /// The path being rendered.
        path: String,
        /// The bound.
        after: std::time::Duration,
    },
    /// A document is not valid YAML or not an object.
    #[error(transparent)]
    Object(#[from] object::Error),
    /// An encrypted input could not be decrypted.
    #[error(transparent)]
    Decrypt(#[from] decrypt::Error),
}

impl Error {
    /// Whether another try may succeed without a change to the repository: I/O errors and
    /// timeouts.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Io { .. } | Self::Timeout { .. })
    }
}

/// What to render.
#[derive(Clone)]
#[non_exhaustive]
pub struct RenderRequest {
    /// The artifact root. No file outside it may be read.
    pub root: PathBuf,
    /// The path to render, relative to `root` (`./apps/production`).
    pub path: PathBuf,
    /// The decryptor for encrypted generator inputs, if decryption is configured.
    pub decryptor: Option<Arc<dyn Decryptor>>,
}

impl RenderRequest {
    /// Renders `path` inside `root`, without decryption.
    pub fn new(root: impl Into<PathBuf>, path: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            path: path.into(),
            decryptor: None,
        }
    }

    /// Sets the decryptor for encrypted inputs.
    pub fn with_decryptor(mut self, decryptor: Arc<dyn Decryptor>) -> Self {
        self.decryptor = Some(decryptor);
        self
    }
}

impl std::fmt::Debug for RenderRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderRequest")
            .field("root", &self.root)
            .field("path", &self.path)
            .field("decryptor", &self.decryptor.is_some())
            .finish()
    }
}

/// Renders Kubernetes objects from a path of an artifact (kustomize, plain YAML, …).
///
/// # Guarantees
/// - Reads nothing outside [`RenderRequest::root`], symlinks included ([`Error::PathEscape`]).
/// - Returns objects in a deterministic order; the same input gives the same output.
/// - Encrypted generator inputs are decrypted through the request's decryptor; without one
///   they are read as they are.
///
/// # Cancellation
/// Dropping the future abandons the render; it has no side effects to undo.
///
/// # Errors
/// See [`Error`]. A render error stops the pass before anything is applied or pruned.
#[async_trait]
pub trait Renderer: Send + Sync {
    /// Renders the objects of one path.
    async fn render(&self, request: &RenderRequest) -> Result<Vec<Object>, Error>;
}
