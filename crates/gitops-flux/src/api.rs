//! The Flux kinds as Rust types, readable from every API version the CRDs serve.
//!
//! The CRDs serve Flux's `v1beta2`/`v1beta3` versions and `v1` with one schema and no conversion,
//! so the API server hands any object out under any version. The types here are the union of the
//! fields of those versions that gitops-rs acts on; fields they do not name are kept by the API
//! server (the schemas preserve unknown fields) and ignored here.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use crate::status::FluxCondition;

/// The annotation that asks for a reconcile now; its value is an opaque token (Flux writes a time).
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// The label Flux's controllers shard on.
pub const SHARD_LABEL: &str = "sharding.fluxcd.io/key";

/// What every Flux kind offers the controller and the CLI, whatever its spec.
pub trait FluxObject:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
{
    /// The status conditions.
    fn conditions(&self) -> &[FluxCondition];
    /// Whether `spec.suspend` is set.
    fn suspended(&self) -> bool;
    /// The status' `observedGeneration`.
    fn observed_generation(&self) -> Option<i64>;
    /// The last `reconcile.fluxcd.io/requestedAt` token handled.
    fn last_handled_reconcile_at(&self) -> Option<&str>;
    /// The revision to show in `get` (artifact, applied revision, latest image).
    fn revision(&self) -> Option<String>;

    /// The `Ready` condition, if any.
    fn ready(&self) -> Option<&FluxCondition> {
        self.conditions().iter().find(|c| c.type_ == "Ready")
    }

    /// Whether `Ready` is `True` for the current generation.
    fn is_ready(&self) -> bool {
        self.ready().is_some_and(|c| c.status == "True")
            && self.observed_generation() == self.meta().generation
    }

    /// The pending `requestedAt` token, when it differs from the last handled one.
    fn pending_request(&self) -> Option<&str> {
        let requested = self
            .meta()
            .annotations
            .as_ref()?
            .get(REQUESTED_AT_ANNOTATION)?;
        (Some(requested.as_str()) != self.last_handled_reconcile_at()).then_some(requested)
    }
}

macro_rules! flux_kind {
    ($(#[$doc:meta])* $kind:ident, $spec:ty, $status:ty, $group:literal, $plural:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $kind {
            /// `apiVersion`, as the server sent it.
            #[serde(default)]
            pub api_version: String,
            /// `kind`.
            #[serde(default)]
            pub kind: String,
            /// Standard object metadata.
            pub metadata: ObjectMeta,
            /// What the user asked for.
            #[serde(default)]
            pub spec: $spec,
            /// What the controller observed.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<$status>,
        }

        impl $kind {
            /// The group.
            pub const GROUP: &'static str = $group;
            /// The kind's name.
            pub const KIND: &'static str = stringify!($kind);

            /// A new object in `namespace`, with the current (`v1`) API version.
            pub fn new(namespace: &str, name: &str, spec: $spec) -> Self {
                Self {
                    api_version: format!("{}/v1", $group),
                    kind: stringify!($kind).to_string(),
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        namespace: Some(namespace.to_string()),
                        ..ObjectMeta::default()
                    },
                    spec,
                    status: None,
                }
            }
        }

        impl Resource for $kind {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(stringify!($kind))
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($group)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("v1")
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl FluxObject for $kind {
            fn conditions(&self) -> &[FluxCondition] {
                self.status.as_ref().map_or(&[], |s| s.common.conditions.as_slice())
            }
            fn suspended(&self) -> bool {
                self.spec.suspend
            }
            fn observed_generation(&self) -> Option<i64> {
                self.status.as_ref().and_then(|s| s.common.observed_generation)
            }
            fn last_handled_reconcile_at(&self) -> Option<&str> {
                self.status
                    .as_ref()
                    .and_then(|s| s.common.last_handled_reconcile_at.as_deref())
            }
            fn revision(&self) -> Option<String> {
                self.status.as_ref().and_then(|s| s.revision())
            }
        }
    };
}

/// The status fields every Flux kind shares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions, `Ready` first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<FluxCondition>,
    /// The last `reconcile.fluxcd.io/requestedAt` token handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// A reference to a Secret or ConfigMap in the object's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalObjectReference {
    /// Its name.
    pub name: String,
}

/// A reference to another object, by kind, optionally in another namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceReference {
    /// The API version, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The kind.
    #[serde(default)]
    pub kind: String,
    /// The name.
    pub name: String,
    /// The namespace; the referring object's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference to an object of a known kind, optionally in another namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacedReference {
    /// The name.
    pub name: String,
    /// The namespace; the referring object's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

// --- source.toolkit.fluxcd.io ---------------------------------------------------------------

