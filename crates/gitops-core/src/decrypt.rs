//! The [`Decryptor`] trait: decrypting files a renderer reads and `Secret` objects it renders.

use std::path::Path;

use async_trait::async_trait;

use crate::{BoxError, Object, SecretBytes};

/// Errors from decryption. None of them carries plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No configured key opens the file.
    #[error("{path}: no decryption key matches; the file is encrypted for {}", recipients.join(", "))]
    MissingKey {
        /// The file or object.
        path: String,
        /// The recipients the file names (public keys, key ids).
        recipients: Vec<String>,
    },
    /// The content does not match its message authentication code.
    #[error("{path}: integrity check failed: the file was altered after encryption")]
    Integrity {
        /// The file or object.
        path: String,
    },
    /// The file uses a key type or format this decryptor cannot handle.
    #[error("{path}: {what} is not supported by this decryptor (supported: {supported})")]
    Unsupported {
        /// The file or object.
        path: String,
        /// What was found (`pgp key group`, `INI format`).
        what: String,
        /// What this decryptor supports.
        supported: String,
    },
    /// The file claims to be encrypted but is malformed.
    #[error("{path}: malformed encrypted file")]
    Malformed {
        /// The file or object.
        path: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Keys could not be loaded (by [`Decryptor::prepare`]).
    #[error("cannot load decryption keys from {origin}")]
    Keys {
        /// Where the keys were to come from.
        origin: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Whether another try may succeed without a change to the repository or the keys.
    pub fn is_transient(&self) -> bool {
        false
    }
}

/// Decrypts encrypted files and objects inside a render (SOPS, in the `gitops-sops` backend).
///
/// The reconciler calls [`prepare`](Decryptor::prepare) once per pass, then hands the decryptor
/// to the renderer, which calls [`decrypt_file`](Decryptor::decrypt_file) for every file it reads
/// as generator input, and afterwards decrypts every rendered object with
/// [`decrypt_object`](Decryptor::decrypt_object).
///
/// Decryption itself is synchronous on purpose: renderers read files synchronously on their hot
/// path, and decrypting with keys in memory is CPU work. A backend whose keys live in a remote
/// service fetches or unwraps them in the async `prepare`.
///
/// # Guarantees
/// - Plaintext is returned only in [`SecretBytes`] or inside the returned object, never in errors,
///   `Debug` output or logs.
/// - A file or object that is not encrypted gives `Ok(None)` and is left as it is.
/// - A tampered file is an error ([`Error::Integrity`]), never partial plaintext.
///
/// # Cancellation
/// `prepare` may be dropped at any await point; it must leave no half-loaded key state visible.
///
/// # Errors
/// See [`Error`]; every variant names the file or object.
#[async_trait]
pub trait Decryptor: Send + Sync {
    /// Loads or refreshes keys before a pass. The default does nothing.
    async fn prepare(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Decrypts a file's content if it is encrypted in this decryptor's format.
    ///
    /// `path` is relative to the artifact root and picks the format by extension, as `sops` does.
    fn decrypt_file(&self, path: &Path, content: &[u8]) -> Result<Option<SecretBytes>, Error>;

    /// Decrypts a rendered object if it carries this decryptor's metadata.
    fn decrypt_object(&self, object: &Object) -> Result<Option<Object>, Error>;
}
