//! `helm.toolkit.fluxcd.io`: `HelmRelease`.
//!
//! The types cover what Flux documents for `v2` (and `v2beta1`/`v2beta2`, served with the
//! same schema); option blocks whose details only a Helm action reads (post-renderers, drift
//! ignore rules, test filters, a remote kubeconfig) stay JSON values.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use super::*;

/// The chart a HelmRelease makes a `HelmChart` for (`spec.chart.spec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateSpec {
    /// The chart's name in a HelmRepository, or its path in a GitRepository or Bucket.
    pub chart: String,
    /// A SemVer constraint on the version; `*` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where the chart comes from (`HelmRepository`, `GitRepository`, `Bucket`).
    pub source_ref: CrossNamespaceReference,
    /// How often the HelmChart looks for a new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// `ChartVersion` or `Revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_strategy: Option<String>,
    /// Values files of the chart merged into its `values.yaml`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Skip values files that do not exist.
    #[serde(default)]
    pub ignore_missing_values_files: bool,
    /// Signature verification of OCI charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<serde_json::Value>,
}

/// `spec.chart`: a template of the HelmChart the release is made from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplate {
    /// Labels and annotations for the HelmChart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// The chart.
    pub spec: HelmChartTemplateSpec,
}

/// A ConfigMap or Secret key whose content is merged into the values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Its name, in the HelmRelease's namespace.
    pub name: String,
    /// The data key; `values.yaml` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    /// Where in the values the content goes (as `--set`'s path), the root when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    /// Missing is not an error.
    #[serde(default)]
    pub optional: bool,
}

/// What to do when an install or upgrade fails.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    /// How many times to retry (negative: for ever); none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// Do not count a failed test as a failed release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_test_failures: Option<bool>,
    /// Remediate the last failure too, when retries are exhausted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
    /// Upgrades only: `rollback` or `uninstall`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
}

/// `spec.install`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    /// The install's timeout; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// What to do when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    /// Do not wait for the resources to be ready.
    #[serde(default)]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default)]
    pub disable_wait_for_jobs: bool,
    /// Do not run hooks.
    #[serde(default)]
    pub disable_hooks: bool,
    /// Do not validate against the OpenAPI schema.
    #[serde(default, rename = "disableOpenAPIValidation")]
    pub disable_openapi_validation: bool,
    /// Reuse the name of a deleted release.
    #[serde(default)]
    pub replace: bool,
    /// Deprecated: `crds: Skip`.
    #[serde(default, rename = "skipCRDs")]
    pub skip_crds: bool,
    /// `Skip`, `Create` or `CreateReplace`; `Create` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crds: Option<String>,
    /// Create the target namespace.
    #[serde(default)]
    pub create_namespace: bool,
}

/// `spec.upgrade`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    /// The upgrade's timeout; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// What to do when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    /// Do not wait for the resources to be ready.
    #[serde(default)]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default)]
    pub disable_wait_for_jobs: bool,
    /// Do not run hooks.
    #[serde(default)]
    pub disable_hooks: bool,
    /// Do not validate against the OpenAPI schema.
    #[serde(default, rename = "disableOpenAPIValidation")]
    pub disable_openapi_validation: bool,
    /// Replace resources that cannot be patched.
    #[serde(default)]
    pub force: bool,
    /// Keep the values of the last release and merge the new ones in.
    #[serde(default)]
    pub preserve_values: bool,
    /// Delete resources a failed upgrade created.
    #[serde(default)]
    pub cleanup_on_fail: bool,
    /// `Skip`, `Create` or `CreateReplace`; `Skip` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crds: Option<String>,
}

/// `spec.test`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Test {
    /// Run the chart's tests after an install or upgrade.
    #[serde(default)]
    pub enable: bool,
    /// The tests' timeout; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Do not count a failed test as a failed release.
    #[serde(default)]
    pub ignore_failures: bool,
    /// Which tests to run or skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<serde_json::Value>,
}

/// `spec.rollback`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// The rollback's timeout; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Do not wait for the resources to be ready.
    #[serde(default)]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default)]
    pub disable_wait_for_jobs: bool,
    /// Do not run hooks.
    #[serde(default)]
    pub disable_hooks: bool,
    /// Restart the resources.
    #[serde(default)]
    pub recreate: bool,
    /// Replace resources that cannot be patched.
    #[serde(default)]
    pub force: bool,
    /// Delete resources a failed rollback created.
    #[serde(default)]
    pub cleanup_on_fail: bool,
}

