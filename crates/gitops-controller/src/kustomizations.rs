//! `Kustomization`: build a path of a source's artifact and apply it, as kustomize-controller
//! does, with the library's `Reconciler` doing the pass itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use async_trait::async_trait;
use gitops_core::apply::{ApplyOptions, Owner};
use gitops_core::condition::Conditions;
use gitops_core::reconcile::{Options, Stage};
use gitops_core::render::{self, RenderRequest};
use gitops_core::{Applier, Decryptor, Object, Reconciler, Renderer, Revision};
use gitops_flux::api::CommonMetadata;
use gitops_flux::{FluxObject, Kustomization, StatusInventory};
use gitops_kustomize::KustomizeRenderer;
use gitops_sops::SopsDecryptor;
use serde_json::json;

use crate::context::{Ctx, get, secret_data, suspended};
use crate::engine::{Key, Kind};
use crate::outcome::{Action, Failure};
use crate::translate::{self, KustomizationPlan};
use crate::wakes::wake_dependents;

/// One pass; returns when to look again.
pub async fn reconcile(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(ks) = get::<Kustomization>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if ks.metadata.deletion_timestamp.is_some() {
        return finalize(ctx, key, &ks).await;
    }
    if suspended(ctx, key, &ks) {
        return Ok(Action::AwaitChange);
    }
    let finalizers = ks.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        // Deleting the Kustomization must prune what it applied: hold the deletion until then.
        let mut with = finalizers;
        with.push(FINALIZER.to_string());
        ctx.set_finalizers::<Kustomization>(key, with).await?;
    }
    let spec = &ks.spec;
    let generation = ks.metadata.generation.unwrap_or_default();
    let mut conditions = Conditions::new();

    // 0. The spec as the library's options; one the controller cannot honour waits for an edit.
    let plan = match translate::kustomization(&key.namespace, spec) {
        Ok(plan) => plan,
        Err(invalid) => {
            let failure = Failure::stalled(invalid.reason(), invalid.to_string());
            ctx.fail(Kind::Kustomization, &ks, &failure).await?;
            return Ok(Action::AwaitChange);
        }
    };
    let (every, retry) = (plan.interval, plan.retry_interval);

    // 1. Dependencies first: each must be Ready for its current generation and, when it reads
    //    the same source, have applied the revision this pass is about to apply (Flux's rule:
    //    a CRD's Kustomization must have applied the commit that its custom resources come in).
    let source_key = plan.source.clone();
    let current_revision = ctx
        .artifacts
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&source_key)
        .map(|artifact| artifact.revision.to_string());
    for dep_key in &plan.dependencies {
        let dep = get::<Kustomization>(ctx, dep_key).await?;
        let waiting = match dep {
            None => Some("is not ready"),
            Some(dep) => dependency_waits(&dep, &source_key, current_revision.as_deref()),
        };
        if let Some(why) = waiting {
            let message = format!("dependency '{}/{}' {why}", dep_key.namespace, dep_key.name);
            ctx.fail(
                Kind::Kustomization,
                &ks,
                &Failure::retry("DependencyNotReady", &message),
            )
            .await?;
            return Ok(Action::Requeue(ctx.requeue_dependency));
        }
    }

    // 2. The source's artifact, as its GitRepository published it.
    if ctx.no_cross_namespace_refs && source_key.namespace != key.namespace {
        let message = format!(
            "cannot access GitRepository {}/{}: cross-namespace references are disabled (--no-cross-namespace-refs)",
            source_key.namespace, source_key.name
        );
        ctx.fail(
            Kind::Kustomization,
            &ks,
            &Failure::stalled("AccessDenied", &message),
        )
        .await?;
        return Ok(Action::AwaitChange);
    }
    let artifact = ctx
        .artifacts
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&source_key)
        .cloned();
    let Some(artifact) = artifact else {
        let message = format!(
            "Source artifact not found for {}/{}, retrying in {:?}",
            source_key.namespace, source_key.name, ctx.requeue_dependency
        );
        ctx.fail(
            Kind::Kustomization,
            &ks,
            &Failure::retry("ArtifactFailed", &message),
        )
        .await?;
        return Ok(Action::Requeue(ctx.requeue_dependency));
    };

    // 3. Compose the pass: decryption keys and variables come from Secrets and ConfigMaps.
    let me = key.object_ref();
    let options = match options(ctx, key, &plan).await {
        Ok(options) => options,
        Err(error) => {
            let message = format!("{error:#}");
            ctx.fail(
                Kind::Kustomization,
                &ks,
                &Failure::retry("BuildFailed", &message),
            )
            .await?;
            return Ok(Action::Requeue(retry));
        }
    };
    let applier = match ctx.applier_as(&key.namespace, plan.service_account.as_deref()) {
        Ok(applier) => applier,
        Err(error) => {
            let failure = Failure::retry("ReconciliationFailed", format!("{error:#}"));
            ctx.fail(Kind::Kustomization, &ks, &failure).await?;
            return Ok(Action::Requeue(retry));
        }
    };
    let mut reconciler = Reconciler::for_artifacts(
        me,
        Arc::new(ReadingArtifact {
            build: renderer(&plan),
            lock: ctx.artifact_lock(&source_key),
            timeout: options.timeout,
        }),
        applier as Arc<dyn Applier>,
    )
    .with_options(options)
    .with_inventory_store(Arc::new(StatusInventory::of(ctx.client.clone(), &ks)))
    .with_notifier(Arc::new(ctx.notifications.clone()));
    match decryptor(ctx, key, &plan).await {
        Ok(Some(decryptor)) => reconciler = reconciler.with_decryptor(decryptor),
        Ok(None) => {}
        Err(error) => {
            let message = format!("{error:#}");
            ctx.fail(
                Kind::Kustomization,
                &ks,
                &Failure::retry("DecryptionFailed", &message),
            )
            .await?;
            return Ok(Action::Requeue(retry));
        }
    }

    // 4. Say that work is under way when there is some: a new revision or a new generation.
    //    A pass that only confirms what is applied writes nothing until its result, and a retry
    //    of the same revision keeps showing why the last try failed.
    let status = ks.status.as_ref();
    let changing = status.and_then(|s| s.last_attempted_revision.as_deref())
        != Some(artifact.revision.to_string().as_str())
        || ks.observed_generation() != Some(generation);
    if changing {
        let mut progress = Conditions::new();
        let message = format!(
            "Fetching manifests for revision {} with a timeout of {:?}",
            artifact.revision,
            reconciler.options().timeout
        );
        progress.mark_reconciling(&message, generation, SystemTime::now());
        ctx.write_status(Kind::Kustomization, &ks, &progress, json!({}))
            .await?;
    }

    // 5. The pass. The renderer holds the artifact lock while it reads files; apply and health
    //    waits do not, so a long wait never holds up the source's next fetch.
    let last: Option<Revision> = ks
        .status
        .as_ref()
        .and_then(|s| s.last_applied_revision.as_deref())
        .and_then(|r| r.parse().ok());
    let result = reconciler
        .reconcile_artifact(&artifact, last.as_ref())
        .await;

    // 6. Status, metrics, and what comes next.
    let now = SystemTime::now();
    let attempted = artifact.revision.to_string();
    match result {
        Ok(outcome) => {
            ctx.succeeded(key);
            for action in [
                gitops_core::Action::Created,
                gitops_core::Action::Configured,
                gitops_core::Action::Deleted,
            ] {
                let count = outcome.changes.count(action) as u64;
                if count > 0 {
                    ctx.metrics.add_objects(
                        "Kustomization",
                        &key.namespace,
                        &key.name,
                        &action.to_string(),
                        count,
                    );
                }
            }
            let revision = outcome.revision.to_string();
            // Drift: what this pass had to change at the revision and spec already applied.
            let applied_before = ks.observed_generation() == Some(generation)
                && ks
                    .status
                    .as_ref()
                    .and_then(|s| s.last_applied_revision.as_deref())
                    == Some(revision.as_str());
            let drifted = if applied_before {
                outcome.changes.count(gitops_core::Action::Created)
                    + outcome.changes.count(gitops_core::Action::Configured)
            } else {
                0
            };
            ctx.metrics
                .record_drift("Kustomization", &key.namespace, &key.name, drifted as u64);
            if let Some(health) = &outcome.health {
                conditions.mark_healthy(
                    health.is_healthy(),
                    "Health check passed",
                    generation,
                    now,
                );
            }
            conditions.mark_ready(
                "ReconciliationSucceeded",
                &format!("Applied revision: {revision}"),
                generation,
                now,
            );
            let was_ready = ks.is_ready();
            // Dependents reading the same source wait for this revision to be applied here.
            let new_revision = ks
                .status
                .as_ref()
                .and_then(|s| s.last_applied_revision.as_deref())
                != Some(revision.as_str());
            ctx.write_status(
                Kind::Kustomization,
                &ks,
                &conditions,
                json!({
                    "lastAppliedRevision": revision,
                    "lastAttemptedRevision": attempted,
                }),
            )
            .await?;
            if outcome.changes.has_changes() || !was_ready || new_revision {
                tracing::info!(object = %key, %revision, changes = %outcome.changes.summary(), "applied");
                wake_dependents(ctx, key);
            }
            Ok(ctx.after_interval(key, every))
        }
        Err(failure) => {
            let message = format!(
                "{} failed: {}",
                failure.stage,
                gitops_core::reconcile::error_chain(&failure.error)
            );
            tracing::warn!(object = %key, %message, "reconcile failed");
            let (reason, stalled) = (failure.stage.failure_reason(), failure.is_stalled());
            if failure.stage == Stage::Health {
                conditions.mark_healthy(false, &message, generation, now);
            }
            conditions.mark_failed(reason, &message, stalled, generation, now);
            ctx.write_status(
                Kind::Kustomization,
                &ks,
                &conditions,
                json!({ "lastAttemptedRevision": attempted }),
            )
            .await?;
            Ok(Action::Requeue(retry))
        }
    }
}