/// The Git reference a `GitRepository` follows; the most specific field wins (commit, name,
/// semver, tag, branch), as in Flux.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRepositoryRef {
    /// A branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// A tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A semver range over tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// A full reference name (`refs/heads/main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A commit SHA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// `GitRepository.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    /// The repository URL (`https://`, `http://`, `ssh://`, `git://`).
    pub url: String,
    /// How often to check for new revisions (a Go duration).
    #[serde(default)]
    pub interval: String,
    /// Timeout of one fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The reference to follow; `master` when unset, as in Flux.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,
    /// The Secret with credentials (`username`/`password`, `bearerToken`, `identity`/`known_hosts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// `.sourceignore`-style patterns, replacing the defaults' extra rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
}

/// The artifact a source produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactStatus {
    /// Where it is stored, relative to the storage root.
    pub path: String,
    /// Where it can be read.
    pub url: String,
    /// `main@sha1:<hex>`.
    pub revision: String,
    /// `sha256:<hex>` of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// When it last changed.
    pub last_update_time: String,
    /// Its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// `GitRepository.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The last artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactStatus>,
}

impl GitRepositoryStatus {
    fn revision(&self) -> Option<String> {
        self.artifact.as_ref().map(|a| a.revision.clone())
    }
}

flux_kind!(
    /// A Git repository to follow (`source.toolkit.fluxcd.io`).
    GitRepository, GitRepositorySpec, GitRepositoryStatus, "source.toolkit.fluxcd.io", "gitrepositories"
);

// --- kustomize.toolkit.fluxcd.io ------------------------------------------------------------

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

// --- image.toolkit.fluxcd.io ----------------------------------------------------------------

/// `ImageRepository.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositorySpec {
    /// The image, without a tag (`registry/name`).
    pub image: String,
    /// How often to scan.
    #[serde(default)]
    pub interval: String,
    /// Timeout of one scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// A `kubernetes.io/dockerconfigjson` Secret with credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Talk plain HTTP to the registry.
    #[serde(default)]
    pub insecure: bool,
    /// Regular expressions of tags to leave out; Flux's default `^.*\.sig$` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_list: Option<Vec<String>>,
    /// Stop scanning.
    #[serde(default)]
    pub suspend: bool,
}

/// The result of the last scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// How many tags were found.
    pub tag_count: usize,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_time: Option<String>,
    /// Up to ten tags, newest first by tag order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latest_tags: Vec<String>,
}

/// `ImageRepository.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositoryStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The image name with the registry made explicit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_image_name: Option<String>,
    /// The last scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_result: Option<ScanResult>,
}

impl ImageRepositoryStatus {
    fn revision(&self) -> Option<String> {
        self.last_scan_result
            .as_ref()
            .map(|r| format!("{} tags", r.tag_count))
    }
}

flux_kind!(
    /// An image repository to scan for tags (`image.toolkit.fluxcd.io`).
    ImageRepository, ImageRepositorySpec, ImageRepositoryStatus, "image.toolkit.fluxcd.io", "imagerepositories"
);

/// The semver policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemverPolicy {
    /// A Masterminds range (`>=1.0.0 <2.0.0`, `^1.2`, `1.x`).
    pub range: String,
}

/// An ordering policy (`asc` or `desc`; `asc` by default, as in Flux).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPolicy {
    /// `asc` or `desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// Exactly one of the policies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePolicyChoice {
    /// Newest version in a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemverPolicy>,
    /// Last or first in alphabetical order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<OrderPolicy>,
    /// Highest or lowest number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<OrderPolicy>,
}

/// Tag filtering before the policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFilter {
    /// A regular expression tags must match.
    #[serde(default)]
    pub pattern: String,
    /// What to compare, with `$group` references; the whole tag when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
}

/// `ImagePolicy.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicySpec {
    /// The ImageRepository whose tags to choose from.
    pub image_repository_ref: NamespacedReference,
    /// The policy.
    pub policy: ImagePolicyChoice,
    /// Tag filtering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilter>,
    /// Stop choosing.
    #[serde(default)]
    pub suspend: bool,
}

/// The chosen image, as `v1` writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// The image name.
    pub name: String,
    /// The tag.
    pub tag: String,
    /// The digest, when looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `ImagePolicy.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// `name:tag`, as `v1beta2` writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_image: Option<String>,
    /// The chosen image, as `v1` writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ref: Option<ImageRef>,
}

impl ImagePolicyStatus {
    fn revision(&self) -> Option<String> {
        self.latest_image.clone()
    }
}

flux_kind!(
    /// A policy choosing one tag of an ImageRepository (`image.toolkit.fluxcd.io`).
    ImagePolicy, ImagePolicySpec, ImagePolicyStatus, "image.toolkit.fluxcd.io", "imagepolicies"
);

