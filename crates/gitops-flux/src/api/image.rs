//! `image.toolkit.fluxcd.io`: `ImageRepository`, `ImagePolicy`, `ImageUpdateAutomation`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use super::*;

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
