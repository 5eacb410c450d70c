//! `HelmChart`: a chart from a HelmRepository (index or OCI registry) or a GitRepository
//! path, stored as a chart archive for the HelmReleases that name it in `spec.chartRef`, as
//! source-controller does.
//!
//! # A pass
//! 1. The spec as an origin (`sourceRef` in the HelmChart's namespace, `chart`, `version`,
//!    `reconcileStrategy`), see [`crate::charts`].
//! 2. The chart read from there: pulled (a repository's) or packed (a Git directory's).
//! 3. The archive stored as `<storage>/helmchart/<namespace>/<name>/<chart>-<version>.tgz`
//!    (through a temporary file; earlier archives removed), the artifact's revision being the
//!    chart version.
//! 4. The status as Flux writes it (`artifact`, `observedChartName`,
//!    `observedSourceArtifactRevision`, `ArtifactInStorage` and `Ready` with
//!    `pulled 'web' chart with version '1.0.0'` or `packaged …`), and when the archive changed,
//!    an event and a wake of the HelmReleases that name the chart. A pass that finds the same
//!    archive writes nothing.
//!
//! A source that is not ready is retried with a backoff; a chart that cannot be loaded, an
//! unknown source kind, `valuesFiles` or `verify` (not supported) stall the object.

use std::path::Path;
use std::time::{Duration, SystemTime};

use gitops_core::condition::Conditions;
use gitops_core::event::Severity;
use gitops_flux::HelmChart;
use serde_json::json;
use sha2::Digest as _;

use crate::charts::{self, Origin};
use crate::context::{Ctx, StoredArtifact, get, suspended, write_atomically};
use crate::engine::{Key, Kind};
use crate::outcome::{Action, Failure};

/// One pass; returns when to look again.
pub async fn reconcile(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(object) = get::<HelmChart>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if suspended(ctx, key, &object) {
        return Ok(Action::AwaitChange);
    }
    let generation = object.metadata.generation.unwrap_or_default();

    // 1. The spec as an origin; retrying the same spec cannot help.
    let (origin, every) = match origin_of(&object, key) {
        Ok(found) => found,
        Err(failure) => {
            ctx.report_failure(key, &object, &failure).await?;
            return Ok(Action::AwaitChange);
        }
    };

    // 2. The chart.
    let resolved = match charts::resolve(ctx, key, &origin).await {
        Ok(resolved) => resolved,
        Err(failure) if failure.stalled => {
            ctx.report_failure(key, &object, &failure).await?;
            return Ok(Action::AwaitChange);
        }
        Err(failure) => return ctx.fail_with_backoff(key, &object, failure, every).await,
    };

    // 3. The archive in storage, under its name and version.
    let digest = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(&*resolved.archive))
    );
    let file_name = format!("{}-{}.tgz", resolved.name, resolved.version);
    let dir = ctx.storage_dir(key);
    let path = dir.join(&file_name);
    let previous = object.status.as_ref().and_then(|s| s.artifact.clone());
    let unchanged = previous.as_ref().is_some_and(|p| {
        p.revision == resolved.version && p.digest.as_deref() == Some(digest.as_str())
    }) && path.is_file();
    if !unchanged {
        let archive = std::sync::Arc::clone(&resolved.archive);
        let target = path.clone();
        let stored =
            tokio::task::spawn_blocking(move || write_atomically(&target, &archive)).await?;
        if let Err(error) = stored {
            let failure = Failure::retry(
                "StorageOperationFailed",
                format!("storing the chart in {}: {error}", path.display()),
            );
            return ctx.fail_with_backoff(key, &object, failure, every).await;
        }
    }
    ctx.succeeded(key);

    // 4. Publish.
    let now = SystemTime::now();
    let verb = match origin {
        Origin::Git { .. } => "packaged",
        _ => "pulled",
    };
    let message = format!(
        "{verb} '{}' chart with version '{}'",
        resolved.name, resolved.version
    );
    let mut conditions = Conditions::new();
    let artifact = ctx.publish_artifact(
        &mut conditions,
        &message,
        (generation, now),
        StoredArtifact {
            path: &path,
            revision: resolved.version.clone(),
            digest,
            size: resolved.archive.len() as u64,
        },
        previous.as_ref(),
    );
    let artifact_url = artifact.url.clone();
    ctx.write_status(
        Kind::HelmChart,
        &object,
        &conditions,
        json!({
            "artifact": artifact,
            "url": artifact_url,
            "observedChartName": resolved.name,
            "observedSourceArtifactRevision": resolved.source_revision,
        }),
    )
    .await?;
    if !unchanged {
        remove_other_archives(&dir, &path);
        tracing::info!(object = %key, version = %resolved.version, "new chart");
        let reason = if verb == "packaged" {
            "ChartPackageSucceeded"
        } else {
            "ChartPullSucceeded"
        };
        ctx.notifications
            .announce(key, Severity::Info, reason, &message, None)
            .await;
        crate::wakes::wake_dependents(ctx, key);
    }
    Ok(ctx.after_interval(key, every))
}