/// The finalizer that holds a deleted Kustomization until its objects are pruned (Flux's name).
const FINALIZER: &str = "finalizers.fluxcd.io";

/// A deleted Kustomization: prune its inventory (when `prune` is on and it is not suspended),
/// then let it go.
async fn finalize(ctx: &Ctx, key: &Key, ks: &Kustomization) -> anyhow::Result<Action> {
    let finalizers = ks.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::AwaitChange);
    }
    if ks.spec.prune && !ks.spec.suspend {
        let owned = ks.inventory()?;
        let doomed = owned.stale(&gitops_core::Inventory::new());
        // Only what still carries this Kustomization's labels: an object another one took
        // over since stays.
        let ours = ApplyOptions::default().with_owner(Owner::of(&key.object_ref()));
        // As the account that applied them: a tenant cannot prune what it could not apply.
        let applier = ctx.applier_as(&key.namespace, ks.spec.service_account_name.as_deref())?;
        match applier.delete(&doomed, &ours).await {
            Ok(changes) => {
                tracing::info!(object = %key, pruned = doomed.len(), "deleted: objects pruned");
                ctx.notifications
                    .announce(
                        key,
                        gitops_core::Severity::Info,
                        "Pruned",
                        &changes.summary(),
                        None,
                    )
                    .await;
            }
            Err(error) => {
                tracing::warn!(object = %key, %error, "pruning a deleted Kustomization failed");
                return Ok(Action::Requeue(ctx.backoff(key, Duration::from_secs(60))));
            }
        }
    }
    let rest = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
    ctx.set_finalizers::<Kustomization>(key, rest).await?;
    Ok(Action::AwaitChange)
}

