//! Image automation: `ImageRepository` (scan tags), `ImagePolicy` (choose one),
//! `ImageUpdateAutomation` (rewrite markers, commit, push, then fetch the new revision at once).

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::Context as _;
use gitops_core::condition::{Conditions, rfc3339};
use gitops_core::{ImageScanner, Severity};
use gitops_flux::api::{ImageRef, ScanResult};
use gitops_flux::{GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation};
use gitops_git::{Auth, GitWriter, Identity, ImageUpdateAutomation as Automation, PushOutcome};
use gitops_registry::{Credentials, DockerConfig};
use serde_json::json;

use crate::context::{Ctx, get, secret_data, suspended};
use crate::engine::{Key, Kind};
use crate::outcome::{Action, Failure};
use crate::translate;
use crate::wakes::wake_dependents;

/// Scans an ImageRepository's tags.
pub async fn reconcile_repository(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(repo) = get::<ImageRepository>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if suspended(ctx, key, &repo) {
        return Ok(Action::AwaitChange);
    }
    let plan = match translate::image_repository(&repo.spec) {
        Ok(plan) => plan,
        Err(invalid) => {
            let failure = Failure::stalled(invalid.reason(), invalid.to_string());
            ctx.fail(Kind::ImageRepository, &repo, &failure).await?;
            return Ok(Action::AwaitChange);
        }
    };
    let every = plan.interval;
    let generation = repo.metadata.generation.unwrap_or_default();
    let mut conditions = Conditions::new();
    let now = SystemTime::now();

    let scanned = async {
        let mut scanner = plan.scanner;
        if let Some(secret) = &plan.secret {
            let data = secret_data(ctx, &key.namespace, secret).await?;
            let json = data
                .iter()
                .find(|(k, _)| k == ".dockerconfigjson")
                .context("the Secret has no .dockerconfigjson")?;
            scanner =
                scanner.with_credentials(Credentials::DockerConfig(DockerConfig::parse(&json.1)?));
        }
        anyhow::Ok(scanner.scan(&plan.image).await?)
    }
    .await;
    let result = match scanned {
        Ok(result) => result,
        Err(error) => {
            let message = format!("{error:#}");
            ctx.fail(
                Kind::ImageRepository,
                &repo,
                &Failure::retry("ReconciliationFailed", &message),
            )
            .await?;
            ctx.notifications
                .announce(key, Severity::Error, "ReconciliationFailed", &message, None)
                .await;
            return Ok(Action::Requeue(ctx.backoff(key, every)));
        }
    };
    ctx.succeeded(key);
    let mut latest = result.tags.clone();
    latest.sort_by(|a, b| b.cmp(a));
    latest.truncate(10);
    let message = format!("successful scan: found {} tags", result.tags.len());
    conditions.mark_ready("Succeeded", &message, generation, now);
    let scan = ScanResult {
        tag_count: result.tags.len(),
        scan_time: Some(rfc3339(result.scanned_at)),
        latest_tags: latest,
    };
    ctx.write_status(
        Kind::ImageRepository,
        &repo,
        &conditions,
        json!({ "canonicalImageName": result.repository, "lastScanResult": scan }),
    )
    .await?;
    let changed = {
        let mut tags = ctx.tags.write().unwrap_or_else(|e| e.into_inner());
        let before = tags.insert(key.clone(), result.tags.clone());
        before.as_ref() != Some(&result.tags)
    };
    if changed {
        wake_dependents(ctx, key);
    }
    Ok(ctx.after_interval(key, every))
}

