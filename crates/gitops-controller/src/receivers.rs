//! `Receiver`: a secret webhook path per object, served on `--receiver-addr`. A verified
//! request (a GitHub or GitLab push, a generic call) asks for a reconcile of the objects the
//! Receiver names by setting their `reconcile.fluxcd.io/requestedAt` annotation, which the
//! watches turn into a pass at once: the push-to-applied path without waiting for an interval.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::Context as _;
use gitops_core::condition::Conditions;
use gitops_flux::api::ReceiverResource;
use gitops_flux::{REQUESTED_AT_ANNOTATION, Receiver};
use gitops_notify::receiver::{self as hook, Outcome};
use gitops_notify::server::{self, Limits, Reply, ServedRequest};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::context::{Ctx, get, secret_data, suspended};
use crate::engine::{Key, Kind};
use crate::outcome::Action;
use crate::translate::{self, ReceiverPlan};

/// The largest body a sender may post; Git forges send a few KiB.
const MAX_BODY: usize = 1 << 20;

/// The live receivers, by their secret path.
#[derive(Default)]
pub struct Hooks(RwLock<HashMap<String, Hook>>);

struct Hook {
    key: Key,
    verifier: hook::Receiver,
    resources: Vec<ReceiverResource>,
}

impl Hooks {
    /// Stops answering for `key`.
    pub fn forget(&self, key: &Key) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, hook| hook.key != *key);
    }

    fn install(&self, hook: Hook) {
        let mut hooks = self.0.write().unwrap_or_else(|e| e.into_inner());
        hooks.retain(|_, h| h.key != hook.key);
        hooks.insert(hook.verifier.path().to_owned(), hook);
    }
}

/// One pass: read the token, publish the path, answer on it.
pub async fn reconcile(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(receiver) = get::<Receiver>(ctx, key).await? else {
        ctx.hooks.forget(key);
        return Ok(Action::AwaitChange);
    };
    if suspended(ctx, key, &receiver) {
        ctx.hooks.forget(key);
        return Ok(Action::AwaitChange);
    }
    let generation = receiver.metadata.generation.unwrap_or_default();
    let now = SystemTime::now();
    let mut conditions = Conditions::new();
    let plan = match translate::receiver(&receiver.spec) {
        Ok(plan) => plan,
        Err(invalid) => {
            ctx.hooks.forget(key);
            conditions.mark_failed(
                "InvalidReceiver",
                &invalid.to_string(),
                true,
                generation,
                now,
            );
            ctx.write_status(Kind::Receiver, &receiver, &conditions, json!({}))
                .await?;
            return Ok(Action::AwaitChange);
        }
    };
    let every = plan.interval;
    match verifier(ctx, key, &plan).await {
        Ok(verifier) => {
            let path = verifier.path().to_owned();
            ctx.hooks.install(Hook {
                key: key.clone(),
                verifier,
                resources: plan.resources.clone(),
            });
            let message = format!("Receiver initialized for path: {path}");
            conditions.mark_ready("Succeeded", &message, generation, now);
            ctx.write_status(
                Kind::Receiver,
                &receiver,
                &conditions,
                json!({ "webhookPath": path }),
            )
            .await?;
            Ok(ctx.after_interval(key, every))
        }
        Err(error) => {
            ctx.hooks.forget(key);
            let message = format!("{error:#}");
            conditions.mark_failed("InvalidReceiver", &message, true, generation, now);
            ctx.write_status(Kind::Receiver, &receiver, &conditions, json!({}))
                .await?;
            Ok(ctx.after_interval(key, every))
        }
    }
}

/// The request checker the plan describes, with the token from its Secret.
async fn verifier(ctx: &Ctx, key: &Key, plan: &ReceiverPlan) -> anyhow::Result<hook::Receiver> {
    let secret = &plan.secret;
    let token = secret_data(ctx, &key.namespace, secret)
        .await?
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .with_context(|| format!("Secret {}/{secret} has no 'token' key", key.namespace))?;
    let mut verifier = hook::Receiver::new(
        plan.kind.clone(),
        &key.namespace,
        &key.name,
        token,
        Vec::new(),
    )
    .with_max_body(MAX_BODY);
    if !plan.events.is_empty() {
        verifier = verifier.with_events(plan.events.clone());
    }
    Ok(verifier)
}

