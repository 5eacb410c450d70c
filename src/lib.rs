//! `gitops`: Git as the source of truth for Kubernetes, as building blocks a Rust program composes.
//!
//! This facade re-exports [`gitops_core`] (the object model, the six backend traits and the
//! reconcile pass) and, behind additive features, the backend crates:
//!
//! | feature | crate | what it brings |
//! |---|---|---|
//! | `local` (default) | `gitops_local` | `DirectorySource`, `DirectoryApplier`, `PlainRenderer`: no server needed |
//! | `kustomize` | `gitops_kustomize` | `KustomizeRenderer`: a native kustomize build |
//! | `sops` | `gitops_sops` | `SopsDecryptor`: SOPS with age keys |
//! | `registry` | `gitops_registry` | `RegistryScanner`: OCI tag listing with registry auth |
//! | `kube` | `gitops_kube` | `KubeApplier`: server-side apply, prune, health, drift; inventory stores |
//! | `git` | `gitops_git` | `GitSource` on gix; `GitWriter` for commits and pushes |
//! | `notify` | `gitops_notify` (as `gitops::notifiers`) | Slack, Discord, GitHub status and webhook notifiers; webhook receivers |
//! | `flux` | `gitops_flux` | Flux's custom resources: types, CRDs, status inventory, metrics |
//! | `helm` | `gitops_helm` | `HelmRenderer` and `template`: Helm charts rendered natively, as `helm template` prints them |
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

/// The README's examples, compiled and run as doctests so they cannot rot (they use every
/// backend, so they run with `--all-features`, as the test suite does).
#[cfg(all(doctest, feature = "notify"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
