//! `OCIRepository`: pull one layer of an OCI artifact (a Helm chart pushed with `helm push`,
//! say) from a registry into storage and publish it as the artifact, as source-controller
//! does: the revision is `<tag>@sha256:<manifest digest>` (`<chosen tag>@…` for a semver
//! reference, the digest alone for a digest reference), the artifact a single file,
//! `ocirepository/<namespace>/<name>/<manifest digest hex>.tar.gz` under the storage root,
//! holding the selected layer's blob exactly as the registry serves it (for a chart: the
//! `.tgz` that `helm package` wrote), its `digest` the SHA-256 of that file.
//!
//! Supported: `ref` (`digest`, then `semver` with `semverFilter`, then `tag`; `latest` when
//! nothing is set), semver ranges with Helm's and Flux's Masterminds semantics over the tags
//! as written; `layerSelector.mediaType` (else the first layer); `secretRef`, a
//! `kubernetes.io/dockerconfigjson` Secret or one with `username` and `password`; `insecure`
//! (plain HTTP); `interval`, `timeout` (60 s when unset, bounding the whole pull); `suspend`.
//! A pass whose revision and layer selector are unchanged, and whose file is still stored,
//! downloads no blob. Blobs are capped at the registry client's body limit
//! ([`gitops_registry::DEFAULT_MAX_BODY`]) and checked against their digest.
//!
//! Not supported (a stalled error naming the field): `verify` (cosign, notation), a
//! `provider` other than `generic`, `certSecretRef` (the registry client trusts the system's
//! roots only), `serviceAccountName`, `ignore`; image indexes (multi-platform manifests).
//!
//! Known divergence: `layerSelector.operation: extract` (Flux's default) does not unpack the
//! layer and archive its files again; both `extract` and `copy` store the layer as it is. For
//! `extract` the layer must be a gzip'd tarball (a chart is), else the pass fails with
//! `OCIArtifactLayerOperationFailed`: extracting other content is not supported.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gitops_core::condition::Conditions;
use gitops_core::event::Severity;
use gitops_core::image::ScanError;
use gitops_core::reconcile::error_chain;
use gitops_flux::OCIRepository;
use gitops_flux::api::ArtifactStatus;
use gitops_helm::repository::{ChartVersion, IndexError, choose};
use gitops_registry::{DEFAULT_MAX_BODY, RegistryScanner};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::context::{Ctx, StoredArtifact, get, suspended, write_atomically};
use crate::engine::{Key, Kind};
use crate::outcome::{Action, Failure};
use crate::translate::{self, LayerOperation, OciReference, OciRepositoryPlan};

/// Why an artifact could not be pulled from its registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The tags could not be listed, or none satisfies the semver range.
    #[error("failed to determine the artifact tag for '{url}'")]
    Tag {
        /// The OCIRepository's URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry has no manifest for the reference.
    #[error("failed to determine artifact digest: '{reference}' not found in the registry")]
    NotFound {
        /// `host/path:tag` or `host/path@digest`.
        reference: String,
    },
    /// The manifest could not be read.
    #[error("failed to determine artifact digest for '{reference}'")]
    Manifest {
        /// `host/path:tag` or `host/path@digest`.
        reference: String,
        /// The cause.
        #[source]
        source: ScanError,
    },
    /// No layer fits, or the layer cannot be used.
    #[error("{message} (artifact '{reference}')")]
    Layer {
        /// `host/path:tag` or `host/path@digest`.
        reference: String,
        /// What is wrong, in Flux's words where Flux has some.
        message: String,
    },
    /// The layer's blob could not be downloaded.
    #[error("failed to pull artifact from '{url}'")]
    Blob {
        /// The OCIRepository's URL.
        url: String,
        /// The cause.
        #[source]
        source: ScanError,
    },
    /// The pull took longer than `spec.timeout`.
    #[error("failed to pull artifact from '{url}': timed out after {after:?}")]
    TimedOut {
        /// The OCIRepository's URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
}

impl PullError {
    /// Flux's condition reason for it.
    fn reason(&self) -> &'static str {
        match self {
            PullError::Tag { .. } => "ReadOperationFailed",
            PullError::Layer { .. } => "OCIArtifactLayerOperationFailed",
            PullError::NotFound { .. }
            | PullError::Manifest { .. }
            | PullError::Blob { .. }
            | PullError::TimedOut { .. } => "OCIArtifactPullFailed",
        }
    }
}