/// The build of the spec's path with what the spec adds to it, as Flux's kustomization
/// generator does: target namespace, name prefix and suffix, patches, images, components.
fn renderer(plan: &KustomizationPlan) -> Arc<dyn Renderer> {
    let build = KustomizeRenderer::with_options(plan.build.clone());
    match &plan.common_metadata {
        Some(metadata) => Arc::new(WithCommonMetadata {
            build,
            metadata: metadata.clone(),
        }),
        None => Arc::new(build),
    }
}

/// Renders while holding the source's artifact lock for reading, so a fetch cannot prune the
/// artifact's files under the build; only the build reads them. The build (on a blocking
/// thread, see `KustomizeRenderer`) is bounded by the Kustomization's timeout.
struct ReadingArtifact {
    build: Arc<dyn Renderer>,
    lock: Arc<tokio::sync::RwLock<()>>,
    timeout: Duration,
}

#[async_trait]
impl Renderer for ReadingArtifact {
    async fn render(&self, request: &RenderRequest) -> Result<Vec<Object>, render::Error> {
        let _reading = self.lock.read().await;
        tokio::time::timeout(self.timeout, self.build.render(request))
            .await
            .unwrap_or_else(|_| {
                Err(render::Error::Timeout {
                    path: request.path.display().to_string(),
                    after: self.timeout,
                })
            })
    }
}