/// `spec.uninstall`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Uninstall {
    /// The uninstall's timeout; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Do not run hooks.
    #[serde(default)]
    pub disable_hooks: bool,
    /// Keep the release history.
    #[serde(default)]
    pub keep_history: bool,
    /// Do not wait for the resources to be deleted.
    #[serde(default)]
    pub disable_wait: bool,
    /// `background`, `foreground` or `orphan`; `background` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_propagation: Option<String>,
}

/// `spec.driftDetection`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftDetection {
    /// `enabled`, `warn` or `disabled`; `disabled` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// JSON pointers (with a target) to leave out of the comparison.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<serde_json::Value>,
}

/// `HelmRelease.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseSpec {
    /// The chart, as a HelmChart template; or `chartRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<HelmChartTemplate>,
    /// An existing `OCIRepository` or `HelmChart` holding the chart; or `chart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<CrossNamespaceReference>,
    /// How often to reconcile (a Go duration).
    #[serde(default)]
    pub interval: String,
    /// A kubeconfig Secret of a remote cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<serde_json::Value>,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
    /// The release's name; `[targetNamespace-]name` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Where the chart's objects go; the HelmRelease's namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Where the release's storage Secrets go; the HelmRelease's namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_namespace: Option<String>,
    /// HelmReleases that must be Ready first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<NamespacedReference>,
    /// The timeout of each Helm action; 5 minutes when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// How many releases to keep; 5 when unset, 0 for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history: Option<i64>,
    /// The ServiceAccount to act as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Reuse one client for every action of a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_client: Option<bool>,
    /// Compare the cluster with the release and correct or report drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_detection: Option<DriftDetection>,
    /// Install options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Install>,
    /// Upgrade options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Upgrade>,
    /// Test options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Test>,
    /// Rollback options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Uninstall options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstall: Option<Uninstall>,
    /// Values read from ConfigMaps and Secrets, merged in order before `values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesReference>,
    /// Inline values, merged last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<serde_json::Value>,
    /// Kustomize patches and images applied to the rendered objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_renderers: Vec<serde_json::Value>,
}

/// One release in `status.history`, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The snapshot format's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The digest of the release object.
    #[serde(default)]
    pub digest: String,
    /// The release name.
    #[serde(default)]
    pub name: String,
    /// The release namespace.
    #[serde(default)]
    pub namespace: String,
    /// The release version (1, 2, …).
    #[serde(default)]
    pub version: i64,
    /// `deployed`, `superseded`, `failed`, …
    #[serde(default)]
    pub status: String,
    /// The chart's name.
    #[serde(default)]
    pub chart_name: String,
    /// The chart's version.
    #[serde(default)]
    pub chart_version: String,
    /// The chart's appVersion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The digest of the values.
    #[serde(default)]
    pub config_digest: String,
    /// When the first release was deployed.
    #[serde(default)]
    pub first_deployed: String,
    /// When this release was deployed.
    #[serde(default)]
    pub last_deployed: String,
    /// When it was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
    /// The test hooks run, and their results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_hooks: Option<serde_json::Value>,
    /// The OCI digest of the chart, for a chart from an OCIRepository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_digest: Option<String>,
}

/// `HelmRelease.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The HelmChart made for it (`namespace/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_chart: Option<String>,
    /// Where the release's storage lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_namespace: Option<String>,
    /// The releases, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Snapshot>,
    /// The generation last attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_generation: Option<i64>,
    /// Failures since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<i64>,
    /// Failed installs since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_failures: Option<i64>,
    /// Failed upgrades since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_failures: Option<i64>,
    /// The chart version last attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The OCI digest of the chart last attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision_digest: Option<String>,
    /// The checksum of the values last attempted (older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_values_checksum: Option<String>,
    /// The digest of the values last attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_config_digest: Option<String>,
    /// `install` or `upgrade`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_release_action: Option<String>,
    /// The `reconcile.fluxcd.io/forceAt` token handled last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_force_at: Option<String>,
    /// The `reconcile.fluxcd.io/resetAt` token handled last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reset_at: Option<String>,
    /// The digest of the post-renderers last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_post_renderers_digest: Option<String>,
}

impl HelmReleaseStatus {
    fn revision(&self) -> Option<String> {
        self.history
            .first()
            .map(|s| s.chart_version.clone())
            .or_else(|| self.last_attempted_revision.clone())
    }
}

flux_kind!(
    /// A Helm release of a chart (`helm.toolkit.fluxcd.io`).
    HelmRelease, HelmReleaseSpec, HelmReleaseStatus, "helm.toolkit.fluxcd.io", "helmreleases", "v2"
);