/// The manifest a reference resolves to, and the layer chosen from it.
#[derive(Debug)]
struct Resolved {
    /// `host/path:tag` or `host/path@digest`, for messages.
    reference: String,
    /// `<tag>@sha256:<hex>`, or `sha256:<hex>` for a digest reference.
    revision: String,
    /// The manifest's digest (`sha256:<hex>`).
    manifest_digest: String,
    /// The selected layer's digest.
    layer: String,
}

/// The selected layer: stored already (the file's digest and size), or just downloaded.
enum Layer {
    Stored { digest: String, size: u64 },
    Downloaded(Vec<u8>),
}

/// One pass; returns when to look again.
pub async fn reconcile(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(repo) = get::<OCIRepository>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if suspended(ctx, key, &repo) {
        return Ok(Action::AwaitChange);
    }
    let generation = repo.metadata.generation.unwrap_or_default();
    let now = SystemTime::now();

    // 1. The spec as a pull's options; retrying the same spec cannot help.
    let plan = match translate::oci_repository(&repo.spec) {
        Ok(plan) => plan,
        Err(invalid) => {
            let failure = Failure::stalled(invalid.reason(), invalid.to_string());
            ctx.report_failure(key, &repo, &failure).await?;
            return Ok(Action::AwaitChange);
        }
    };
    let every = plan.interval;

    // 2. The registry client with the Secret's credentials.
    let registry = match registry_for(ctx, key, &plan).await {
        Ok(registry) => registry,
        Err(error) => {
            let message = format!("failed to get credential: {error:#}");
            let failure = Failure::retry("AuthenticationFailed", message);
            return ctx.fail_with_backoff(key, &repo, failure, every).await;
        }
    };

    // 3. Resolve the reference to a manifest and a layer, and download the layer unless the
    //    same one is stored already; all of it bounded by the spec's timeout.
    let dir = ctx.storage_dir(key);
    let previous = repo.status.as_ref().and_then(|s| s.artifact.clone());
    let observed = repo
        .status
        .as_ref()
        .and_then(|s| s.observed_layer_selector.clone());
    let pulled = tokio::time::timeout(plan.timeout, async {
        let resolved = resolve(&registry, &plan).await?;
        let path = artifact_path(&dir, &resolved.manifest_digest);
        let stored = previous.as_ref().filter(|p| {
            p.revision == resolved.revision
                && observed == repo.spec.layer_selector
                && ctx.storage.join(&p.path) == path
                && path.is_file()
        });
        if let Some(ArtifactStatus {
            digest: Some(digest),
            size: Some(size),
            ..
        }) = stored
        {
            let (digest, size) = (digest.clone(), *size);
            return Ok((resolved, Layer::Stored { digest, size }));
        }
        let blob = registry
            .blob(&plan.repository, &resolved.layer)
            .await
            .map_err(|source| PullError::Blob {
                url: plan.url.clone(),
                source,
            })?;
        check_operation(&plan, &resolved, &blob)?;
        Ok((resolved, Layer::Downloaded(blob)))
    })
    .await
    .unwrap_or_else(|_elapsed| {
        Err(PullError::TimedOut {
            url: plan.url.clone(),
            after: plan.timeout,
        })
    });
    let (resolved, layer) = match pulled {
        Ok(pulled) => pulled,
        Err(error) => {
            let failure = Failure::retry(error.reason(), error_chain(&error));
            return ctx.fail_with_backoff(key, &repo, failure, every).await;
        }
    };

    // 4. Store a new blob (through a temporary file, so a reader never sees half of one).
    let path = artifact_path(&dir, &resolved.manifest_digest);
    let (digest, size) = match layer {
        Layer::Stored { digest, size } => (digest, size),
        Layer::Downloaded(blob) => {
            let size = blob.len() as u64;
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
            let stored = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || write_atomically(&path, &blob)).await?
            };
            if let Err(error) = stored {
                let message = format!(
                    "failed to store the artifact in {}: {error}",
                    path.display()
                );
                let failure = Failure::retry("StorageOperationFailed", message);
                return ctx.fail_with_backoff(key, &repo, failure, every).await;
            }
            (digest, size)
        }
    };
    ctx.succeeded(key);

    // 5. Publish: status (the artifact, its URL, the layer selector it was made with) and, on
    //    a new revision, an event and the objects that use it woken.
    let message = format!("stored artifact for digest '{}'", resolved.revision);
    let mut conditions = Conditions::new();
    let artifact = ctx.publish_artifact(
        &mut conditions,
        &message,
        (generation, now),
        StoredArtifact {
            path: &path,
            revision: resolved.revision.clone(),
            digest,
            size,
        },
        previous.as_ref(),
    );
    let changed = previous
        .as_ref()
        .is_none_or(|p| p.revision != resolved.revision);
    ctx.write_status(
        Kind::OCIRepository,
        &repo,
        &conditions,
        json!({
            "artifact": artifact,
            "url": artifact.url,
            "observedLayerSelector": repo.spec.layer_selector,
        }),
    )
    .await?;
    remove_other_artifacts(&dir, &path);
    if changed {
        ctx.metrics
            .add_fetch_bytes("OCIRepository", &key.namespace, &key.name, size);
        tracing::info!(object = %key, revision = %resolved.revision, "new artifact");
        let event = format!(
            "stored artifact with revision '{}' from '{}'",
            resolved.revision, plan.url
        );
        ctx.notifications
            .announce(key, Severity::Info, "NewArtifact", &event, None)
            .await;
        crate::wakes::wake_dependents(ctx, key);
    }
    Ok(ctx.after_interval(key, every))
}

