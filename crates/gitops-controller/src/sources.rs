//! `GitRepository`: fetch the followed revision into storage, publish it as the artifact.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use gitops_core::condition::Conditions;
use gitops_core::event::Severity;
use gitops_core::{Revision, Source};
use gitops_flux::GitRepository;
use gitops_flux::api::GitRepositorySpec;
use gitops_git::{Auth, GitSource};
use serde_json::json;

use crate::context::{Ctx, StoredArtifact, get, secret_data, suspended};
use crate::engine::{Key, Kind};
use crate::outcome::{Action, Failure};
use crate::translate::{self, GitRepositoryPlan};
use crate::wakes::wake_dependents;

/// One pass; returns when to look again.
pub async fn reconcile(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(repo) = get::<GitRepository>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if suspended(ctx, key, &repo) {
        return Ok(Action::AwaitChange);
    }
    let generation = repo.metadata.generation.unwrap_or_default();
    let now = SystemTime::now();
    let mut conditions = Conditions::new();

    // 1. The spec as the library's options: only the URL schemes Flux allows (a `file://` or
    //    plain path would read the controller host's own disk, and `git://` has no
    //    authentication) and a valid reference. Retrying the same spec cannot help.
    let plan = match translate::git_repository(&repo.spec) {
        Ok(plan) => plan,
        Err(invalid) => {
            let failure = Failure::stalled(invalid.reason(), invalid.to_string());
            ctx.report_failure(key, &repo, &failure).await?;
            return Ok(Action::AwaitChange);
        }
    };
    let every = plan.interval;

    // 2. The source for this spec (and credentials), reused while neither changes.
    let source = match source_for(ctx, key, &repo.spec, &plan).await {
        Ok(source) => source,
        Err(error) => {
            let message = format!("{error:#}");
            return ctx
                .fail_with_backoff(
                    key,
                    &repo,
                    Failure::stalled("AuthenticationFailed", message),
                    every,
                )
                .await;
        }
    };

    // 3. Fetch, comparing with the revision in status: an unchanged remote lists refs only.
    let last: Option<Revision> = repo
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .and_then(|a| a.revision.parse().ok());
    let lock = ctx.artifact_lock(key);
    let fetched = {
        let _swap = lock.write().await;
        source.fetch(last.as_ref()).await
    };
    let fetch = match fetched {
        Ok(fetch) => fetch,
        Err(error) => {
            let message = gitops_core::reconcile::error_chain(&error);
            let stalled = !error.is_transient();
            return ctx
                .fail_with_backoff(
                    key,
                    &repo,
                    Failure::new("GitOperationFailed", message, stalled),
                    every,
                )
                .await;
        }
    };
    ctx.succeeded(key);
    let artifact = fetch.artifact().clone();
    let revision = artifact.revision.to_string();
    let size = dir_size(&artifact.path);

    // 4. Publish: status, the shared artifact map, and the Kustomizations that build it.
    let message = format!("stored artifact for revision '{revision}'");
    let artifact_status = ctx.publish_artifact(
        &mut conditions,
        &message,
        (generation, now),
        StoredArtifact {
            path: &artifact.path,
            revision: revision.clone(),
            digest: artifact.digest.to_string(),
            size,
        },
        repo.status.as_ref().and_then(|s| s.artifact.as_ref()),
    );
    ctx.write_status(
        Kind::GitRepository,
        &repo,
        &conditions,
        json!({ "artifact": artifact_status }),
    )
    .await?;
    let moved = {
        let mut artifacts = ctx.artifacts.write().unwrap_or_else(|e| e.into_inner());
        let before = artifacts.insert(key.clone(), artifact.clone());
        before.is_none_or(|b| b.revision != artifact.revision)
    };
    if fetch.is_updated() {
        ctx.metrics
            .add_fetch_bytes("GitRepository", &key.namespace, &key.name, size);
        let commit = artifact
            .subject
            .clone()
            .unwrap_or_else(|| artifact.revision.short());
        let message = format!("stored artifact for commit '{commit}'");
        ctx.notifications
            .announce(
                key,
                Severity::Info,
                "NewArtifact",
                &message,
                Some(artifact.revision.clone()),
            )
            .await;
    }
    if moved {
        tracing::info!(object = %key, %revision, "new artifact");
        wake_dependents(ctx, key);
    }
    Ok(ctx.after_interval(key, every))
}

/// The `GitSource` for the current spec and Secret, built once and kept while they hold.
async fn source_for(
    ctx: &Ctx,
    key: &Key,
    spec: &GitRepositorySpec,
    plan: &GitRepositoryPlan,
) -> anyhow::Result<Arc<GitSource>> {
    let secret = match &plan.secret {
        Some(name) => Some(secret_data(ctx, &key.namespace, name).await?),
        None => None,
    };
    let fingerprint = format!(
        "{}|{}",
        serde_json::to_string(spec)?,
        gitops_core::Digest::sha256(format!("{secret:?}").as_bytes())
    );
    let mut sources = ctx.git_sources.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((known, source)) = sources.get(key) {
        if *known == fingerprint {
            return Ok(Arc::clone(source));
        }
    }
    let storage = ctx.storage_dir(key);
    let mut source = GitSource::new(&plan.url, plan.reference.clone(), storage)
        .with_context(|| format!("GitRepository {}/{}", key.namespace, key.name))?
        .with_insecure_http(ctx.allow_insecure_http);
    if let Some(timeout) = plan.timeout {
        source = source.with_timeout(timeout);
    }
    if let Some(data) = secret {
        source = source.with_auth(Auth::from_secret_data(data).context("reading credentials")?);
    }
    if let Some(ignore) = &plan.ignore {
        source = source.with_ignore(gitops_git::IgnoreRules::default().with_patterns(ignore));
    }
    let source = Arc::new(source);
    sources.insert(key.clone(), (fingerprint, Arc::clone(&source)));
    Ok(source)
}

fn dir_size(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(_) => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => {}
            }
        }
    }
    total
}

/// Removes a deleted GitRepository's cache and artifacts, as source-controller's garbage
/// collection does, and drops its source.
pub async fn forget(ctx: &Ctx, key: &Key) {
    ctx.git_sources
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(key);
    ctx.remove_storage(key).await;
}
