//! Flux's API objects on a cluster, for hosts that want Flux's custom resources to drive
//! gitops-rs: the kinds (`GitRepository`, `HelmRepository`, `HelmChart`, `OCIRepository`,
//! `Kustomization`, `HelmRelease`, `ImageRepository`, `ImagePolicy`, `ImageUpdateAutomation`,
//! `Provider`, `Alert`, `Receiver`), their CRDs in every API version Flux users
//! still write, Flux-style status, the inventory kept in a Kustomization's status, and
//! Prometheus metrics under Flux's names.
//!
//! The kinds are plain serde types implementing [`kube::Resource`], so `kube::Api<Kustomization>`
//! works as for any built-in kind.

pub mod api;
pub mod crds;
pub mod inventory;
mod kind;
pub mod metrics;
pub mod status;

pub use api::{
    Alert, FluxObject, GitRepository, HelmChart, HelmRelease, HelmRepository, ImagePolicy,
    ImageRepository, ImageUpdateAutomation, Kustomization, OCIRepository, Provider,
    REQUESTED_AT_ANNOTATION, Receiver, SHARD_LABEL, parse_duration,
};
pub use inventory::StatusInventory;
pub use kind::Kind;
pub use status::FluxCondition;
