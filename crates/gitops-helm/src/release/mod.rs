//! Helm releases, recorded as `helm` v4 records them.
//!
//! # Where to start
//! [`Storage`] reads and writes the records; [`Release`] is one record.
//!
//! # Helm's format
//! The record is Helm v4's `pkg/release/v1.Release` as JSON ([`model`]), gzipped, base64'd, in
//! a Secret `sh.helm.release.v1.<name>.v<revision>` of type `helm.sh/release.v1` labelled
//! `name`, `owner=helm`, `status`, `version` ([`storage`]).

pub mod model;
pub mod storage;

pub use model::{Hook, HookExecution, Info, Release, Status, StoredChart, StoredFile};
pub use storage::{Record, Storage};