/// The commit author.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitAuthor {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// How commits are made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitSpec {
    /// The author.
    pub author: CommitAuthor,
    /// The message template (`{{range .Changed.Changes}}`-style Go templates are replaced by
    /// gitops-rs's own `{{#changes}}` form; a plain message is used as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template: Option<String>,
}

/// The branch to check out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSpec {
    /// The reference.
    #[serde(rename = "ref")]
    pub reference: GitRepositoryRef,
}

/// The branch to push to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSpec {
    /// The branch; the checkout branch when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// Git settings of an automation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitSpec {
    /// The branch to check out; the GitRepository's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<CheckoutSpec>,
    /// Commit settings.
    pub commit: CommitSpec,
    /// Push settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

/// Where and how to update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStrategy {
    /// The folder to rewrite; the root when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only `Setters`.
    #[serde(default)]
    pub strategy: String,
}

/// `ImageUpdateAutomation.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationSpec {
    /// The GitRepository to write to.
    pub source_ref: CrossNamespaceReference,
    /// Git settings.
    pub git: GitSpec,
    /// How often to run.
    #[serde(default)]
    pub interval: String,
    /// What to update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateStrategy>,
    /// Stop running.
    #[serde(default)]
    pub suspend: bool,
}

/// `ImageUpdateAutomation.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// When the automation last ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_automation_run_time: Option<String>,
    /// The last commit pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_commit: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_time: Option<String>,
}

impl ImageUpdateAutomationStatus {
    fn revision(&self) -> Option<String> {
        self.last_push_commit.clone()
    }
}

flux_kind!(
    /// Rewrites image markers in a GitRepository and pushes (`image.toolkit.fluxcd.io`).
    ImageUpdateAutomation, ImageUpdateAutomationSpec, ImageUpdateAutomationStatus, "image.toolkit.fluxcd.io", "imageupdateautomations"
);

// --- notification.toolkit.fluxcd.io ---------------------------------------------------------

/// `Provider.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpec {
    /// `slack`, `discord`, `github`, `generic` or `generic-hmac`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The URL (or the repository URL for `github`); the Secret's `address` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The channel (Slack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The user name shown (Slack, Discord).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A Secret with `address` and/or `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Timeout of one delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Stop delivering.
    #[serde(default)]
    pub suspend: bool,
}

/// `Provider.status` and `Alert.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
}

impl NotificationStatus {
    fn revision(&self) -> Option<String> {
        None
    }
}

flux_kind!(
    /// Where notifications go (`notification.toolkit.fluxcd.io`).
    Provider, ProviderSpec, NotificationStatus, "notification.toolkit.fluxcd.io", "providers"
);

/// Which objects' events an Alert forwards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSourceReference {
    /// The kind.
    pub kind: String,
    /// The name, or `*`.
    pub name: String,
    /// The namespace; the Alert's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `Alert.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// The Provider to send to.
    pub provider_ref: LocalObjectReference,
    /// `info` (everything) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_severity: Option<String>,
    /// The objects whose events to forward.
    #[serde(default)]
    pub event_sources: Vec<EventSourceReference>,
    /// Regular expressions a message must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_list: Vec<String>,
    /// Regular expressions that drop a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_list: Vec<String>,
    /// A summary added to every notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Metadata added to every notification.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_metadata: BTreeMap<String, String>,
    /// Stop forwarding.
    #[serde(default)]
    pub suspend: bool,
}

flux_kind!(
    /// Routes events to a Provider (`notification.toolkit.fluxcd.io`).
    Alert, AlertSpec, NotificationStatus, "notification.toolkit.fluxcd.io", "alerts"
);

/// An object a Receiver asks to reconcile: one by name, or every object of the kind with the
/// given labels (`name: "*"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverResource {
    /// The API version; Flux's current one for the kind when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The kind.
    pub kind: String,
    /// The name, or `*` for every object matching `matchLabels`.
    pub name: String,
    /// The namespace; the Receiver's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// With `name: "*"`: the labels the objects must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// `Receiver.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverSpec {
    /// `generic`, `generic-hmac`, `github` or `gitlab`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Event types to act on (`push`, `Push Hook`, ...); the type's push events when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The objects to reconcile on a verified request.
    #[serde(default)]
    pub resources: Vec<ReceiverResource>,
    /// The Secret whose `token` key holds the shared token.
    pub secret_ref: LocalObjectReference,
    /// How often to re-read the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Stop accepting requests.
    #[serde(default)]
    pub suspend: bool,
}

/// `Receiver.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The secret path requests must be sent to (`/hook/<sha256>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
}

impl ReceiverStatus {
    fn revision(&self) -> Option<String> {
        None
    }
}

flux_kind!(
    /// Turns verified webhook requests into reconcile requests (`notification.toolkit.fluxcd.io`).
    Receiver, ReceiverSpec, ReceiverStatus, "notification.toolkit.fluxcd.io", "receivers"
);

