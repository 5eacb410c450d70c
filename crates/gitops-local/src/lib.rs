//! Backends of gitops-rs that need no server.
//!
//! - [`DirectorySource`]: a local folder as a [`Source`](gitops_core::Source); its revision is a
//!   content digest (`sha256:<hex>`), so a pass notices every edit.
//! - [`PlainRenderer`]: what Flux does for a path without a `kustomization.yaml`: every YAML file
//!   below the path, recursively, in path order.
//! - [`DirectoryApplier`]: the "rendered manifests" pattern: one YAML file per object in an output
//!   folder, an inventory kept beside them, and files the new render lacks pruned.
//! - [`images::update_tree`]: Flux's image setters over a checked-out tree, in place.
//!
//! They do their file I/O on tokio's blocking pool, so a host needs a tokio runtime.
//!
//! ```no_run
//! use std::sync::Arc;
//! use gitops_core::{ObjectRef, Reconciler};
//! use gitops_local::{DirectoryApplier, DirectorySource, PlainRenderer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let applier = Arc::new(DirectoryApplier::new("./rendered"));
//! let me = ObjectRef::new("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", Some("flux-system"), "apps");
//! let reconciler = Reconciler::new(me, Arc::new(DirectorySource::new("./repo")), Arc::new(PlainRenderer::new()), applier.clone())
//!     .with_inventory_store(applier);
//! let outcome = reconciler.reconcile(None).await?;
//! println!("{} objects at {}", outcome.inventory.len(), outcome.revision);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod applier;
mod fs;
pub mod images;
mod renderer;
mod source;

pub use applier::DirectoryApplier;
pub use renderer::PlainRenderer;
pub use source::DirectorySource;
