//! The gitops-rs controller: Flux's own custom resources, reconciled with gitops-rs.
//!
//! It watches `GitRepository`, `HelmRepository`, `HelmChart`, `OCIRepository`, `HelmRelease`,
//! `Kustomization`, `ImageRepository`, `ImagePolicy`, `ImageUpdateAutomation`, `Provider`,
//! `Alert` and `Receiver` (every API version Flux users write) and reconciles each on its
//! interval, writing Flux-style status. It is a composition of the library's pieces, not a
//! framework: `sources.rs`, `helm_repositories.rs`, `helm_charts.rs`, `oci_repositories.rs`,
//! `helm_releases.rs`, `kustomizations.rs`, `images.rs`,
//! `notifications.rs` and `receivers.rs` each read top to bottom, one kind each; `engine.rs`
//! decides what is due, `wakes.rs` which kind wakes which; `outcome.rs` has a pass's
//! `Action` for the queue and its `Failure` for status; `translate/` turns Flux's specs into
//! the library's options, one module per API group; `context.rs` holds what passes share; `run.rs` starts and stops a
//! process. The binary (`main.rs`) only parses flags, sets up logging and calls [`run`].
//!
//! ```text
//! cargo run -p gitops-controller -- --kubeconfig ~/.kube/config --install-crds
//! ```
//!
//! Metrics are served on `--metrics-addr` (`/metrics`, `/healthz`, `/readyz`), Receiver webhook
//! paths on `--receiver-addr`. With leader
//! election on (the default), replicas wait for a `coordination.k8s.io` Lease before reconciling,
//! and exit when they lose it. `--shard KEY` watches only objects labelled
//! `sharding.fluxcd.io/key=KEY`; without it, objects carrying that label are left to their shard.
#![forbid(unsafe_code)]

mod charts;
mod context;
mod engine;
mod events;
mod helm_charts;
mod helm_releases;
mod helm_repositories;
mod images;
mod kustomizations;
pub mod metrics_server;
mod notifications;
mod oci_repositories;
pub mod outcome;
mod receivers;
mod run;
mod settings;
mod sources;
pub mod translate;
pub mod wakes;

pub use run::run;
pub use settings::{LogEncoding, Settings, parse_go_duration};