/// Parses a Go duration (`1m30s`, `10m`, `1h`, `500ms`), as Flux's intervals are written.
///
/// The arithmetic is Go's `time.ParseDuration`: integer nanoseconds, fractions truncated, and
/// `None` for anything past Go's largest duration (`2562047h47m16.854775807s`, about 292 years)
/// instead of a panic. The Flux CRDs' pattern accepts far longer texts (`6000000000000000h`);
/// Go's controllers cannot read those either. A value inside that range can be added to an
/// `Instant` or a `SystemTime` on the platforms we run on, but callers that add it to a clock
/// should still use `checked_add`: 292 years from a `SystemTime` near the end of its range can
/// overflow.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    /// Go's `time.Duration` is an `int64` of nanoseconds.
    const MAX_NANOS: u128 = i64::MAX as u128;
    let text = text.trim();
    if text == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let unit: u128 = match &after[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &after[unit_len..];
        // Every step is checked: a long run of digits must end in `None`, not in an overflow.
        let mut whole: u128 = 0;
        for d in int_part.bytes() {
            whole = whole.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
            if whole > MAX_NANOS {
                return None;
            }
        }
        let mut nanos = whole.checked_mul(unit)?;
        // The fraction, truncated to whole nanoseconds as Go does.
        let mut scale = unit;
        for d in frac_part.bytes() {
            if scale < 10 {
                break;
            }
            scale /= 10;
            nanos = nanos.checked_add(u128::from(d - b'0') * scale)?;
        }
        total = total.checked_add(nanos)?;
        if total > MAX_NANOS {
            return None;
        }
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    let sub = u32::try_from(total % 1_000_000_000).ok()?;
    Some(std::time::Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_durations_parse_as_flux_writes_them() {
        assert_eq!(parse_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("3d"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn durations_past_gos_range_are_none_not_a_panic() {
        // The CRD pattern accepts these; Go's ParseDuration refuses them ("invalid duration").
        assert_eq!(parse_duration("6000000000000000h"), None);
        assert_eq!(
            parse_duration("99999999999999999999999999999999999999999s"),
            None
        );
        assert_eq!(parse_duration("2562048h"), None);
        assert_eq!(parse_duration("1e400s"), None);
        // Go's largest duration still parses, and adding it to a clock is checked, not a panic.
        let max = parse_duration("2562047h47m16.854775807s").expect("Go's maximum");
        assert_eq!(max, Duration::new(9_223_372_036, 854_775_807));
        let _ = std::time::Instant::now().checked_add(max);
        let _ = std::time::SystemTime::now().checked_add(max);
        // Fractions are exact nanoseconds, as in Go.
        assert_eq!(parse_duration("0.1s"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration(".5s"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("1.0000000001s"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(parse_duration("1.2.3s"), None);
        assert_eq!(parse_duration("."), None);
    }

    #[test]
    fn a_v1beta2_kustomization_reads_into_the_union_type() {
        let yaml = r#"
apiVersion: kustomize.toolkit.fluxcd.io/v1beta2
kind: Kustomization
metadata: {name: apps, namespace: flux-system, generation: 3,
  annotations: {reconcile.fluxcd.io/requestedAt: "2026-01-01T00:00:00Z"}}
spec:
  interval: 10m0s
  dependsOn: [{name: infra}]
  sourceRef: {kind: GitRepository, name: flux-system}
  path: ./apps
  prune: true
  decryption: {provider: sops, secretRef: {name: sops-age}}
  postBuild:
    substitute: {cluster_name: vps}
    substituteFrom: [{kind: ConfigMap, name: vars, optional: true}]
  patchesStrategicMerge: []
status:
  observedGeneration: 2
  lastHandledReconcileAt: "2025-12-31T00:00:00Z"
  conditions:
  - {type: Ready, status: "True", reason: ReconciliationSucceeded, message: ok,
     lastTransitionTime: "2026-01-01T00:00:00Z"}
"#;
        let ks: Kustomization = serde_yaml_ng::from_str(yaml).unwrap();
        assert_eq!(ks.spec.depends_on[0].name, "infra");
        assert_eq!(ks.spec.path.as_deref(), Some("./apps"));
        assert_eq!(
            ks.spec
                .decryption
                .as_ref()
                .unwrap()
                .secret_ref
                .as_ref()
                .unwrap()
                .name,
            "sops-age"
        );
        let post = ks.spec.post_build.as_ref().unwrap();
        assert_eq!(post.substitute["cluster_name"], "vps");
        assert!(post.substitute_from[0].optional);
        // Ready, but for an older generation: not ready now.
        assert!(ks.ready().is_some());
        assert!(!ks.is_ready());
        assert_eq!(ks.pending_request(), Some("2026-01-01T00:00:00Z"));
    }
}