/// Serves every receiver's path on `addr` until the process ends, through
/// `gitops_notify::server`: header and request timeouts, the body cap, a connection cap and
/// backoff when `accept` fails, so a slow or flooding client cannot hold or spin the controller.
pub async fn serve(ctx: Arc<Ctx>, listener: tokio::net::TcpListener) {
    let limits = Limits::default().with_max_body(MAX_BODY);
    server::serve(listener, limits, move |request| {
        let ctx = Arc::clone(&ctx);
        async move { answer(&ctx, request).await }
    })
    .await;
}

async fn answer(ctx: &Ctx, request: ServedRequest) -> Reply {
    let peer: SocketAddr = request.peer;
    let path = request.path.trim_end_matches('/').to_owned();
    let headers = request.header_pairs();
    let (key, outcome, resources) = {
        let hooks = ctx.hooks.0.read().unwrap_or_else(|e| e.into_inner());
        let Some(hook) = hooks.get(&path) else {
            return Reply::new(404, "unknown path");
        };
        let request = hook::Request {
            path: &path,
            ..request.as_request(&headers)
        };
        (
            hook.key.clone(),
            hook.verifier.handle(&request),
            hook.resources.clone(),
        )
    };
    match outcome {
        Ok(Outcome::Reconcile(_)) => match request_reconcile(ctx, &key, &resources).await {
            Ok(count) => {
                tracing::info!(receiver = %key, %peer, objects = count, "reconcile requested");
                Reply::new(200, format!("reconcile requested for {count} objects"))
            }
            Err(error) => {
                tracing::warn!(receiver = %key, error = %format!("{error:#}"), "requesting a reconcile failed");
                Reply::new(500, "requesting a reconcile failed")
            }
        },
        Ok(Outcome::Pong) => Reply::new(200, "pong"),
        Ok(Outcome::Ignored { event }) => Reply::new(200, format!("ignored event {event}")),
        Err(refused) => {
            tracing::info!(receiver = %key, %peer, %refused, "request refused");
            Reply::new(refused.status(), refused.to_string())
        }
    }
}

/// Sets a fresh `requestedAt` token on every object `resources` names; returns how many.
async fn request_reconcile(
    ctx: &Ctx,
    receiver: &Key,
    resources: &[ReceiverResource],
) -> anyhow::Result<usize> {
    // Flux writes the time; any new value asks for a pass.
    let token = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = Patch::Merge(json!({
        "metadata": { "annotations": { REQUESTED_AT_ANNOTATION: token } }
    }));
    let mut count = 0;
    for resource in resources {
        let Some(kind) = Kind::parse(&resource.kind) else {
            tracing::warn!(%receiver, kind = %resource.kind, "not a kind this controller reconciles; skipped");
            continue;
        };
        let namespace = resource.namespace.as_deref().unwrap_or(&receiver.namespace);
        let api_resource = ApiResource {
            group: kind.group().into(),
            version: "v1".into(),
            api_version: format!("{}/v1", kind.group()),
            kind: kind.as_str().into(),
            plural: kind.plural().into(),
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), namespace, &api_resource);
        let names = if resource.name == "*" {
            let selector = resource
                .match_labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            api.list_metadata(&ListParams::default().labels(&selector))
                .await
                .with_context(|| format!("listing {} in {namespace}", kind.as_str()))?
                .items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .collect()
        } else {
            vec![resource.name.clone()]
        };
        for name in names {
            api.patch_metadata(&name, &PatchParams::default(), &patch)
                .await
                .with_context(|| format!("annotating {} {namespace}/{name}", kind.as_str()))?;
            count += 1;
        }
    }
    Ok(count)
}