/// Chooses the latest image of a policy from its repository's last scan.
pub async fn reconcile_policy(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(policy) = get::<ImagePolicy>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if suspended(ctx, key, &policy) {
        return Ok(Action::AwaitChange);
    }
    let generation = policy.metadata.generation.unwrap_or_default();
    let mut conditions = Conditions::new();
    let now = SystemTime::now();
    let reference = &policy.spec.image_repository_ref;
    let repo_key = Key::new(
        Kind::ImageRepository,
        reference.namespace.as_deref().unwrap_or(&key.namespace),
        &reference.name,
    );
    let tags = ctx
        .tags
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&repo_key)
        .cloned();
    let image = get::<ImageRepository>(ctx, &repo_key)
        .await?
        .map(|r| r.spec.image);
    let (Some(tags), Some(image)) = (tags, image) else {
        let message = format!(
            "ImageRepository {}/{} has not been scanned yet",
            repo_key.namespace, repo_key.name
        );
        ctx.fail(
            Kind::ImagePolicy,
            &policy,
            &Failure::retry("DependencyNotReady", &message),
        )
        .await?;
        return Ok(Action::Requeue(ctx.requeue_dependency));
    };

    let choice = match translate::image_policy(&policy.spec) {
        Ok(choice) => choice,
        Err(invalid) => {
            let failure = Failure::stalled(invalid.reason(), invalid.to_string());
            ctx.fail(Kind::ImagePolicy, &policy, &failure).await?;
            return Ok(Action::AwaitChange);
        }
    };
    let chosen = choice
        .latest(tags.iter().map(String::as_str))
        .map(str::to_string)
        .map_err(anyhow::Error::from);
    let tag = match chosen {
        Ok(tag) => tag,
        Err(error) => {
            let message = format!("{error:#}");
            ctx.fail(
                Kind::ImagePolicy,
                &policy,
                &Failure::retry("ReconciliationFailed", &message),
            )
            .await?;
            return Ok(Action::AwaitChange);
        }
    };
    let latest = format!("{image}:{tag}");
    let previous = policy.status.as_ref().and_then(|s| s.latest_image.clone());
    let message = format!("Latest image tag for '{image}' resolved to {tag}");
    conditions.mark_ready("Succeeded", &message, generation, now);
    let latest_ref = ImageRef {
        name: image.clone(),
        tag: tag.clone(),
        digest: None,
    };
    ctx.write_status(
        Kind::ImagePolicy,
        &policy,
        &conditions,
        json!({ "latestImage": latest, "latestRef": latest_ref }),
    )
    .await?;
    if previous.as_deref() != Some(latest.as_str()) {
        let message = match &previous {
            Some(previous) => {
                format!("Latest image tag for '{image}' updated from {previous} to {tag}")
            }
            None => message,
        };
        ctx.notifications
            .announce(key, Severity::Info, "Succeeded", &message, None)
            .await;
        wake_dependents(ctx, key);
    }
    // Policies move when their repository's tags do; the repository wakes them.
    Ok(Action::AwaitChange)
}

