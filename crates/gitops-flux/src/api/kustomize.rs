//! `kustomize.toolkit.fluxcd.io`: `Kustomization`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use super::*;

/// SOPS decryption settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    /// Only `sops`.
    pub provider: String,
    /// The Secret holding the keys (`*.agekey` entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

/// A ConfigMap or Secret whose data become substitution variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Its name, in the Kustomization's namespace.
    pub name: String,
    /// Missing is not an error.
    #[serde(default)]
    pub optional: bool,
}

/// Post-build variable substitution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables given inline; they win over `substituteFrom`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// Variables read from ConfigMaps and Secrets, later ones winning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
}

/// The objects a patch applies to; every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchSelector {
    /// The API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The name (a regular expression, as in kustomize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// An annotation selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

/// An inline patch (strategic merge or JSON 6902) and the objects it applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KustomizePatch {
    /// The patch, as YAML or JSON text.
    pub patch: String,
    /// The objects to patch; those the patch names when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PatchSelector>,
}

/// A JSON 6902 patch of Flux `v1beta2` (`patchesJson6902`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Json6902Patch {
    /// The objects to patch.
    pub target: PatchSelector,
    /// The operations (`{op, path, value, from}`).
    #[serde(default)]
    pub patch: Vec<serde_json::Value>,
}

/// An image override: every container image named `name` gets the new name, tag or digest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeImage {
    /// The image name to match, without tag or digest.
    pub name: String,
    /// The replacement name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// The replacement tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// The replacement digest; wins over the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Labels and annotations set on every applied object's metadata (not on selectors or
/// templates).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommonMetadata {
    /// Labels to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `Kustomization.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// The source whose artifact to build.
    pub source_ref: CrossNamespaceReference,
    /// The path inside the artifact; the root when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How often to reconcile (a Go duration).
    #[serde(default)]
    pub interval: String,
    /// How soon to retry after a failure; `interval` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
    /// Timeout of apply and health checks; `interval` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Delete objects that left the source.
    #[serde(default)]
    pub prune: bool,
    /// Wait for every applied object to become ready.
    #[serde(default)]
    pub wait: bool,
    /// Recreate objects whose immutable fields changed.
    #[serde(default)]
    pub force: bool,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
    /// Sets the namespace of every namespaced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// The ServiceAccount of the Kustomization's namespace to apply, prune and check health
    /// as (impersonation); the controller's own identity, or its `--default-service-account`,
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Kustomizations that must be ready first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<NamespacedReference>,
    /// SOPS decryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,
    /// Post-build substitution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    /// Extra objects whose health gates readiness.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<CrossNamespaceReference>,
    /// Prefixes the name of every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// Suffixes the name of every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// Patches applied after the path's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<KustomizePatch>,
    /// Strategic merge patches as objects (Flux `v1beta2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches_strategic_merge: Vec<serde_json::Value>,
    /// JSON 6902 patches (Flux `v1beta2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches_json6902: Vec<Json6902Patch>,
    /// Image overrides; one replaces the path's own entry of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<KustomizeImage>,
    /// Kustomize components, relative to `path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Leave out components whose directory does not exist.
    #[serde(default)]
    pub ignore_missing_components: bool,
    /// Labels and annotations for every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
}

/// A Flux inventory: the objects a Kustomization applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryStatus {
    /// `{id, v}` entries, sorted by id.
    #[serde(default)]
    pub entries: Vec<gitops_core::inventory::Entry>,
}

/// `Kustomization.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The revision last applied successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The revision last tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The objects owned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryStatus>,
}

impl KustomizationStatus {
    fn revision(&self) -> Option<String> {
        self.last_applied_revision.clone()
    }
}

flux_kind!(
    /// A path of a source, built and applied (`kustomize.toolkit.fluxcd.io`).
    Kustomization, KustomizationSpec, KustomizationStatus, "kustomize.toolkit.fluxcd.io", "kustomizations"
);

impl Kustomization {
    /// The objects its `status.inventory` says it applied (empty when it has none yet).
    ///
    /// # Errors
    /// An entry whose id is not Flux's `<namespace>_<name>_<group>_<kind>`, named with this
    /// object.
    pub fn inventory(&self) -> Result<gitops_core::Inventory, gitops_core::inventory::Error> {
        let entries = self
            .status
            .as_ref()
            .and_then(|s| s.inventory.as_ref())
            .map_or(&[][..], |i| i.entries.as_slice());
        let location = format!(
            "Kustomization {}/{} status.inventory",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        );
        gitops_core::Inventory::from_entries(&location, entries)
    }
}
