//! The core of gitops-rs: the object model, the six backend traits and one reconcile pass.
//!
//! A host program composes a reconcile loop from six small async traits:
//!
//! | trait | job |
//! |---|---|
//! | [`Source`] | fetch a revision into an [`Artifact`] |
//! | [`Decryptor`] | decrypt encrypted files and `Secret` objects |
//! | [`Renderer`] | turn a path of an artifact into [`Object`]s |
//! | [`Applier`] | apply objects, prune what the [`Inventory`] no longer holds, wait for health |
//! | [`ImageScanner`] | list the tags of an image repository |
//! | [`Notifier`] | deliver [`Event`]s |
//!
//! [`Reconciler`] composes one pass (fetch → render → decrypt → apply → prune → wait → notify)
//! and returns an [`Outcome`] plus a requeue hint; it never sleeps and never retries, the host
//! decides when the next pass runs, with the helpers in [`schedule`].
//!
//! This crate depends on no backend and no async runtime: every backend lives in its own crate
//! (`gitops-git`, `gitops-kube`, `gitops-local`, …) and a host can plug in its own.
//!
//! # Where to start
//! - [`object`] for the Kubernetes object model and multi-document YAML,
//! - [`artifact`] for [`Revision`] (Flux's `main@sha1:<hex>` format) and [`Artifact`],
//! - [`reconcile`] for the pass itself.
//!
//! ```
//! use gitops_core::{ObjectRef, Revision};
//!
//! let rev: Revision = "main@sha1:0123456789abcdef0123456789abcdef01234567".parse().unwrap();
//! assert_eq!(rev.reference(), Some("main"));
//!
//! let objects = gitops_core::object::parse_yaml(
//!     "cm.yaml",
//!     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: web\n",
//! ).unwrap();
//! assert_eq!(objects[0].id(), &ObjectRef::new("", "v1", "ConfigMap", Some("web"), "app"));
//! ```
#![forbid(unsafe_code)]

pub mod alert;
pub mod apply;
pub mod artifact;
pub mod condition;
pub mod conformance;
pub mod decrypt;
pub mod event;
pub mod image;
pub mod inventory;
pub mod notify;
pub mod object;
pub mod reconcile;
pub mod render;
pub mod schedule;
pub mod secret;
pub mod source;
pub mod substitute;

pub use apply::{Action, Applier, Change, ChangeSet, HealthReport, HealthStatus};
pub use artifact::{Artifact, Digest, DigestAlgorithm, Revision};
pub use condition::{Condition, ConditionStatus, ConditionType, Conditions};
pub use decrypt::Decryptor;
pub use event::{Event, Severity};
pub use image::ImageScanner;
pub use inventory::{Inventory, InventoryStore, MemoryInventoryStore};
pub use notify::Notifier;
pub use object::{Object, ObjectRef};
pub use reconcile::{Outcome, Reconciler};
pub use render::Renderer;
pub use secret::SecretBytes;
pub use source::{Fetch, Source};

/// The attribute that makes the traits object-safe; re-exported so a host implementing a trait
/// needs no extra dependency.
pub use async_trait::async_trait;

/// A boxed error from a backend, kept as the `#[source]` of our own error types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
