//! The [`ImageScanner`](gitops_core::ImageScanner) backend for OCI registries.
//!
//! [`RegistryScanner`] lists tags with the distribution API (`GET /v2/<name>/tags/list?n=`),
//! following `Link: <…>; rel="next"` pages to the end, and authenticates the way registries ask
//! in `WWW-Authenticate`: basic, or the bearer-token flow (`realm`, `service`, `scope`) with the
//! token cached until it expires. Credentials come from a username/password or a Docker config
//! JSON (the `.dockerconfigjson` of a Kubernetes Secret). Flux's default exclusion list
//! (`^.*\.sig$`, cosign signatures) applies unless replaced. Rate limits (429 with
//! `Retry-After`) and server errors are retried a bounded number of times; a `Retry-After`
//! over the cap (30 s by default), however large or malformed, is an error, never a panic or
//! a long sleep. Every response body read (a page of tags, a token answer) is capped at
//! [`DEFAULT_MAX_BODY`] (16 MiB, [`RegistryScanner::with_max_body`]); a longer one is a
//! [`ScanError::InvalidResponse`](gitops_core::image::ScanError::InvalidResponse) naming the
//! limit, read no further.
//!
//! ```no_run
//! use gitops_core::ImageScanner;
//! use gitops_core::image::policy::{Choice, Policy};
//! use gitops_registry::RegistryScanner;
//!
//! # async fn scan() -> Result<(), Box<dyn std::error::Error>> {
//! let scanner = RegistryScanner::new()?;
//! let result = scanner.scan("ghcr.io/stefanprodan/podinfo").await?;
//! let policy = Policy::new(Choice::Semver(">=6.0.0".parse()?));
//! println!("latest: {}", policy.latest(result.tags.iter().map(String::as_str))?);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod auth;
mod scanner;

pub use auth::{Credentials, DockerConfig};
pub use scanner::{DEFAULT_MAX_BODY, Reference, RegistryScanner};

/// Errors from configuring a scanner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Docker config JSON is not valid.
    #[error("invalid docker config: {0}")]
    DockerConfig(String),
    /// An exclusion regex does not compile.
    #[error("invalid exclusion regex {pattern:?}: {reason}")]
    Exclusion {
        /// The pattern.
        pattern: String,
        /// The regex engine's message.
        reason: String,
    },
    /// An image reference is not `host[:port]/path`.
    #[error("invalid image repository {0:?}")]
    Reference(String),
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}