/// `commonMetadata`: labels and annotations on every built object's own metadata, leaving
/// selectors and pod templates alone (unlike kustomize's `commonLabels`).
struct WithCommonMetadata {
    build: KustomizeRenderer,
    metadata: CommonMetadata,
}

#[async_trait]
impl Renderer for WithCommonMetadata {
    async fn render(&self, request: &RenderRequest) -> Result<Vec<Object>, render::Error> {
        let mut objects = self.build.render(request).await?;
        for object in &mut objects {
            object
                .edit(|value| {
                    let metadata = value
                        .entry("metadata")
                        .or_insert_with(|| json!({}))
                        .as_object_mut();
                    let Some(metadata) = metadata else { return };
                    for (field, pairs) in [
                        ("labels", &self.metadata.labels),
                        ("annotations", &self.metadata.annotations),
                    ] {
                        if pairs.is_empty() {
                            continue;
                        }
                        let map = metadata.entry(field).or_insert_with(|| json!({}));
                        if let Some(map) = map.as_object_mut() {
                            for (k, v) in pairs {
                                map.insert(k.clone(), json!(v));
                            }
                        }
                    }
                })
                .map_err(render::Error::from)?;
        }
        Ok(objects)
    }
}

/// The pass' options, as the spec states them; variables read from `substituteFrom`.
async fn options(ctx: &Ctx, key: &Key, plan: &KustomizationPlan) -> anyhow::Result<Options> {
    let mut variables = BTreeMap::new();
    {
        for from in &plan.substitute_from {
            let data = match from.kind.as_str() {
                "Secret" => match secret_data(ctx, &key.namespace, &from.name).await {
                    Ok(data) => Some(data),
                    Err(_) if from.optional => None,
                    Err(error) => return Err(error),
                },
                "ConfigMap" => {
                    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
                        kube::Api::namespaced(ctx.client.clone(), &key.namespace);
                    match api.get_opt(&from.name).await? {
                        Some(map) => Some(
                            map.data
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(k, v)| (k, v.into_bytes()))
                                .collect(),
                        ),
                        None if from.optional => None,
                        None => anyhow::bail!(
                            "substituteFrom: ConfigMap {}/{} not found",
                            key.namespace,
                            from.name
                        ),
                    }
                }
                // translate::kustomization lets no other kind through.
                other => anyhow::bail!("substituteFrom: kind {other} is not supported"),
            };
            for (name, value) in data.unwrap_or_default() {
                let value = String::from_utf8(value).with_context(|| {
                    format!("substituteFrom {}: {name} is not UTF-8", from.name)
                })?;
                variables.insert(name, value);
            }
        }
    }
    // Inline variables win over those read.
    variables.extend(plan.options.substitute.clone());
    Ok(plan.options.clone().with_substitute(variables))
}