/// The origin and interval of `object`, or why the spec cannot be carried out.
fn origin_of(object: &HelmChart, key: &Key) -> Result<(Origin, Duration), Failure> {
    let spec = &object.spec;
    let invalid = |message: String| Failure::stalled("InvalidChartReference", message);
    let every = match gitops_flux::parse_duration(spec.interval.trim()) {
        Some(every) if !every.is_zero() => every,
        _ if spec.interval.trim().is_empty() => Duration::from_secs(600),
        _ => {
            return Err(invalid(format!(
                "spec.interval: {:?} is not a duration",
                spec.interval
            )));
        }
    };
    if !spec.values_files.is_empty() {
        return Err(invalid(
            "spec.valuesFiles is not supported by this controller: give them in the HelmRelease's spec.chart.spec.valuesFiles".into(),
        ));
    }
    if spec.verify.is_some() {
        return Err(invalid(
            "spec.verify (signature verification) is not supported by this controller".into(),
        ));
    }
    let origin = Origin::of_template(
        &spec.source_ref.kind,
        (&key.namespace, &spec.source_ref.name),
        &spec.chart,
        spec.version.as_deref(),
        spec.reconcile_strategy.as_deref(),
    )?;
    Ok((origin, every))
}

/// Removes the archives of earlier versions from `dir`, keeping `current`.
fn remove_other_archives(dir: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path != current && path.extension().is_some_and(|e| e == "tgz") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(spec: serde_json::Value) -> HelmChart {
        serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": spec,
        }))
        .expect("a HelmChart")
    }

    #[test]
    fn the_spec_names_its_origin_or_stalls_saying_why() {
        let key = Key::new(Kind::HelmChart, "apps", "web");
        let (origin, every) = origin_of(
            &chart(json!({"chart": "web", "version": "1.x", "interval": "5m",
                "sourceRef": {"kind": "HelmRepository", "name": "charts"}})),
            &key,
        )
        .expect("valid");
        assert_eq!(every, Duration::from_secs(300));
        assert_eq!(
            origin.source(),
            &Key::new(Kind::HelmRepository, "apps", "charts")
        );

        for (spec, wanted) in [
            (
                json!({"chart": "web", "interval": "soon",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"}}),
                "spec.interval",
            ),
            (
                json!({"chart": "web", "interval": "1m", "valuesFiles": ["prod.yaml"],
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"}}),
                "spec.valuesFiles",
            ),
            (
                json!({"chart": "web", "interval": "1m",
                    "sourceRef": {"kind": "Bucket", "name": "charts"}}),
                "Bucket",
            ),
        ] {
            let failure = origin_of(&chart(spec), &key).expect_err("refused");
            assert!(failure.stalled);
            assert!(failure.message.contains(wanted), "{}", failure.message);
        }
    }

    #[test]
    fn a_stored_archive_replaces_the_earlier_ones() {
        let dir = tempfile::tempdir().expect("a folder");
        let old = dir.path().join("web-1.0.0.tgz");
        write_atomically(&old, b"old").expect("stored");
        let new = dir.path().join("web-1.1.0.tgz");
        write_atomically(&new, b"new").expect("stored");
        remove_other_archives(dir.path(), &new);
        assert!(!old.exists());
        assert_eq!(std::fs::read(&new).expect("kept"), b"new");
    }
}