/// Rewrites the markers of a GitRepository's branch to the policies' choices and pushes.
pub async fn reconcile_automation(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(automation) = get::<ImageUpdateAutomation>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if suspended(ctx, key, &automation) {
        return Ok(Action::AwaitChange);
    }
    let spec = &automation.spec;
    let generation = automation.metadata.generation.unwrap_or_default();
    let mut conditions = Conditions::new();
    let now = SystemTime::now();
    // Tenancy, as Flux has it: the GitRepository (and so its Secret) must be this namespace's,
    // and `update.path` must name a directory inside the checkout.
    let plan = match translate::image_update_automation(&key.namespace, spec) {
        Ok(plan) => plan,
        Err(invalid) => {
            return refuse(
                ctx,
                key,
                &automation,
                invalid.reason(),
                &invalid.to_string(),
            )
            .await;
        }
    };
    let every = plan.interval;
    let source_key = &plan.source;

    let ran = async {
        let repo = get::<GitRepository>(ctx, source_key)
            .await?
            .with_context(|| format!("GitRepository {}/{} not found", source_key.namespace, source_key.name))?;
        let checkout = plan
            .checkout_branch
            .clone()
            .or_else(|| repo.spec.reference.as_ref().and_then(|r| r.branch.clone()))
            .unwrap_or_else(|| "master".into());
        let mut writer = GitWriter::new(
            &repo.spec.url,
            ctx.storage.join("automation").join(&key.namespace).join(&key.name),
        )?
        .with_insecure_http(ctx.allow_insecure_http);
        if let Some(secret) = &repo.spec.secret_ref {
            let data = secret_data(ctx, &source_key.namespace, &secret.name).await?;
            writer = writer.with_auth(Auth::from_secret_data(data)?);
        }
        let (author_name, author_email) = &plan.author;
        let name = format!("{}/{}", key.namespace, key.name);
        let tree = std::sync::Arc::new(gitops_local::images::DirectoryTree);
        let mut runner = Automation::new(&name, writer, checkout, tree)
            .with_author(Identity::new(author_name, author_email));
        if let Some(push) = &plan.push_branch {
            runner = runner.with_push_branch(push.clone());
        }
        if let Some(path) = &plan.path {
            runner = runner.with_path(path.clone());
        }
        if let Some(template) = &plan.message_template {
            // Flux's Go templates are not ours; such a message falls back to the default.
            match runner.clone().with_template(template.clone()) {
                Ok(with) => runner = with,
                Err(error) => tracing::warn!(object = %key, %error, "messageTemplate not usable, using the default message"),
            }
        }
        let policies: BTreeMap<String, String> = ctx
            .image_policies
            .state()
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(key.namespace.as_str()))
            .filter_map(|p| {
                let latest = p.status.as_ref()?.latest_image.clone()?;
                Some((format!("{}:{}", key.namespace, p.metadata.name.as_deref()?), latest))
            })
            .collect();
        anyhow::Ok(runner.run(policies).await?)
    }
    .await;

    let outcome = match ran {
        Ok(outcome) => outcome,
        Err(error) if escaped(&error) => {
            let message = format!("update.path must stay inside the repository: {error:#}");
            return refuse(ctx, key, &automation, "AccessDenied", &message).await;
        }
        Err(error) => {
            let message = format!("{error:#}");
            ctx.fail(
                Kind::ImageUpdateAutomation,
                &automation,
                &Failure::retry("UpdateFailed", &message),
            )
            .await?;
            ctx.notifications
                .announce(key, Severity::Error, "UpdateFailed", &message, None)
                .await;
            return Ok(Action::Requeue(ctx.backoff(key, every)));
        }
    };
    ctx.succeeded(key);
    let mut extra = json!({ "lastAutomationRunTime": rfc3339(now) });
    let message = match &outcome.result {
        PushOutcome::Pushed { commit, branch, .. } => {
            ctx.metrics.add_image_push(
                Kind::ImageUpdateAutomation.as_str(),
                &key.namespace,
                &key.name,
            );
            extra["lastPushCommit"] = json!(commit);
            extra["lastPushTime"] = json!(rfc3339(now));
            let message = format!(
                "pushed commit '{}' to branch '{branch}'\n{}",
                &commit[..commit.len().min(7)],
                outcome
                    .changes
                    .iter()
                    .map(|c| format!("{}: {} -> {}", c.file, c.old, c.new))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            ctx.notifications
                .announce(key, Severity::Info, "Succeeded", &message, None)
                .await;
            // The new commit is what the GitRepository should follow next: fetch it now.
            wake_dependents(ctx, key);
            message
        }
        _ => "repository up-to-date".to_string(),
    };
    conditions.mark_ready(
        "Succeeded",
        message.lines().next().unwrap_or_default(),
        generation,
        now,
    );
    ctx.write_status(Kind::ImageUpdateAutomation, &automation, &conditions, extra)
        .await?;
    Ok(ctx.after_interval(key, every))
}

/// Whether the automation refused a path that leads out of the checkout (a symlink).
fn escaped(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<gitops_local::images::Error>(),
            Some(gitops_local::images::Error::Escape { .. })
        )
    })
}

/// A refused automation: `Stalled`, as only a change to the object or the repository helps.
async fn refuse(
    ctx: &Ctx,
    key: &Key,
    automation: &ImageUpdateAutomation,
    reason: &str,
    message: &str,
) -> anyhow::Result<Action> {
    tracing::warn!(object = %key, %message, "refused");
    ctx.fail(
        Kind::ImageUpdateAutomation,
        automation,
        &Failure::stalled(reason, message),
    )
    .await?;
    ctx.notifications
        .announce(key, Severity::Error, reason, message, None)
        .await;
    Ok(Action::AwaitChange)
}
