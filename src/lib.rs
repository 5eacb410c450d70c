//! `gitops`: Git as the source of truth for Kubernetes, as building blocks a Rust program composes.
//!
//! This facade re-exports [`gitops_core`] (the object model, the six backend traits and the
//! reconcile pass) and, behind additive features, the backend crates (each feature is named
//! after its crate, `gitops_notify` coming in as `gitops::notifiers`).
//!
//! ## Features
//!
#![doc = document_features::document_features!()]
//!
//! See the repository's README for the crate map and `examples/quickstart.rs` for a whole pass.
#![forbid(unsafe_code)]

pub use gitops_core as core;
pub use gitops_core::*;

#[cfg(feature = "local")]
pub use gitops_local as local;

#[cfg(feature = "kustomize")]
pub use gitops_kustomize as kustomize;

#[cfg(feature = "sops")]
pub use gitops_sops as sops;

#[cfg(feature = "notify")]
pub use gitops_notify as notifiers;

#[cfg(feature = "registry")]
pub use gitops_registry as registry;

#[cfg(feature = "kube")]
pub use gitops_kube as kube;

#[cfg(feature = "git")]
pub use gitops_git as git;

/// Flux's custom resources: types, CRDs, status inventory, metrics (feature `flux`).
#[cfg(feature = "flux")]
pub use gitops_flux as flux;

/// Helm charts rendered natively, byte for byte as `helm template` prints them (feature `helm`).
#[cfg(feature = "helm")]
pub use gitops_helm as helm;

/// The controller's installation as objects, applied and removed (feature `install`).
#[cfg(feature = "install")]
pub use gitops_install as install;

/// The README's examples, compiled and run as doctests so they cannot rot (they use every
/// backend, so they run with `--all-features`, as the test suite does).
#[cfg(all(doctest, feature = "notify"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
