//! `source.toolkit.fluxcd.io`: `GitRepository`, `HelmRepository`, `HelmChart` and `OCIRepository`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use super::*;

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

/// `HelmRepository.spec`: a Helm chart repository, HTTP(S) (`index.yaml`) or OCI.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRepositorySpec {
    /// The repository URL: `https://…` (the folder of `index.yaml`) or `oci://host/path`.
    pub url: String,
    /// `default` (an HTTP(S) index) or `oci`; `default` when unset.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// How often to fetch the index (a Go duration).
    #[serde(default)]
    pub interval: String,
    /// Timeout of one index fetch; 60 s when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The Secret with credentials (`username`/`password`; TLS fields in older Flux versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// The Secret with TLS material (`ca.crt`, `tls.crt`, `tls.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Send the credentials to chart URLs on other hosts too.
    #[serde(default)]
    pub pass_credentials: bool,
    /// Allow plain HTTP for an OCI registry.
    #[serde(default)]
    pub insecure: bool,
    /// A cloud provider's workload identity for OCI (`generic`, `aws`, `azure`, `gcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
}

impl HelmRepositorySpec {
    /// Whether the repository is an OCI registry (`type: oci`).
    pub fn is_oci(&self) -> bool {
        self.type_.as_deref() == Some("oci")
    }
}

/// `HelmRepository.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRepositoryStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Where the stored index can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The stored index (none for `type: oci`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactStatus>,
}

impl HelmRepositoryStatus {
    fn revision(&self) -> Option<String> {
        self.artifact.as_ref().map(|a| a.revision.clone())
    }
}

flux_kind!(
    /// A Helm chart repository to index (`source.toolkit.fluxcd.io`).
    HelmRepository, HelmRepositorySpec, HelmRepositoryStatus, "source.toolkit.fluxcd.io", "helmrepositories"
);

/// The source a `HelmChart` is read from, in its own namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalSourceReference {
    /// The API version, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `HelmRepository`, `GitRepository` or `Bucket`.
    pub kind: String,
    /// The name.
    pub name: String,
}

/// `HelmChart.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartSpec {
    /// The chart's name in a HelmRepository, or its path in a GitRepository or Bucket.
    pub chart: String,
    /// A SemVer constraint on the version (HelmRepository charts only); `*` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where the chart comes from.
    pub source_ref: LocalSourceReference,
    /// How often to look for a new version (a Go duration).
    #[serde(default)]
    pub interval: String,
    /// `ChartVersion` (a new artifact when the version changes) or `Revision` (also when the
    /// source's revision does); `ChartVersion` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_strategy: Option<String>,
    /// Values files of the chart merged into its `values.yaml`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Skip values files that do not exist.
    #[serde(default)]
    pub ignore_missing_values_files: bool,
    /// Signature verification (cosign, notation) of OCI charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<serde_json::Value>,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
}

/// `HelmChart.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The revision of the source artifact the chart was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_source_artifact_revision: Option<String>,
    /// The chart name the last artifact was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_chart_name: Option<String>,
    /// The values files merged into the last artifact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_values_files: Vec<String>,
    /// Where the chart archive can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The chart archive; its revision is the chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactStatus>,
}

impl HelmChartStatus {
    fn revision(&self) -> Option<String> {
        self.artifact.as_ref().map(|a| a.revision.clone())
    }
}

flux_kind!(
    /// A Helm chart from a HelmRepository, GitRepository or Bucket (`source.toolkit.fluxcd.io`).
    HelmChart, HelmChartSpec, HelmChartStatus, "source.toolkit.fluxcd.io", "helmcharts"
);

/// The OCI reference an `OCIRepository` follows; the most specific field wins (digest, semver,
/// tag), `latest` when nothing is set, as in Flux.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciRepositoryRef {
    /// A manifest digest (`sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// A SemVer range over the tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// A regular expression the tags must match before the range is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_filter: Option<String>,
    /// A tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Which layer of an OCI artifact to keep, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciLayerSelector {
    /// The layer's media type; the first layer when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `extract` (unpack the tarball) or `copy` (keep it as it is); `extract` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// `OCIRepository.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciRepositorySpec {
    /// The artifact's repository: `oci://host/path`.
    pub url: String,
    /// The reference to follow.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<OciRepositoryRef>,
    /// The layer to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_selector: Option<OciLayerSelector>,
    /// A cloud provider's workload identity (`generic`, `aws`, `azure`, `gcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The Secret with registry credentials (`kubernetes.io/dockerconfigjson`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// The ServiceAccount whose image pull secrets hold the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// The Secret with TLS material (`ca.crt`, `tls.crt`, `tls.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Signature verification (cosign, notation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<serde_json::Value>,
    /// How often to look for a new digest (a Go duration).
    #[serde(default)]
    pub interval: String,
    /// Timeout of one pull; 60 s when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `.sourceignore`-style patterns of paths to leave out of an extracted layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Allow plain HTTP.
    #[serde(default)]
    pub insecure: bool,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
}

/// `OCIRepository.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciRepositoryStatus {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Where the artifact can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The last artifact; its revision is `<tag>@sha256:<manifest digest>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactStatus>,
    /// The layer selector the artifact was made with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_layer_selector: Option<OciLayerSelector>,
}

impl OciRepositoryStatus {
    fn revision(&self) -> Option<String> {
        self.artifact.as_ref().map(|a| a.revision.clone())
    }
}

flux_kind!(
    /// An artifact (here: a Helm chart) in an OCI registry to follow (`source.toolkit.fluxcd.io`).
    OCIRepository, OciRepositorySpec, OciRepositoryStatus, "source.toolkit.fluxcd.io", "ocirepositories"
);