/// The SOPS decryptor for `spec.decryption`, keys read from its Secret.
async fn decryptor(
    ctx: &Ctx,
    key: &Key,
    plan: &KustomizationPlan,
) -> anyhow::Result<Option<Arc<dyn Decryptor>>> {
    let Some(secret_name) = &plan.decryption_secret else {
        return Ok(None);
    };
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(ctx.client.clone(), &key.namespace);
    let read = api.get(secret_name).await;
    let missing = matches!(&read, Err(kube::Error::Api(status)) if status.code == 404);
    ctx.metrics
        .record_decryption_secret("Kustomization", &key.namespace, &key.name, missing);
    let secret = read.with_context(|| {
        format!(
            "reading decryption Secret {}/{}",
            key.namespace, secret_name
        )
    })?;
    let object = Object::new(serde_json::to_value(&secret)?)?;
    Ok(Some(Arc::new(SopsDecryptor::from_secret(&object)?)))
}

/// Why a dependency holds a Kustomization back, `None` when it does not: it must be Ready for
/// its current generation, and when it reads the same source (`source`, whose current revision
/// is `revision`) it must have applied that revision.
fn dependency_waits(
    dep: &Kustomization,
    source: &Key,
    revision: Option<&str>,
) -> Option<&'static str> {
    let generation = dep.metadata.generation.unwrap_or_default();
    if !dep.is_ready() || dep.observed_generation() != Some(generation) {
        return Some("is not ready");
    }
    let dep_namespace = dep.metadata.namespace.as_deref().unwrap_or_default();
    let dep_source = &dep.spec.source_ref;
    let same_source = dep_source.kind == "GitRepository"
        && dep_source.name == source.name
        && dep_source.namespace.as_deref().unwrap_or(dep_namespace) == source.namespace;
    let applied = dep
        .status
        .as_ref()
        .and_then(|s| s.last_applied_revision.as_deref());
    match revision {
        Some(revision) if same_source && applied != Some(revision) => {
            Some("has not applied the source revision yet")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kustomization(status: serde_json::Value, source: &str) -> Kustomization {
        serde_json::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "infra", "namespace": "flux-system", "generation": 2},
            "spec": {"interval": "10m", "prune": true, "path": "./infra",
                     "sourceRef": {"kind": "GitRepository", "name": source}},
            "status": status,
        }))
        .expect("a valid Kustomization")
    }

    fn ready(revision: &str, observed: i64) -> serde_json::Value {
        json!({"observedGeneration": observed, "lastAppliedRevision": revision,
               "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                               "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
    }

    /// Flux's dependsOn: Ready for the current generation, and on the same source the revision
    /// about to be applied (the CRDs of a commit before the custom resources of that commit).
    #[test]
    fn a_dependency_on_the_same_source_must_have_applied_the_same_revision() {
        let source = Key::new(Kind::GitRepository, "flux-system", "flux-system");
        let new = "main@sha1:2222222222222222222222222222222222222222";
        let old = "main@sha1:1111111111111111111111111111111111111111";
        let up_to_date = kustomization(ready(new, 2), "flux-system");
        assert_eq!(dependency_waits(&up_to_date, &source, Some(new)), None);
        let behind = kustomization(ready(old, 2), "flux-system");
        assert_eq!(
            dependency_waits(&behind, &source, Some(new)),
            Some("has not applied the source revision yet")
        );
        // Another source: its own revisions are not comparable, Ready is enough.
        let elsewhere = kustomization(ready(old, 2), "other-repo");
        assert_eq!(dependency_waits(&elsewhere, &source, Some(new)), None);
        // Ready for an older generation is not ready.
        let stale = kustomization(ready(new, 1), "flux-system");
        assert_eq!(
            dependency_waits(&stale, &source, Some(new)),
            Some("is not ready")
        );
        let not_ready = kustomization(json!({}), "flux-system");
        assert_eq!(
            dependency_waits(&not_ready, &source, Some(new)),
            Some("is not ready")
        );
    }
}
