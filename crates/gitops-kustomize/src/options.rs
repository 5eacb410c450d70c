//! The options of a build, as `kubectl kustomize` takes them as flags and Flux from its
//! `Kustomization` spec.

use std::path::PathBuf;

use crate::overrides::Overrides;
use crate::yaml::Limits;

/// Which files a kustomization may read (`--load-restrictor`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadRestrictor {
    /// Files only from the kustomization's directory and below (kustomize's default).
    #[default]
    RootOnly,
    /// Any file (`LoadRestrictionsNone`); a repository root set in the options still holds.
    None,
}

/// The output order (`--reorder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reorder {
    /// kustomize's legacy order by kind (the default), unless the kustomization's
    /// `sortOptions` says otherwise.
    #[default]
    Legacy,
    /// Input order.
    None,
}

/// Options of a build.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BuildOptions {
    /// The load restrictor.
    pub load_restrictor: LoadRestrictor,
    /// The output order.
    pub reorder: Reorder,
    /// A directory no read may leave, symlinks included (the repository). `None`: no such bound
    /// beyond the load restrictor, as `kubectl kustomize` behaves.
    pub root: Option<PathBuf>,
    /// When the built directory has no kustomization file, build one from all YAML files below
    /// it, as Flux does. Off by default, as `kubectl kustomize` errors instead.
    pub generate_missing_kustomization: bool,
    /// Bounds on YAML documents.
    pub limits: Limits,
    /// Fields merged into the top-level kustomization before it is read (Flux's
    /// `Kustomization` spec); empty by default.
    pub overrides: Overrides,
}

impl BuildOptions {
    /// Sets the load restrictor.
    pub fn with_load_restrictor(mut self, r: LoadRestrictor) -> Self {
        self.load_restrictor = r;
        self
    }

    /// Sets the output order.
    pub fn with_reorder(mut self, r: Reorder) -> Self {
        self.reorder = r;
        self
    }

    /// Bounds every read to `root`.
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }

    /// Generates a kustomization where there is none, as Flux does.
    pub fn with_generate_missing_kustomization(mut self, on: bool) -> Self {
        self.generate_missing_kustomization = on;
        self
    }

    /// Merges these fields into the top-level kustomization, as Flux does with its spec.
    pub fn with_overrides(mut self, overrides: Overrides) -> Self {
        self.overrides = overrides;
        self
    }
}
