//! `source.toolkit.fluxcd.io`: `GitRepository`.

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
