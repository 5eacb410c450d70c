//! `gitops`: Git as the source of truth for Kubernetes, as building blocks a Rust program composes.
//!
//! This facade re-exports [`gitops_core`] (the object model, the six backend traits and the
//! reconcile pass) and, behind additive features, the backend crates:
//!
//! | feature | crate | what it brings |
//! |---|---|---|
//! | `local` (default) | [`gitops_local`] | `DirectorySource`, `DirectoryApplier`, `PlainRenderer`: no server needed |
//!
//! See the repository's README for the crate map and `examples/quickstart.rs` for a whole pass.
#![forbid(unsafe_code)]

pub use gitops_core as core;
pub use gitops_core::*;

#[cfg(feature = "local")]
pub use gitops_local as local;