/// The registry client of `plan`: its timeout, plain HTTP when `insecure`, and the
/// credentials of its Secret.
async fn registry_for(
    ctx: &Ctx,
    key: &Key,
    plan: &OciRepositoryPlan,
) -> anyhow::Result<RegistryScanner> {
    let registry = RegistryScanner::with_timeout(plan.timeout)?.with_insecure(plan.insecure);
    Ok(match &plan.secret {
        Some(name) => registry.with_credentials(
            crate::charts::registry_credentials(ctx, &key.namespace, name).await?,
        ),
        None => registry,
    })
}

/// Resolves the reference of `plan` to its manifest and picks the layer.
async fn resolve(
    registry: &RegistryScanner,
    plan: &OciRepositoryPlan,
) -> Result<Resolved, PullError> {
    // The tag (none for a digest reference) and what the manifest is asked for by.
    let (tag, wanted) = match &plan.reference {
        OciReference::Digest(digest) => (None, digest.clone()),
        OciReference::Tag(tag) => (Some(tag.clone()), tag.clone()),
        OciReference::Semver { range, filter } => {
            let tag_error = |source: Box<dyn std::error::Error + Send + Sync>| PullError::Tag {
                url: plan.url.clone(),
                source,
            };
            let tags = registry
                .list_tags(&plan.repository)
                .await
                .map_err(|e| tag_error(e.into()))?;
            let considered = tags
                .into_iter()
                .filter(|tag| filter.as_ref().is_none_or(|f| f.matches(tag)));
            let tag = newest_matching(considered, range).map_err(|e| tag_error(e.into()))?;
            (Some(tag.clone()), tag)
        }
    };
    let reference = match &tag {
        Some(tag) => format!("{}:{tag}", plan.repository),
        None => format!("{}@{wanted}", plan.repository),
    };
    let (manifest, digest) =
        registry
            .manifest(&plan.repository, &wanted)
            .await
            .map_err(|source| match source {
                ScanError::NotFound { .. } => PullError::NotFound {
                    reference: reference.clone(),
                },
                source => PullError::Manifest {
                    reference: reference.clone(),
                    source,
                },
            })?;
    let layer_error = |message: String| PullError::Layer {
        reference: reference.clone(),
        message,
    };
    if tag.is_none() && digest != wanted {
        return Err(layer_error(format!(
            "the manifest served hashes to {digest}"
        )));
    }
    let manifest: Value = serde_json::from_slice(&manifest)
        .map_err(|e| layer_error(format!("failed to parse artifact manifest: {e}")))?;
    let layer = select_layer(&manifest, plan.media_type.as_deref()).map_err(layer_error)?;
    Ok(Resolved {
        reference,
        revision: match tag {
            Some(tag) => format!("{tag}@{digest}"),
            None => digest.clone(),
        },
        manifest_digest: digest,
        layer,
    })
}

/// The newest of `tags` that satisfies `range`, by Helm's rules ([`choose`]); tags that are
/// not versions are passed over. The tag is returned as written.
fn newest_matching(tags: impl Iterator<Item = String>, range: &str) -> Result<String, IndexError> {
    let versions: Vec<ChartVersion> = tags
        .map(|tag| ChartVersion {
            name: String::new(),
            version: tag,
            app_version: None,
            urls: Vec::new(),
            digest: None,
            created: None,
            deprecated: false,
        })
        .collect();
    choose(&versions, range).map(|chosen| chosen.version.clone())
}

