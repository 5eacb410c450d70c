//! The Kubernetes backend of gitops-rs: [`KubeApplier`] implements
//! [`gitops_core::Applier`] with server-side apply, and [`ConfigMapInventory`] /
//! [`SecretInventory`] keep the inventory of a reconcile in the cluster.
//!
//! # What it does
//! - **Apply in stages**: CustomResourceDefinitions, Namespaces and cluster-wide RBAC first; then it
//!   waits until the new CRDs are Established and applies the rest, custom resources of those CRDs
//!   included. Kinds are found through discovery (cached), so any kind works.
//! - **Unchanged objects cost no request**: objects are read with one list per resource and
//!   namespace; an object carrying the digest of the configuration we would apply (the
//!   [`DIGEST_ANNOTATION`]) whose live values still hold what we set is unchanged. A hand edit is
//!   seen in the live values and corrected by the next apply.
//! - **Conflicts**: fields taken by imperative edits (`kubectl edit`, `scale`, …) are taken back;
//!   fields owned by another server-side apply manager are reported as
//!   [`Conflict`](gitops_core::apply::Error::Conflict) unless `force` is set.
//! - **Immutable fields**: without `force` the error names the field; with `force` the object is
//!   deleted and created again.
//! - **Health** after kstatus ([`health::health`]), **drift** through a server-side dry run
//!   ([`Applier::diff`](gitops_core::Applier::diff), printed by [`render_diff`]), Secret values
//!   masked.
//!
//! # Where to start
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use gitops_core::{Applier, InventoryStore, apply::ApplyOptions};
//! use gitops_kube::{ConfigMapInventory, KubeApplier};
//!
//! let applier = KubeApplier::from_kubeconfig("kubeconfig".as_ref()).await?;
//! let store = ConfigMapInventory::new(applier.client().clone(), "flux-system", "app-inventory");
//! let objects = gitops_core::object::parse_yaml("app.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n")?;
//!
//! let drifts = applier.diff(&objects).await?;
//! print!("{}", gitops_kube::render_diff(&drifts));
//! let changes = applier.apply(&objects, &ApplyOptions::default()).await?;
//! println!("{}", changes.summary());
//! # let _ = store.load().await?;
//! # Ok(()) }
//! ```
//! A whole pass with prune and inventory is [`gitops_core::Reconciler`] with this applier and an
//! inventory store.
//!
//! # Timeouts
//! Every request is bounded: the client gets connect and read timeouts
//! ([`ConnectOptions`]) and each call is also bounded by
//! [`KubeApplierOptions::request_timeout`].

mod applier;
mod compare;
pub mod connect;
pub mod health;
mod inventory;
pub mod lease;

pub use applier::{DEFAULT_FIELD_MANAGER, KubeApplier, KubeApplierOptions};
pub use compare::{DIGEST_ANNOTATION, MASK};
pub use connect::{
    ConnectOptions, RequestCounter, ServiceAccount, client_from_config, client_from_kubeconfig,
};
pub use gitops_core::apply::{diff_exit_code, render_diff};
pub use inventory::{ConfigMapInventory, INVENTORY_KEY, SecretInventory};
pub use lease::{LeaderGuard, Leadership, LeaseLock};
