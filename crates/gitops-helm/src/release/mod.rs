//! Helm releases: install, upgrade, rollback and uninstall a chart as `helm` v4 does, with
//! records the real `helm` reads and writes (`helm list`, `history`, `get`, `rollback` work on
//! releases made here, and this module continues releases `helm` made).
//!
//! # Where to start
//! [`Actions`] with [`ActionOptions`]: [`Actions::install`], [`Actions::upgrade`],
//! [`Actions::rollback`], [`Actions::uninstall`], [`Actions::status`], [`Actions::history`],
//! [`Actions::list`], [`Actions::test`] (`helm test`; [`Actions::test_with`] and a
//! [`TestFilter`] for `--filter`), [`Actions::drift`] and [`Actions::correct_drift`] (Flux's
//! drift detection; [`IgnoredFields`] leaves fields to other managers). Records may live apart
//! from the release's namespace ([`ActionOptions::with_storage_namespace`], Flux's
//! `storageNamespace`). [`hooks`] describes how hooks run, [`lookup`] what templates' `lookup`
//! reads.
//! [`Storage`] reads and writes the records; [`Release`] is one record.
//!
//! # Helm's format
//! The record is Helm v4's `pkg/release/v1.Release` as JSON ([`model`]), gzipped, base64'd, in
//! a Secret `sh.helm.release.v1.<name>.v<revision>` of type `helm.sh/release.v1` labelled
//! `name`, `owner=helm`, `status`, `version` ([`storage`]). See [`action`] for how actions
//! apply, delete, recover interrupted ones, and what is not supported yet.

pub mod action;
pub mod hooks;
pub mod lookup;
pub mod model;
mod render;
pub mod storage;

pub use action::{
    ActionOptions, Actions, CrdPolicy, Error, IgnoredFields, PostRenderer, TestFilter,
};
pub use lookup::ClusterLookup;
pub use model::{Hook, HookExecution, Info, Release, Status, StoredChart, StoredFile};
pub use storage::{Record, Storage};