/// The digest of the layer whose media type is `media_type`, else of the first layer, checked
/// against the body cap; the message says why none fits, in Flux's words where it has some.
fn select_layer(manifest: &Value, media_type: Option<&str>) -> Result<String, String> {
    if manifest.get("manifests").is_some() {
        return Err(
            "the reference names an image index: multi-platform artifacts are not supported".into(),
        );
    }
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .filter(|layers| !layers.is_empty())
        .ok_or("no layers found in artifact")?;
    let layer = match media_type {
        Some(wanted) => layers
            .iter()
            .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(wanted))
            .ok_or_else(|| {
                format!("failed to find layer with media type '{wanted}' in artifact")
            })?,
        None => &layers[0],
    };
    let digest = layer
        .get("digest")
        .and_then(Value::as_str)
        .ok_or("the selected layer has no digest")?;
    let size = layer
        .get("size")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    if size > DEFAULT_MAX_BODY as u64 {
        return Err(format!(
            "layer {digest} is {size} bytes, over the {DEFAULT_MAX_BODY} bytes this controller stores"
        ));
    }
    Ok(digest.to_string())
}

/// Refuses a layer that `extract` cannot stand for: what is not a gzip'd tarball.
fn check_operation(
    plan: &OciRepositoryPlan,
    resolved: &Resolved,
    blob: &[u8],
) -> Result<(), PullError> {
    if plan.operation == LayerOperation::Extract && !blob.starts_with(&[0x1f, 0x8b]) {
        return Err(PullError::Layer {
            reference: resolved.reference.clone(),
            message: format!(
                "failed to extract layer contents from artifact: layer {} is not a gzip'd tarball, and extracting other content is not supported (operation copy stores it as it is)",
                resolved.layer
            ),
        });
    }
    Ok(())
}

/// Where the artifact of the manifest `digest` is stored, as source-controller names it.
fn artifact_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join(format!("{}.tar.gz", digest.trim_start_matches("sha256:")))
}

/// Removes every file in `dir` but `current`: earlier artifacts of the object.
fn remove_other_artifacts(dir: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path != current && path.is_file() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_matching_tag_is_chosen_as_written() {
        let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let all = tags(&["0.1.0", "v0.3.0", "0.2.0", "1.0.0-rc.1", "latest", "2.0.0"]);
        assert_eq!(
            newest_matching(all.clone().into_iter(), "<1.0.0").unwrap(),
            "v0.3.0"
        );
        assert_eq!(
            newest_matching(all.clone().into_iter(), ">=1.0.0-0 <2.0.0-0").unwrap(),
            "1.0.0-rc.1"
        );
        assert_eq!(
            newest_matching(all.clone().into_iter(), "*").unwrap(),
            "2.0.0"
        );
        let error = newest_matching(all.into_iter(), ">=3").unwrap_err();
        assert!(matches!(error, IndexError::NoMatch { .. }), "{error}");
    }

    #[test]
    fn the_layer_is_chosen_by_media_type_else_the_first() {
        let manifest = json!({"layers": [
            {"mediaType": "application/vnd.cncf.helm.chart.provenance.v1.prov", "digest": "sha256:aa", "size": 10},
            {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": "sha256:bb", "size": 20},
        ]});
        assert_eq!(select_layer(&manifest, None).unwrap(), "sha256:aa");
        assert_eq!(
            select_layer(&manifest, Some(gitops_helm::repository::CHART_MEDIA_TYPE)).unwrap(),
            "sha256:bb"
        );
        assert_eq!(
            select_layer(&manifest, Some("text/plain")).unwrap_err(),
            "failed to find layer with media type 'text/plain' in artifact"
        );
        assert_eq!(
            select_layer(&json!({"layers": []}), None).unwrap_err(),
            "no layers found in artifact"
        );
        assert!(
            select_layer(&json!({"manifests": []}), None)
                .unwrap_err()
                .contains("image index")
        );
        let huge = json!({"layers": [{"digest": "sha256:cc", "size": u64::MAX}]});
        assert!(select_layer(&huge, None).unwrap_err().contains("over the"));
    }

    #[test]
    fn an_artifact_is_written_whole_and_earlier_ones_removed() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let folder = dir.path().join("ocirepository/ns/name");
        let old = artifact_path(&folder, "sha256:0ld");
        write_atomically(&old, b"old").expect("written");
        let new = artifact_path(&folder, "sha256:abc");
        write_atomically(&new, b"new chart").expect("written");
        assert_eq!(std::fs::read(&new).expect("read"), b"new chart");
        remove_other_artifacts(&folder, &new);
        let left: Vec<_> = std::fs::read_dir(&folder)
            .expect("listed")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["abc.tar.gz"]);
    }
}
