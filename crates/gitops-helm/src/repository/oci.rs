//! Charts in OCI registries (`oci://host/path/chart`), as `helm push` stores them: a manifest
//! whose config is Helm's and whose layer is the chart archive. Tags are versions with `+`
//! written `_` (OCI tags cannot hold `+`); the archive is checked against its digest.

use gitops_core::image::ScanError;
use gitops_registry::{Credentials, RegistryScanner};
use serde_json::Value;

use super::index::{ChartVersion, IndexError, choose};

/// Helm's config media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";

/// Helm's chart archive layer media type.
pub const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Why a chart could not be listed or pulled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// The URL is not `oci://host/path`.
    #[error("{0:?} is not an oci:// chart reference")]
    Url(String),
    /// No HTTP client could be built.
    #[error("registry client: {0}")]
    Client(String),
    /// The registry refused or failed.
    #[error("chart {reference}")]
    Registry {
        /// The chart reference.
        reference: String,
        /// The cause.
        #[source]
        source: ScanError,
    },
    /// The manifest is not a Helm chart's.
    #[error("{reference}:{tag} is not a Helm chart ({message})")]
    NotAChart {
        /// The chart reference.
        reference: String,
        /// The tag.
        tag: String,
        /// What is missing.
        message: String,
    },
    /// No tag satisfies the constraint.
    #[error("chart {reference}")]
    Version {
        /// The chart reference.
        reference: String,
        /// Why.
        #[source]
        source: IndexError,
    },
}

/// A chart pulled from a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledChart {
    /// The chart version.
    pub version: String,
    /// The manifest's digest (`sha256:…`), what Flux records as the artifact's revision.
    pub digest: String,
    /// The chart layer's digest (`sha256:…`), the archive's own.
    pub layer: String,
    /// The chart archive (`.tgz`).
    pub archive: Vec<u8>,
}

/// A chart repository in an OCI registry.
#[derive(Debug)]
pub struct OciRepository {
    reference: String,
    name: String,
    registry: RegistryScanner,
}

impl OciRepository {
    /// The chart at `url` (`oci://registry.example/charts/podinfo`), anonymous, over HTTPS.
    ///
    /// # Errors
    /// [`OciError::Url`] for another scheme, [`OciError::Client`] when no client can be built.
    pub fn new(url: &str) -> Result<Self, OciError> {
        let reference = url
            .strip_prefix("oci://")
            .filter(|rest| rest.contains('/'))
            .ok_or_else(|| OciError::Url(url.into()))?
            .trim_end_matches('/')
            .to_string();
        let name = reference.rsplit('/').next().unwrap_or_default().to_string();
        let registry = RegistryScanner::new().map_err(|e| OciError::Client(e.to_string()))?;
        Ok(Self {
            reference,
            name,
            registry,
        })
    }

    /// Authenticates with `credentials` (basic, or a Docker config's logins).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.registry = self.registry.with_credentials(credentials);
        self
    }

    /// Talks plain HTTP (Helm's `--plain-http`), for a registry on a private network.
    pub fn with_plain_http(mut self, plain: bool) -> Self {
        self.registry = self.registry.with_insecure(plain);
        self
    }

    /// The chart's versions, from the repository's tags.
    ///
    /// # Errors
    /// [`OciError::Registry`] when the tags cannot be listed.
    pub async fn versions(&self) -> Result<Vec<ChartVersion>, OciError> {
        let tags = self
            .registry
            .list_tags(&self.reference)
            .await
            .map_err(|source| self.registry_error(source))?;
        Ok(tags
            .into_iter()
            .map(|tag| ChartVersion {
                name: self.name.clone(),
                version: tag.replace('_', "+"),
                app_version: None,
                urls: vec![format!("oci://{}:{tag}", self.reference)],
                digest: None,
                created: None,
                deprecated: false,
            })
            .collect())
    }

    /// Pulls the newest version satisfying `constraint` (Helm's rules; `*` when empty).
    ///
    /// # Errors
    /// [`OciError`]: listing, no matching version, the manifest or archive.
    pub async fn pull_matching(&self, constraint: &str) -> Result<PulledChart, OciError> {
        self.pull_matching_cached(constraint, |_| None).await
    }

    /// As [`Self::pull_matching`], taking the archive from `cached` (asked with the chart
    /// layer's digest, `sha256:…`) when it has it: an unchanged chart costs the tag list and
    /// the manifest, not the archive.
    ///
    /// # Errors
    /// As [`Self::pull_matching`].
    pub async fn pull_matching_cached(
        &self,
        constraint: &str,
        cached: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<PulledChart, OciError> {
        let versions = self.versions().await?;
        let chosen = choose(&versions, constraint).map_err(|source| OciError::Version {
            reference: self.reference.clone(),
            source,
        })?;
        self.pull_cached(&chosen.version, cached).await
    }

    /// Pulls `version`: the manifest, then the chart layer, each checked against its digest.
    ///
    /// # Errors
    /// [`OciError`]: the registry, or a manifest that is not a chart's.
    pub async fn pull(&self, version: &str) -> Result<PulledChart, OciError> {
        self.pull_cached(version, |_| None).await
    }

    /// As [`Self::pull`], taking the archive from `cached` (asked with the chart layer's
    /// digest) when it has it.
    ///
    /// # Errors
    /// As [`Self::pull`].
    pub async fn pull_cached(
        &self,
        version: &str,
        cached: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<PulledChart, OciError> {
        let tag = version.replace('+', "_");
        let (manifest, digest) = self
            .registry
            .manifest(&self.reference, &tag)
            .await
            .map_err(|source| self.registry_error(source))?;
        let not_a_chart = |message: &str| OciError::NotAChart {
            reference: self.reference.clone(),
            tag: tag.clone(),
            message: message.into(),
        };
        let manifest: Value =
            serde_json::from_slice(&manifest).map_err(|e| not_a_chart(&e.to_string()))?;
        if manifest["config"]["mediaType"] != CONFIG_MEDIA_TYPE {
            return Err(not_a_chart(&format!(
                "config media type {}",
                manifest["config"]["mediaType"]
            )));
        }
        let layer = manifest["layers"]
            .as_array()
            .and_then(|layers| layers.iter().find(|l| l["mediaType"] == CHART_MEDIA_TYPE))
            .and_then(|l| l["digest"].as_str())
            .ok_or_else(|| not_a_chart("no chart layer"))?;
        let archive = match cached(layer) {
            Some(archive) => archive,
            None => self
                .registry
                .blob(&self.reference, layer)
                .await
                .map_err(|source| self.registry_error(source))?,
        };
        Ok(PulledChart {
            version: version.to_string(),
            digest,
            layer: layer.to_string(),
            archive,
        })
    }

    fn registry_error(&self, source: ScanError) -> OciError {
        OciError::Registry {
            reference: self.reference.clone(),
            source,
        }
    }
}
