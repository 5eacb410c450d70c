//! `HelmRelease`: a chart from a HelmRepository's stored index, installed or upgraded in the
//! cluster as helm-controller does, with release records the real `helm` reads.
//!
//! # A pass
//! 1. The spec as a plan (release name `spec.releaseName` or `[targetNamespace-]name`,
//!    namespaces, timeout, history limit, wait); every `dependsOn` HelmRelease must be Ready
//!    for its current generation (else `DependencyNotReady`, looked at again after
//!    `--requeue-dependency`).
//! 2. The chart ([`crate::charts`]): `spec.chart.spec.sourceRef` names a HelmRepository (its
//!    stored index or, for `type: oci`, the registry gives the newest version matching
//!    `spec.chart.spec.version`) or a GitRepository (the chart directory at
//!    `spec.chart.spec.chart`, its version carrying the commit under `reconcileStrategy:
//!    Revision`); or `spec.chartRef` names a HelmChart or an OCIRepository whose stored
//!    archive is loaded (an OCI chart's version carrying the digest, as Flux does).
//! 3. The values: `valuesFrom` in order (ConfigMap or Secret, `valuesKey` default
//!    `values.yaml`, merged, or set at `targetPath`; `optional` ones may be missing), then
//!    `spec.values` merged over them; their digest is the config digest.
//! 4. The release in storage and the object's status (`history`, failure counters) classified
//!    by [`gitops_helm::planner`], which chooses what to do; install, upgrade, rollback or
//!    uninstall through [`gitops_helm::release::Actions`], as `spec.serviceAccountName` (or
//!    `--default-service-account`) when given, each with its own `timeout` (else
//!    `spec.timeout`), `disableWait` and `disableHooks`, and `maxHistory` (default 5).
//! 5. The status as Flux writes it (`Released` and `Ready`, `history` newest first,
//!    `lastAttempted*`, failure counters) and an event when something was done. A pass that
//!    finds the release in sync writes nothing: no revision, no status.
//!
//! A ConfigMap or Secret labelled `reconcile.fluxcd.io/watch: Enabled` wakes the HelmReleases
//! whose `valuesFrom` names it when it changes ([`watch_values`]); a new artifact of the
//! source a HelmRelease is charted from wakes it (`wakes.rs`).
//!
//! A failure before step 4 (no such chart version, a repository not ready, a missing values
//! reference, a chart that does not load) is `Ready=False` with Flux's reason
//! (`ArtifactFailed`, `ValuesError`) and leaves the release untouched.
//!
//! # Not supported yet (a clear error or documented behaviour)
//! - Bucket sources: `Ready=False` saying so.
//! - Post-renderers other than kustomize `patches`/`images` are refused (stalled); so are
//!   `driftDetection.ignore` targets with a `labelSelector` or `annotationSelector`.
//! - `spec.chart` creates no HelmChart object: the chart is read from its source directly
//!   (HelmCharts written by hand, named in `spec.chartRef`, are reconciled).
//!
//! # Known divergences
//! - A `history` snapshot's `digest` is the SHA-256 of the release record's JSON with sorted
//!   keys, not of Go's encoding: it is compared only with what this controller wrote.
//! - Source failures (no matching version, repository not ready) are reported on the
//!   HelmRelease itself with reason `ArtifactFailed`, where Flux reports them on the HelmChart
//!   it creates and the HelmRelease waits for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gitops_core::condition::{ConditionStatus, ConditionType, Conditions};
use gitops_core::event::Severity;
use gitops_flux::api::{HelmReleaseSpec, Snapshot, ValuesReference};
use gitops_flux::{FluxObject, HelmRelease};
use gitops_helm::planner::{self, AttemptedAction, Next, Observation, StoredStatus};
use gitops_helm::release::{
    ActionOptions, Actions, CrdPolicy, IgnoredFields, PostRenderer, Release, TestFilter,
};
use gitops_helm::{Chart, TemplateOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::charts;
use crate::context::{Ctx, get, suspended};
use crate::engine::{Key, Kind};
use crate::outcome::{Action, Failure};

/// The label (value `Enabled`) that makes a change to a ConfigMap or Secret wake the
/// HelmReleases whose `valuesFrom` names it, as helm-controller watches them.
pub const WATCH_LABEL: &str = "reconcile.fluxcd.io/watch";

/// Watches the ConfigMaps and Secrets labelled [`WATCH_LABEL`]`=Enabled` in every namespace;
/// a change (or deletion) makes the HelmReleases whose `valuesFrom` names one due at once.
/// The initial listing wakes nothing: every HelmRelease gets a first pass anyway.
pub fn watch_values(
    ctx: &Arc<Ctx>,
    config: kube::runtime::watcher::Config,
) -> Vec<tokio::task::JoinHandle<()>> {
    let config = config.labels(&format!("{WATCH_LABEL}=Enabled"));
    vec![
        watch_kind::<ConfigMap>(Arc::clone(ctx), config.clone(), "ConfigMap"),
        watch_kind::<Secret>(Arc::clone(ctx), config, "Secret"),
    ]
}

fn watch_kind<K>(
    ctx: Arc<Ctx>,
    config: kube::runtime::watcher::Config,
    kind: &'static str,
) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use futures::StreamExt as _;
    use kube::runtime::{WatchStreamExt as _, watcher};
    tokio::spawn(async move {
        let stream = watcher(Api::<K>::all(ctx.client.clone()), config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let object = match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::Delete(object)) => object,
                Ok(_) => continue,
                Err(error) => {
                    tracing::warn!(kind, %error, "watch of labelled values failed, retrying");
                    continue;
                }
            };
            let meta = object.meta();
            let namespace = meta.namespace.as_deref().unwrap_or_default();
            let name = meta.name.as_deref().unwrap_or_default();
            for key in referring(&ctx.helm_releases.state(), kind, namespace, name) {
                tracing::debug!(object = %key, by = %format!("{kind}/{namespace}/{name}"), "woken");
                ctx.queue.schedule(key, Duration::ZERO);
            }
        }
    })
}

/// The HelmReleases among `releases` whose `valuesFrom` names the `kind` `namespace/name`.
fn referring(releases: &[Arc<HelmRelease>], kind: &str, namespace: &str, name: &str) -> Vec<Key> {
    releases
        .iter()
        .filter(|hr| hr.metadata.namespace.as_deref() == Some(namespace))
        .filter(|hr| {
            hr.spec
                .values_from
                .iter()
                .any(|r| r.kind == kind && r.name == name)
        })
        .map(|hr| crate::engine::key_of(Kind::HelmRelease, &**hr))
        .collect()
}

/// What the spec asks for, checked.
struct Plan {
    interval: Duration,
    release_name: String,
    target_namespace: String,
    storage_namespace: String,
    max_history: usize,
    install: Step,
    upgrade: Step,
    rollback: Step,
    uninstall: Step,
    /// `test.timeout` (else `spec.timeout`) for the chart's test hooks.
    test: Step,
    /// `test.filters`: which test hooks run.
    test_filter: TestFilter,
    /// `driftDetection.ignore`: the fields drift detection and correction leave alone.
    drift_ignore: Vec<IgnoreRule>,
    /// Where the chart comes from: `spec.chart` or `spec.chartRef`.
    origin: charts::Origin,
    /// `install.crds` and `upgrade.crds`.
    crds: (CrdPolicy, CrdPolicy),
    /// `install.createNamespace`.
    create_namespace: bool,
    /// `postRenderers[].kustomize`, each a kustomization's `patches` and `images`.
    post_renderers: Vec<Value>,
}

/// How one kind of action runs: `<action>.timeout` (else `spec.timeout`), `disableWait`,
/// `disableHooks`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Step {
    timeout: Duration,
    wait: bool,
    hooks: bool,
}

/// The plan of `hr`, or why the spec cannot be carried out (stalled: only a change helps).
fn plan(hr: &HelmRelease, key: &Key) -> Result<Plan, Failure> {
    let spec: &HelmReleaseSpec = &hr.spec;
    let invalid = |message: String| Failure::stalled("ReconciliationFailed", message);
    let duration = |field: &str, text: Option<&str>, fallback: Duration| match text
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => Ok(fallback),
        Some(text) => gitops_flux::parse_duration(text)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| invalid(format!("spec.{field}: {text:?} is not a duration"))),
    };
    let interval = duration("interval", Some(&spec.interval), Duration::from_secs(600))?;
    let timeout = duration("timeout", spec.timeout.as_deref(), Duration::from_secs(300))?;
    let origin = match (&spec.chart, &spec.chart_ref) {
        (Some(template), None) => {
            let source = &template.spec.source_ref;
            charts::Origin::of_template(
                &source.kind,
                (
                    source.namespace.as_deref().unwrap_or(&key.namespace),
                    &source.name,
                ),
                &template.spec.chart,
                template.spec.version.as_deref(),
                template.spec.reconcile_strategy.as_deref(),
            )?
        }
        (None, Some(reference)) => {
            let kind = match reference.kind.as_str() {
                "OCIRepository" => Kind::OCIRepository,
                "HelmChart" => Kind::HelmChart,
                other => {
                    return Err(invalid(format!(
                        "spec.chartRef: kind {other:?} is not one of OCIRepository, HelmChart"
                    )));
                }
            };
            let namespace = reference.namespace.as_deref().unwrap_or(&key.namespace);
            let source = Key::new(kind, namespace, &reference.name);
            charts::Origin::Artifact { source }
        }
        _ => {
            return Err(invalid(
                "one of spec.chart or spec.chartRef must be given, not both".into(),
            ));
        }
    };
    let target_namespace = spec
        .target_namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| key.namespace.clone());
    let storage_namespace = spec
        .storage_namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| key.namespace.clone());
    let step = |field: &str, text: Option<&str>, disable_wait: bool, disable_hooks: bool| {
        Ok::<_, Failure>(Step {
            timeout: duration(field, text, timeout)?,
            wait: !disable_wait,
            hooks: !disable_hooks,
        })
    };
    let (install, upgrade) = (
        spec.install.clone().unwrap_or_default(),
        spec.upgrade.clone().unwrap_or_default(),
    );
    let (rollback, uninstall) = (
        spec.rollback.clone().unwrap_or_default(),
        spec.uninstall.clone().unwrap_or_default(),
    );
    let crd_policy = |field: &str, text: Option<&str>, fallback: CrdPolicy| match text
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => Ok(fallback),
        Some("Skip") => Ok(CrdPolicy::Skip),
        Some("Create") => Ok(CrdPolicy::Create),
        Some("CreateReplace") => Ok(CrdPolicy::CreateReplace),
        Some(other) => Err(invalid(format!(
            "spec.{field}: {other:?} is not one of Skip, Create, CreateReplace"
        ))),
    };
    // Flux's defaults: CRDs are created on install and left alone on upgrade.
    let crds = (
        crd_policy("install.crds", install.crds.as_deref(), CrdPolicy::Create)?,
        crd_policy("upgrade.crds", upgrade.crds.as_deref(), CrdPolicy::Skip)?,
    );
    let create_namespace = install.create_namespace;
    let mut post_renderers = Vec::new();
    for (i, renderer) in spec.post_renderers.iter().enumerate() {
        let Some(kustomize) = renderer.get("kustomize") else {
            return Err(invalid(format!(
                "spec.postRenderers[{i}]: only kustomize post-renderers are supported"
            )));
        };
        let keys = kustomize
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>());
        match keys {
            Some(keys) if keys.iter().all(|k| k == "patches" || k == "images") => {}
            _ => {
                return Err(invalid(format!(
                    "spec.postRenderers[{i}].kustomize: only patches and images are supported"
                )));
            }
        }
        post_renderers.push(kustomize.clone());
    }
    let install = step(
        "install.timeout",
        install.timeout.as_deref(),
        install.disable_wait,
        install.disable_hooks,
    )?;
    let upgrade = step(
        "upgrade.timeout",
        upgrade.timeout.as_deref(),
        upgrade.disable_wait,
        upgrade.disable_hooks,
    )?;
    let rollback = step(
        "rollback.timeout",
        rollback.timeout.as_deref(),
        rollback.disable_wait,
        rollback.disable_hooks,
    )?;
    let uninstall = step(
        "uninstall.timeout",
        uninstall.timeout.as_deref(),
        uninstall.disable_wait,
        uninstall.disable_hooks,
    )?;
    let test = step(
        "test.timeout",
        spec.test.as_ref().and_then(|t| t.timeout.as_deref()),
        false,
        false,
    )?;
    let test_filter = test_filter(spec.test.as_ref().and_then(|t| t.filters.as_ref()))
        .map_err(|why| invalid(format!("spec.test.filters: {why}")))?;
    let drift_ignore = spec
        .drift_detection
        .as_ref()
        .map(|d| d.ignore.iter().enumerate().map(IgnoreRule::parse).collect())
        .transpose()
        .map_err(|why| invalid(format!("spec.driftDetection.ignore{why}")))?
        .unwrap_or_default();
    let release_name = match spec.release_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => name.to_string(),
        None => match spec.target_namespace.as_deref().filter(|n| !n.is_empty()) {
            Some(target) => shorten(&format!("{target}-{}", key.name)),
            None => shorten(&key.name),
        },
    };
    Ok(Plan {
        interval,
        release_name,
        target_namespace,
        storage_namespace,
        // Flux's default is 5; 0 keeps every revision.
        max_history: spec
            .max_history
            .map_or(5, |m| usize::try_from(m).unwrap_or(0)),
        install,
        upgrade,
        rollback,
        uninstall,
        test,
        test_filter,
        drift_ignore,
        origin,
        crds,
        create_namespace,
        post_renderers,
    })
}

/// One `driftDetection.ignore` rule: JSON pointers, for the objects its `target` selects
/// (every object without one). A target's `group`, `version` and `kind` match exactly, its
/// `name` and `namespace` as whole-string regular expressions, as kustomize selectors do.
#[derive(Clone, Debug)]
struct IgnoreRule {
    paths: Vec<String>,
    group: Option<String>,
    version: Option<String>,
    kind: Option<String>,
    name: Option<regex::Regex>,
    namespace: Option<regex::Regex>,
}

impl IgnoreRule {
    /// The rule at `index` of the list, or why not (after the field's name).
    fn parse((index, rule): (usize, &Value)) -> Result<IgnoreRule, String> {
        let at = |field: &str, why: String| format!("[{index}].{field}: {why}");
        let paths: Vec<String> = match rule.get("paths").and_then(Value::as_array) {
            Some(paths) if !paths.is_empty() => paths
                .iter()
                .map(|p| match p.as_str() {
                    Some(p) if p.starts_with('/') => Ok(p.to_string()),
                    _ => Err(at("paths", format!("{p} is not a JSON pointer"))),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(at("paths", "at least one JSON pointer is required".into())),
        };
        let target = rule.get("target").filter(|t| !t.is_null());
        let text = |field: &str| {
            target
                .and_then(|t| t.get(field))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        for unsupported in ["labelSelector", "annotationSelector"] {
            if text(unsupported).is_some() {
                return Err(at(
                    &format!("target.{unsupported}"),
                    "not supported by this controller".into(),
                ));
            }
        }
        let pattern = |field: &str| {
            text(field)
                .map(|p| {
                    regex::Regex::new(&format!("^(?:{p})$"))
                        .map_err(|e| at(&format!("target.{field}"), e.to_string()))
                })
                .transpose()
        };
        Ok(IgnoreRule {
            paths,
            group: text("group"),
            version: text("version"),
            kind: text("kind"),
            name: pattern("name")?,
            namespace: pattern("namespace")?,
        })
    }

    /// Whether the rule applies to the object `id`.
    fn matches(&self, id: &gitops_core::ObjectRef) -> bool {
        let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let like = |want: &Option<regex::Regex>, have: &str| {
            want.as_ref().is_none_or(|re| re.is_match(have))
        };
        same(&self.group, &id.group)
            && same(&self.version, &id.version)
            && same(&self.kind, &id.kind)
            && like(&self.name, &id.name)
            && like(&self.namespace, id.namespace.as_deref().unwrap_or_default())
    }
}

/// `test.filters` (`[{name, exclude}]`) as the filter of the test hooks to run.
fn test_filter(filters: Option<&Value>) -> Result<TestFilter, String> {
    let mut filter = TestFilter::default();
    let Some(filters) = filters.filter(|f| !f.is_null()) else {
        return Ok(filter);
    };
    let list = filters.as_array().ok_or("not a list")?;
    for (i, entry) in list.iter().enumerate() {
        let name = entry["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("[{i}]: a name is required"))?;
        match entry.get("exclude").unwrap_or(&Value::Bool(false)) {
            Value::Bool(true) => filter.exclude.push(name.to_string()),
            Value::Bool(false) => filter.include.push(name.to_string()),
            other => return Err(format!("[{i}].exclude: {other} is not true or false")),
        }
    }
    Ok(filter)
}

/// A release name Helm accepts (at most 53 characters), as helm-controller shortens one.
fn shorten(name: &str) -> String {
    if name.len() <= 53 {
        return name.to_string();
    }
    let sum = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    // Kubernetes names are ASCII; `get` keeps a stray multi-byte name from panicking.
    let head = name.get(..40).unwrap_or(name);
    format!("{head}-{}", &sum[..12])
}

/// One pass; returns when to look again.
pub async fn reconcile(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(hr) = get::<HelmRelease>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if hr.metadata.deletion_timestamp.is_some() {
        return finalize(ctx, key, &hr).await;
    }
    if suspended(ctx, key, &hr) {
        return Ok(Action::AwaitChange);
    }
    let finalizers = hr.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        // Deleting the HelmRelease must uninstall its release: hold the deletion until then.
        let mut with = finalizers;
        with.push(FINALIZER.to_string());
        ctx.set_finalizers::<HelmRelease>(key, with).await?;
    }

    // 1. The spec as a plan.
    let plan = match plan(&hr, key) {
        Ok(plan) => plan,
        Err(failure) => {
            report(ctx, key, &hr, &failure).await?;
            return Ok(Action::AwaitChange);
        }
    };
    let every = plan.interval;

    // 1b. Dependencies first: each must be Ready for its current generation.
    for dependency in &hr.spec.depends_on {
        let dep_key = Key::new(
            Kind::HelmRelease,
            dependency.namespace.as_deref().unwrap_or(&key.namespace),
            &dependency.name,
        );
        let ready = get::<HelmRelease>(ctx, &dep_key).await?.is_some_and(|dep| {
            dep.is_ready() && dep.observed_generation() == dep.metadata.generation
        });
        if !ready {
            let message = format!(
                "dependency '{}/{}' is not ready",
                dep_key.namespace, dep_key.name
            );
            report(
                ctx,
                key,
                &hr,
                &Failure::retry("DependencyNotReady", message),
            )
            .await?;
            return Ok(Action::Requeue(ctx.requeue_dependency));
        }
    }

    // 2. The chart, from its source (`charts`).
    let charts::Resolved {
        name: chart_name,
        version,
        mut chart,
        oci_digest,
        ..
    } = match charts::resolve(ctx, key, &plan.origin).await {
        Ok(found) => found,
        Err(failure) => return fail(ctx, key, &hr, failure, every).await,
    };
    let chart_values = match apply_values_files(&mut chart, &hr) {
        Ok(merged) => merged,
        Err(failure) => return fail(ctx, key, &hr, failure, every).await,
    };

    // 3. The values and their digest.
    let values = match compose_values(ctx, &key.namespace, &hr).await {
        Ok(values) => values,
        Err(message) => {
            let failure = Failure::retry("ValuesError", message);
            return fail(ctx, key, &hr, failure, every).await;
        }
    };
    // The chart's values from `valuesFiles` count as configuration: changing them upgrades.
    // So do `postRenderers` (this controller's digest only; Flux keeps a separate one).
    let config_digest = match (&chart_values, hr.spec.post_renderers.is_empty()) {
        (None, true) => digest_of(&Value::Object(values.clone())),
        (defaults, _) => digest_of(&json!({
            "values": values,
            "valuesFiles": defaults,
            "postRenderers": hr.spec.post_renderers,
        })),
    };

    // 4. What is in storage, and what to do about it.
    let client = match client_for(ctx, &hr) {
        Ok(client) => client,
        Err(error) => {
            let failure = Failure::stalled("ReconciliationFailed", format!("{error:#}"));
            return fail(ctx, key, &hr, failure, every).await;
        }
    };
    let actions = |step: Step| Actions::new(client.clone(), action_options(&plan, step));
    let storage = gitops_helm::release::Storage::new(client.clone(), &plan.storage_namespace);
    let stored = match storage.last(&plan.release_name).await {
        Ok(record) => Some(record.release),
        Err(gitops_helm::release::storage::Error::NotFound { .. }) => None,
        Err(error) => {
            let message = format!(
                "reading the release in storage: {}",
                gitops_core::reconcile::error_chain(&error)
            );
            return fail(
                ctx,
                key,
                &hr,
                Failure::retry("GetLastReleaseFailed", message),
                every,
            )
            .await;
        }
    };
    let status = hr.status.clone().unwrap_or_default();
    let generation = hr.metadata.generation.unwrap_or_default();
    // A new generation starts the failure counts again, as Flux does.
    let fresh = status.last_attempted_generation != Some(generation);
    let (install_failures, upgrade_failures) = if fresh {
        (0, 0)
    } else {
        (
            status.install_failures.unwrap_or(0),
            status.upgrade_failures.unwrap_or(0),
        )
    };
    let mut observation = observe(
        &hr,
        stored.as_ref(),
        &status.history,
        &(chart_name.clone(), version.clone()),
        &config_digest,
        (install_failures, upgrade_failures),
        &plan.test_filter,
    );
    let mut state = planner::classify(&observation);
    // Drift is looked for only in a release otherwise in sync, as Flux does.
    let mut drifts = Vec::new();
    if state == planner::State::InSync && observation.drift_mode != planner::DriftMode::Disabled {
        match actions(plan.upgrade)
            .drift(&plan.release_name, &plan.target_namespace)
            .await
        {
            Ok(found) => drifts = found,
            // Not being able to look is not a failed release: said, and looked again next time.
            Err(error) => tracing::warn!(
                object = %key,
                "drift detection failed: {}",
                gitops_core::reconcile::error_chain(&error)
            ),
        }
        if !drifts.is_empty() {
            observation.drifted = true;
            state = planner::classify(&observation);
        }
    }
    let next = planner::next_action(&observation, &state);
    tracing::debug!(object = %key, ?state, ?next, "planned");
    // A release changed outside this object (`helm rollback`, `helm upgrade` by hand) or a
    // changed spec: said once in the log, as Flux's helm-controller says it, before acting.
    if let planner::State::Unmanaged(why) | planner::State::OutOfSync(why) = &state {
        tracing::info!(object = %key, "release out-of-sync with desired state: {why}");
    }

    let chart_text = format!("{chart_name}@{version}");
    let release_ref = |r: &Release| format!("{}/{}.v{}", r.namespace, r.name, r.version);
    let options = TemplateOptions::new(&plan.release_name).with_namespace(&plan.target_namespace);
    let now = SystemTime::now();
    let outcome = match next {
        Next::Nothing => {
            ctx.succeeded(key);
            // The last test's outcome stays beside the in-sync conditions.
            let mut conditions = Conditions::new();
            carry_over(&mut conditions, &hr, |t| t == "TestSuccess", 0, now);
            if let (false, Some(release)) = (drifts.is_empty(), stored.as_ref()) {
                // `driftDetection.mode: warn`: reported, left as it is.
                let message = format!(
                    "Cluster state of release {} has drifted from the desired state:\n{}",
                    release_ref(release),
                    drift_lines(&drifts)
                );
                tracing::warn!(object = %key, "{message}");
                ctx.notifications
                    .announce(key, Severity::Error, "DriftDetected", &message, None)
                    .await;
            }
            let (reason, message) = in_sync_message(&hr);
            conditions.set(
                ConditionType::Other("Released".into()),
                ConditionStatus::True,
                &reason,
                &message,
                generation,
                now,
            );
            conditions.mark_ready(&reason, &message, generation, now);
            let mut extra = json!({
                "history": status.history,
                "storageNamespace": plan.storage_namespace,
                "lastAttemptedRevision": version,
                "lastAttemptedRevisionDigest": oci_digest,
                "lastAttemptedConfigDigest": config_digest,
                "lastAttemptedGeneration": generation,
            });
            // In sync: earlier failures no longer count (written only when there are some,
            // so that an in-sync pass writes nothing).
            for (field, count) in [
                ("failures", status.failures),
                ("installFailures", status.install_failures),
                ("upgradeFailures", status.upgrade_failures),
            ] {
                if count.unwrap_or(0) != 0 {
                    extra[field] = json!(0);
                }
            }
            ctx.write_status(Kind::HelmRelease, &hr, &conditions, extra)
                .await?;
            if !hr.is_ready() {
                crate::wakes::wake_dependents(ctx, key);
            }
            return Ok(ctx.after_interval(key, every));
        }
        Next::Install | Next::Upgrade => {
            let action = if next == Next::Install {
                AttemptedAction::Install
            } else {
                AttemptedAction::Upgrade
            };
            let file = match values_file(&values) {
                Ok(file) => file,
                Err(error) => {
                    let failure = Failure::retry("ValuesError", format!("{error:#}"));
                    return fail(ctx, key, &hr, failure, every).await;
                }
            };
            let options = options.with_values_file(file.path());
            if action == AttemptedAction::Install && plan.create_namespace {
                if let Err(error) = create_namespace(&client, &plan.target_namespace).await {
                    let failure = Failure::retry("InstallFailed", format!("{error:#}"));
                    return fail(ctx, key, &hr, failure, every).await;
                }
            }
            let result = match action {
                AttemptedAction::Install => actions(plan.install).install(&chart, &options).await,
                AttemptedAction::Upgrade => actions(plan.upgrade).upgrade(&chart, &options).await,
            };
            Done {
                action: Some(action),
                word: if action == AttemptedAction::Install {
                    "install"
                } else {
                    "upgrade"
                },
                result,
            }
        }
        Next::Rollback => Done {
            action: None,
            word: "rollback",
            result: actions(plan.rollback)
                .rollback(&plan.release_name, &plan.target_namespace, None)
                .await,
        },
        Next::Uninstall => Done {
            action: None,
            word: "uninstall",
            result: actions(plan.uninstall)
                .uninstall(&plan.release_name, &plan.target_namespace, false)
                .await,
        },
        Next::Unlock => {
            let failure = Failure::retry(
                "ReconciliationFailed",
                format!(
                    "release {}/{} is locked by another operation ({state:?}); waiting for it to finish or time out",
                    plan.storage_namespace, plan.release_name
                ),
            );
            return fail(ctx, key, &hr, failure, every).await;
        }
        Next::Stop(stop) => {
            // Ready keeps the failure that used the retries up; Stalled says why nothing runs.
            let (action, attempts) = match observation.last_attempted {
                Some(AttemptedAction::Install) => ("install", install_failures),
                Some(AttemptedAction::Upgrade) => ("upgrade", upgrade_failures),
                None => ("release", install_failures.max(upgrade_failures)),
            };
            let message = match stop {
                planner::Stop::RetriesExhausted(_) => {
                    format!("Failed to {action} after {attempts} attempt(s)")
                }
                planner::Stop::MissingRollbackTarget => {
                    "missing target release for rollback: cannot remediate failed release".into()
                }
                planner::Stop::UnknownStatus(stored) => format!(
                    "release {}/{} has a status this controller does not handle ({stored:?})",
                    plan.storage_namespace, plan.release_name
                ),
            };
            let mut conditions = failed_conditions(
                &hr,
                &Failure::stalled("RetriesExceeded", &message),
                generation,
                now,
            );
            if let Some(ready) = hr.ready().filter(|c| c.status == "False") {
                conditions.mark_failed(&ready.reason, &ready.message, true, generation, now);
            }
            conditions.set(
                ConditionType::Stalled,
                ConditionStatus::True,
                "RetriesExceeded",
                &message,
                generation,
                now,
            );
            ctx.write_status(Kind::HelmRelease, &hr, &conditions, json!({}))
                .await?;
            return Ok(Action::AwaitChange);
        }
        Next::CorrectDrift => {
            let release = stored.as_ref().map(release_ref).unwrap_or_default();
            match actions(plan.upgrade)
                .correct_drift(&plan.release_name, &plan.target_namespace)
                .await
            {
                Ok(corrected) => {
                    let lines: Vec<String> = corrected.iter().map(ToString::to_string).collect();
                    let message = format!(
                        "Cluster state of release {release} has been corrected:\n{}",
                        lines.join("\n")
                    );
                    tracing::info!(object = %key, "{message}");
                    ctx.notifications
                        .announce(key, Severity::Info, "DriftCorrected", &message, None)
                        .await;
                    return Ok(ctx.after_interval(key, every));
                }
                Err(error) => {
                    let message = format!(
                        "Failed to correct the drift of release {release}: {}",
                        gitops_core::reconcile::error_chain(&error)
                    );
                    tracing::warn!(object = %key, "{message}");
                    let failure = Failure::retry("DriftCorrectionFailed", message);
                    return fail(ctx, key, &hr, failure, every).await;
                }
            }
        }
        Next::Test => {
            let release = stored.as_ref().map(release_ref).unwrap_or_default();
            match actions(plan.test)
                .test_with(
                    &plan.release_name,
                    &plan.target_namespace,
                    &plan.test_filter,
                )
                .await
            {
                Ok(tested) => {
                    let history = with_digest_of(&status.history, &tested);
                    let count = test_hooks(&tested)
                        .filter(|hook| plan.test_filter.keeps(&hook.name))
                        .count();
                    let message = format!(
                        "Helm test succeeded for release {release} with chart {chart_text}: {}",
                        if count == 0 {
                            "no test hooks".to_string()
                        } else {
                            format!("{count} test hook(s) completed successfully")
                        }
                    );
                    tracing::info!(object = %key, "{message}");
                    ctx.notifications
                        .announce(key, Severity::Info, "TestSucceeded", &message, None)
                        .await;
                    let mut conditions = Conditions::new();
                    carry_over(&mut conditions, &hr, |t| t != "TestSuccess", 0, now);
                    conditions.set(
                        ConditionType::Other("TestSuccess".into()),
                        ConditionStatus::True,
                        "TestSucceeded",
                        &message,
                        generation,
                        now,
                    );
                    ctx.write_status(
                        Kind::HelmRelease,
                        &hr,
                        &conditions,
                        json!({"history": history}),
                    )
                    .await?;
                    return Ok(Action::Requeue(Duration::ZERO));
                }
                Err(error) => {
                    let message = format!(
                        "Helm test failed for release {release} with chart {chart_text}: {}",
                        gitops_core::reconcile::error_chain(&error)
                    );
                    tracing::warn!(object = %key, "{message}");
                    let ignored = hr.spec.test.as_ref().is_some_and(|t| t.ignore_failures);
                    ctx.notifications
                        .announce(key, Severity::Error, "TestFailed", &message, None)
                        .await;
                    let replaced: &[&str] = if ignored {
                        &["TestSuccess"]
                    } else {
                        &["TestSuccess", "Ready", "Reconciling", "Stalled"]
                    };
                    let mut conditions = Conditions::new();
                    carry_over(&mut conditions, &hr, |t| !replaced.contains(&t), 0, now);
                    conditions.set(
                        ConditionType::Other("TestSuccess".into()),
                        ConditionStatus::False,
                        "TestFailed",
                        &message,
                        generation,
                        now,
                    );
                    if !ignored {
                        conditions.mark_failed("TestFailed", &message, false, generation, now);
                    }
                    // The test runs were recorded in the release: its digest moved with them.
                    let history = match storage.last(&plan.release_name).await {
                        Ok(record) => with_digest_of(&status.history, &record.release),
                        Err(_) => status.history.clone(),
                    };
                    ctx.write_status(
                        Kind::HelmRelease,
                        &hr,
                        &conditions,
                        json!({"history": history}),
                    )
                    .await?;
                    return Ok(ctx.after_interval(key, every));
                }
            }
        }
    };

    // 5. Status and event after an action.
    let latest = storage
        .last(&plan.release_name)
        .await
        .ok()
        .map(|r| r.release);
    let mut history = status.history.clone();
    if let Some(latest) = &latest {
        let digest = outcome.action.map(|_| config_digest.as_str());
        record_history(&mut history, latest, digest, plan.max_history);
    }
    let mut conditions = Conditions::new();
    let mut extra = json!({
        "history": history,
        "storageNamespace": plan.storage_namespace,
        "lastAttemptedRevision": version,
        "lastAttemptedRevisionDigest": oci_digest,
        "lastAttemptedConfigDigest": config_digest,
        "lastAttemptedGeneration": generation,
    });
    if let Some(action) = outcome.action {
        extra["lastAttemptedReleaseAction"] = json!(match action {
            AttemptedAction::Install => "install",
            AttemptedAction::Upgrade => "upgrade",
        });
    }
    let capital = capitalize(outcome.word);
    match outcome.result {
        Ok(release) if outcome.action.is_none() => {
            // A remediation (rollback or uninstall) succeeded: the spec is still not what runs,
            // so Ready stays False (as Flux has it) with Remediated saying what was done, the
            // failure counts stay, and the next pass comes at once to retry (or to stop when
            // the retries are used up).
            ctx.succeeded(key);
            let reason = format!("{capital}Succeeded");
            let message = match release.info.rollback_revision {
                target if outcome.word == "rollback" && target > 0 => format!(
                    "Helm rollback to previous release {}/{}.v{target} with chart {chart_text} succeeded",
                    release.namespace, release.name
                ),
                _ => format!(
                    "Helm {} succeeded for release {} with chart {chart_text}",
                    outcome.word,
                    release_ref(&release)
                ),
            };
            carry_over(&mut conditions, &hr, |t| t == "Released", generation, now);
            conditions.set(
                ConditionType::Other("Remediated".into()),
                ConditionStatus::True,
                &reason,
                &message,
                generation,
                now,
            );
            conditions.mark_failed(&reason, &message, false, generation, now);
            ctx.write_status(Kind::HelmRelease, &hr, &conditions, extra)
                .await?;
            tracing::info!(object = %key, %message, "remediated");
            ctx.notifications
                .announce(key, Severity::Info, &reason, &message, None)
                .await;
            Ok(Action::Requeue(Duration::ZERO))
        }
        Ok(release) => {
            ctx.succeeded(key);
            let reason = format!("{capital}Succeeded");
            let message = format!(
                "Helm {} succeeded for release {} with chart {chart_text}",
                outcome.word,
                release_ref(&release)
            );
            conditions.set(
                ConditionType::Other("Released".into()),
                ConditionStatus::True,
                &reason,
                &message,
                generation,
                now,
            );
            conditions.mark_ready(&reason, &message, generation, now);
            extra["failures"] = json!(0);
            extra["installFailures"] = json!(0);
            extra["upgradeFailures"] = json!(0);
            ctx.write_status(Kind::HelmRelease, &hr, &conditions, extra)
                .await?;
            tracing::info!(object = %key, %message, "released");
            crate::wakes::wake_dependents(ctx, key);
            ctx.notifications
                .announce(key, Severity::Info, &reason, &message, None)
                .await;
            Ok(ctx.after_interval(key, every))
        }
        Err(error) => {
            let reason = format!("{capital}Failed");
            let message = format!(
                "Helm {} failed for release {}/{} with chart {chart_text}: {}",
                outcome.word,
                plan.target_namespace,
                plan.release_name,
                gitops_core::reconcile::error_chain(&error)
            );
            conditions.set(
                ConditionType::Other("Released".into()),
                ConditionStatus::False,
                &reason,
                &message,
                generation,
                now,
            );
            conditions.mark_failed(&reason, &message, false, generation, now);
            carry_over(&mut conditions, &hr, |t| t == "Remediated", generation, now);
            let failures = if fresh {
                0
            } else {
                status.failures.unwrap_or(0)
            };
            extra["failures"] = json!(failures + 1);
            extra["installFailures"] = json!(
                install_failures + i64::from(outcome.action == Some(AttemptedAction::Install))
            );
            extra["upgradeFailures"] = json!(
                upgrade_failures + i64::from(outcome.action == Some(AttemptedAction::Upgrade))
            );
            ctx.write_status(Kind::HelmRelease, &hr, &conditions, extra)
                .await?;
            tracing::warn!(object = %key, %message, "release failed");
            ctx.notifications
                .announce(key, Severity::Error, &reason, &message, None)
                .await;
            Ok(Action::Requeue(ctx.backoff(key, every)))
        }
    }
}

/// The result of an action.
struct Done {
    /// Install or upgrade (which `lastAttemptedReleaseAction` records), else `None`.
    action: Option<AttemptedAction>,
    /// `install`, `upgrade`, `rollback`, `uninstall`, as Flux's messages word it.
    word: &'static str,
    result: Result<Release, gitops_helm::release::Error>,
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The `Ready` reason and message of an in-sync release: those of the last action, kept.
fn in_sync_message(hr: &HelmRelease) -> (String, String) {
    let released = hr
        .conditions()
        .iter()
        .find(|c| c.type_ == "Released" && c.status == "True");
    match released {
        Some(c) => (c.reason.clone(), c.message.clone()),
        None => (
            "ReconciliationSucceeded".into(),
            "release in-sync with desired state".into(),
        ),
    }
}

/// Adds the object's stored conditions whose type `keep` accepts to `conditions`, to be
/// written again beside new ones (a status write replaces the whole list). A condition without
/// an observed generation takes `generation`.
fn carry_over(
    conditions: &mut Conditions,
    hr: &HelmRelease,
    keep: impl Fn(&str) -> bool,
    generation: i64,
    now: SystemTime,
) {
    for c in hr.conditions().iter().filter(|c| keep(c.type_.as_str())) {
        let type_ = match c.type_.as_str() {
            "Ready" => ConditionType::Ready,
            "Reconciling" => ConditionType::Reconciling,
            "Stalled" => ConditionType::Stalled,
            "Healthy" => ConditionType::Healthy,
            other => ConditionType::Other(other.to_string()),
        };
        let status = match c.status.as_str() {
            "True" => ConditionStatus::True,
            "False" => ConditionStatus::False,
            _ => ConditionStatus::Unknown,
        };
        let observed = c.observed_generation.unwrap_or(generation);
        conditions.set(type_, status, &c.reason, &c.message, observed, now);
    }
}

/// `history` with the snapshot of `release`'s revision carrying its current digest: running
/// tests records them in the release, and the object must still know it as its own.
fn with_digest_of(history: &[Snapshot], release: &Release) -> Vec<Snapshot> {
    let mut history = history.to_vec();
    for snapshot in history
        .iter_mut()
        .filter(|s| s.version == i64::from(release.version) && s.name == release.name)
    {
        snapshot.digest = release_digest(release);
    }
    history
}

/// The `test` hooks of a release.
fn test_hooks(release: &Release) -> impl Iterator<Item = &gitops_helm::release::Hook> {
    release
        .hooks
        .iter()
        .filter(|h| h.events.iter().any(|e| e == "test" || e == "test-success"))
}

/// One line per drifted object: `Kind/ns/name` and what differs.
fn drift_lines(drifts: &[gitops_core::apply::Drift]) -> String {
    drifts
        .iter()
        .map(|drift| match drift {
            gitops_core::apply::Drift::Missing(id) => format!("{id} missing"),
            gitops_core::apply::Drift::Changed { id, fields } => {
                let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
                format!("{id} changed: {}", paths.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The planner's observation of the stored release and the object's status.
fn observe(
    hr: &HelmRelease,
    stored: Option<&Release>,
    history: &[Snapshot],
    chart: &(String, String),
    config_digest: &str,
    (install_failures, upgrade_failures): (i64, i64),
    filter: &TestFilter,
) -> Observation {
    let status = hr.status.clone().unwrap_or_default();
    let latest = history.first();
    let remediation = |r: Option<&gitops_flux::api::Remediation>| planner::Remediation {
        retries: r.and_then(|r| r.retries).unwrap_or(0),
        ignore_test_failures: r.and_then(|r| r.ignore_test_failures),
        remediate_last_failure: r.and_then(|r| r.remediate_last_failure),
        strategy: match r.and_then(|r| r.strategy.as_deref()) {
            Some("uninstall") => planner::Strategy::Uninstall,
            _ => planner::Strategy::Rollback,
        },
    };
    let spec = &hr.spec;
    Observation {
        stored: stored.map(|r| StoredStatus::parse(r.info.status.as_str())),
        has_history: !history.is_empty(),
        history_matches_storage: match (latest, stored) {
            (Some(snapshot), Some(release)) => {
                snapshot.version == i64::from(release.version)
                    && snapshot.name == release.name
                    && snapshot.digest == release_digest(release)
            }
            _ => false,
        },
        chart_changed: latest
            .is_some_and(|s| s.chart_name != chart.0 || s.chart_version != chart.1),
        values_changed: latest.is_some_and(|s| s.config_digest != config_digest),
        install_remediation: remediation(
            spec.install.as_ref().and_then(|i| i.remediation.as_ref()),
        ),
        upgrade_remediation: remediation(
            spec.upgrade.as_ref().and_then(|u| u.remediation.as_ref()),
        ),
        install_failures,
        upgrade_failures,
        test_enabled: spec.test.as_ref().is_some_and(|t| t.enable),
        test_ignore_failures: spec.test.as_ref().is_some_and(|t| t.ignore_failures),
        // Read from the release's own hook records: tested once every test hook `test.filters`
        // keeps has run (a chart without tests counts as tested), failed when one of them
        // failed.
        tested: stored.is_some_and(|r| {
            test_hooks(r)
                .filter(|h| filter.keeps(&h.name))
                .all(|h| h.last_run.started_at.is_some())
        }),
        test_failed: stored.is_some_and(|r| {
            test_hooks(r)
                .filter(|h| filter.keeps(&h.name))
                .any(|h| h.last_run.phase == "Failed")
        }),
        drift_mode: match spec
            .drift_detection
            .as_ref()
            .and_then(|d| d.mode.as_deref())
        {
            Some("enabled") => planner::DriftMode::Enabled,
            Some("warn") => planner::DriftMode::Warn,
            _ => planner::DriftMode::Disabled,
        },
        last_attempted: match status.last_attempted_release_action.as_deref() {
            Some("install") => Some(AttemptedAction::Install),
            Some("upgrade") => Some(AttemptedAction::Upgrade),
            _ => None,
        },
        ..Observation::default()
    }
}

/// Records `release` in `history`: a revision already there has its status updated (an
/// action that failed before writing a revision changes nothing else); a new one goes first,
/// its config digest `config_digest` when it holds the values this pass composed (an install
/// or upgrade), else that of its own values. Earlier `deployed` entries become `superseded`
/// when it is deployed; `max` entries are kept (0: all).
fn record_history(
    history: &mut Vec<Snapshot>,
    release: &Release,
    config_digest: Option<&str>,
    max: usize,
) {
    let version = i64::from(release.version);
    let status = release.info.status.as_str();
    if let Some(known) = history
        .iter_mut()
        .find(|s| s.version == version && s.name == release.name)
    {
        known.status = status.to_string();
        return;
    }
    if status == "deployed" {
        for earlier in history.iter_mut().filter(|s| s.status == "deployed") {
            earlier.status = "superseded".into();
        }
    }
    let digest = config_digest.map_or_else(
        || digest_of(&Value::Object(release.config.clone())),
        str::to_string,
    );
    history.insert(0, snapshot(release, &digest));
    if max > 0 {
        history.truncate(max);
    }
}

/// The `status.history` entry of `release`.
fn snapshot(release: &Release, config_digest: &str) -> Snapshot {
    let chart = release.chart.as_ref();
    Snapshot {
        api_version: Some("v2".into()),
        digest: release_digest(release),
        name: release.name.clone(),
        namespace: release.namespace.clone(),
        version: i64::from(release.version),
        status: release.info.status.as_str().to_string(),
        chart_name: chart.map(|c| c.name().to_string()).unwrap_or_default(),
        chart_version: chart.map(|c| c.version().to_string()).unwrap_or_default(),
        app_version: chart
            .map(|c| c.app_version().to_string())
            .filter(|v| !v.is_empty()),
        config_digest: config_digest.to_string(),
        first_deployed: release.info.first_deployed.clone().unwrap_or_default(),
        last_deployed: release.info.last_deployed.clone().unwrap_or_default(),
        deleted: release.info.deleted.clone(),
        ..Snapshot::default()
    }
}

/// The digest of a release record (its JSON with sorted keys), as the snapshot records it.
fn release_digest(release: &Release) -> String {
    serde_json::to_value(release).map_or_else(|_| String::new(), |v| digest_of(&v))
}

/// `sha256:<hex>` of `value`'s JSON with every object's keys sorted (Go's encoding of a map).
pub(crate) fn digest_of(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                let mut out = Map::new();
                for (k, v) in ordered {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let text = serde_json::to_vec(&sorted(value)).unwrap_or_default();
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&text)))
}

/// The values written to a temporary file, for the actions to read as `-f`.
fn values_file(values: &Map<String, Value>) -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("helmrelease-values-")
        .suffix(".yaml")
        .tempfile()?;
    serde_json::to_writer(&mut file, values).map_err(std::io::Error::other)?;
    std::io::Write::flush(&mut file)?;
    Ok(file)
}

/// The client acting as the spec's ServiceAccount (or `--default-service-account`), else
/// the controller's.
fn client_for(ctx: &Ctx, hr: &HelmRelease) -> anyhow::Result<kube::Client> {
    let account = hr
        .spec
        .service_account_name
        .as_deref()
        .or(ctx.default_service_account.as_deref());
    let Some(name) = account else {
        return Ok(ctx.client.clone());
    };
    let namespace = hr.metadata.namespace.as_deref().unwrap_or_default();
    let account = gitops_kube::ServiceAccount::new(namespace, name);
    let (config, options) = &ctx.connection;
    let options = options.clone().with_impersonate(account.clone());
    gitops_kube::connect::client_from_config(config.clone(), &options)
        .map_err(|e| anyhow::anyhow!("connecting as {}: {e:#}", account.user_name()))
}

/// The finalizer that holds a deleted HelmRelease until its release is uninstalled (Flux's
/// name).
const FINALIZER: &str = "finalizers.fluxcd.io";

/// A deleted HelmRelease: uninstall the release it recorded (unless it is suspended, as in
/// Flux), then let it go. Only the release named by its own `status.history` is touched: a
/// release of the same name that this object never installed stays.
async fn finalize(ctx: &Ctx, key: &Key, hr: &HelmRelease) -> anyhow::Result<Action> {
    let finalizers = hr.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::AwaitChange);
    }
    let recorded = hr.status.as_ref().and_then(|s| s.history.first());
    if let (false, Some(snapshot)) = (hr.spec.suspend, recorded) {
        let uninstall = hr.spec.uninstall.clone().unwrap_or_default();
        // The spec's timeouts when it still reads; Flux's defaults otherwise.
        let timeout = plan(hr, key).map_or(Duration::from_secs(300), |p| p.uninstall.timeout);
        // The records are where the last pass kept them.
        let storage_namespace = hr
            .status
            .as_ref()
            .and_then(|s| s.storage_namespace.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| snapshot.namespace.clone());
        let mut options = ActionOptions::default()
            .with_storage_namespace(storage_namespace)
            .with_hook_timeout(timeout)
            .with_no_hooks(uninstall.disable_hooks);
        if !uninstall.disable_wait {
            options = options.with_wait(timeout);
        }
        let outcome = match client_for(ctx, hr) {
            Ok(client) => Actions::new(client, options)
                .uninstall(&snapshot.name, &snapshot.namespace, uninstall.keep_history)
                .await
                .map(drop)
                .or_else(|error| match error {
                    // Already gone (uninstalled by hand): nothing left to do.
                    gitops_helm::release::Error::Storage(
                        gitops_helm::release::storage::Error::NotFound { .. },
                    ) => Ok(()),
                    error => Err(anyhow::Error::new(error)),
                }),
            Err(error) => Err(error),
        };
        let release = format!("{}/{}", snapshot.namespace, snapshot.name);
        match outcome {
            Ok(()) => {
                tracing::info!(object = %key, %release, "deleted: release uninstalled");
                ctx.notifications
                    .announce(
                        key,
                        Severity::Info,
                        "UninstallSucceeded",
                        &format!("Helm uninstall succeeded for release {release}"),
                        None,
                    )
                    .await;
            }
            Err(error) => {
                let message = format!(
                    "Helm uninstall failed for release {release}: {}",
                    gitops_core::reconcile::error_chain(error.as_ref())
                );
                tracing::warn!(object = %key, "{message}");
                ctx.notifications
                    .announce(key, Severity::Error, "UninstallFailed", &message, None)
                    .await;
                return Ok(Action::Requeue(ctx.backoff(key, Duration::from_secs(60))));
            }
        }
    }
    let rest = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
    ctx.set_finalizers::<HelmRelease>(key, rest).await?;
    Ok(Action::AwaitChange)
}

/// Flux's kustomize post-renderers, in order: the manifest becomes the only resource of a
/// kustomization with each renderer's `patches` and `images`, built by gitops-kustomize.
fn post_render(manifest: &str, renderers: &[Value]) -> Result<String, String> {
    let mut text = manifest.to_string();
    for (i, renderer) in renderers.iter().enumerate() {
        let dir = tempfile::tempdir().map_err(|e| format!("post-renderer {i}: {e}"))?;
        std::fs::write(dir.path().join("helm-output.yaml"), &text)
            .map_err(|e| format!("post-renderer {i}: {e}"))?;
        let mut kustomization = json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["helm-output.yaml"],
        });
        for key in ["patches", "images"] {
            if let Some(value) = renderer.get(key) {
                kustomization[key] = value.clone();
            }
        }
        // JSON is YAML: kustomize reads it as written.
        std::fs::write(
            dir.path().join("kustomization.yaml"),
            kustomization.to_string(),
        )
        .map_err(|e| format!("post-renderer {i}: {e}"))?;
        let options = gitops_kustomize::BuildOptions::default();
        let built = gitops_kustomize::build(dir.path(), &options)
            .map_err(|e| format!("post-renderer {i}: {e}"))?;
        text = gitops_kustomize::to_yaml(&built);
    }
    Ok(text)
}

/// `chart.spec.valuesFiles`: the chart's default values become these files of the chart,
/// merged in order (a later one wins), as Flux's HelmChart builds them; `values.yaml` counts
/// only when listed. Returns the merged defaults when there are such files. A missing file is
/// an error unless `ignoreMissingValuesFiles`.
fn apply_values_files(chart: &mut Chart, hr: &HelmRelease) -> Result<Option<Value>, Failure> {
    let Some(spec) = hr.spec.chart.as_ref().map(|c| &c.spec) else {
        return Ok(None);
    };
    if spec.values_files.is_empty() {
        return Ok(None);
    }
    let invalid = |message: String| Failure::stalled("ArtifactFailed", message);
    let mut merged = Map::new();
    for wanted in &spec.values_files {
        let name = wanted.trim_start_matches("./");
        let text = if name == "values.yaml" {
            // Loaded and parsed already as the chart's own defaults.
            Some(chart.values.clone())
        } else {
            match chart.files.iter().find(|f| f.name == name) {
                Some(file) => {
                    let bytes = file
                        .bytes(chart.name())
                        .map_err(|e| invalid(format!("values file {wanted:?}: {e}")))?;
                    let values = gitops_helm::values::parse_values(name, bytes)
                        .map_err(|e| invalid(format!("values file {wanted:?}: {e}")))?;
                    Some(values)
                }
                None => None,
            }
        };
        match text {
            Some(values) => gitops_helm::values::merge_maps(&mut merged, values),
            None if spec.ignore_missing_values_files => {}
            None => {
                return Err(invalid(format!(
                    "values file {wanted:?} not found in chart {}",
                    chart.name()
                )));
            }
        }
    }
    chart.values = merged.clone();
    Ok(Some(Value::Object(merged)))
}

/// Creates `namespace` unless it exists (`install.createNamespace`).
async fn create_namespace(client: &kube::Client, namespace: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let wanted = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(namespace.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    match namespaces.create(&Default::default(), &wanted).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(anyhow::anyhow!("creating namespace {namespace}: {error}")),
    }
}

/// The options of one action, as its `step` of the spec asks.
fn action_options(plan: &Plan, step: Step) -> ActionOptions {
    // Git is the source of truth: fields edited by hand are taken back, as Flux's upgrades do.
    let mut options = ActionOptions::default().with_force_conflicts(true);
    if !plan.post_renderers.is_empty() {
        let renderers = plan.post_renderers.clone();
        options = options.with_post_renderer(PostRenderer(Arc::new(move |manifest: &str| {
            post_render(manifest, &renderers)
        })));
    }
    if !plan.drift_ignore.is_empty() {
        let rules = plan.drift_ignore.clone();
        options = options.with_ignored_fields(IgnoredFields(Arc::new(move |id| {
            rules
                .iter()
                .filter(|rule| rule.matches(id))
                .flat_map(|rule| rule.paths.iter().cloned())
                .collect()
        })));
    }
    let options = options
        .with_storage_namespace(&plan.storage_namespace)
        .with_crds(plan.crds.0, plan.crds.1)
        .with_max_history(plan.max_history)
        .with_hook_timeout(step.timeout)
        .with_no_hooks(!step.hooks);
    if step.wait {
        options.with_wait(step.timeout)
    } else {
        options
    }
}

/// The values of `hr` as Flux composes them: each `valuesFrom` reference in order, then
/// `spec.values` merged over the result.
async fn compose_values(
    ctx: &Ctx,
    namespace: &str,
    hr: &HelmRelease,
) -> Result<Map<String, Value>, String> {
    let mut result = Map::new();
    for reference in &hr.spec.values_from {
        let Some(text) = read_reference(ctx, namespace, reference).await? else {
            continue;
        };
        apply_reference(&mut result, reference, namespace, &text)?;
    }
    match &hr.spec.values {
        None | Some(Value::Null) => {}
        Some(Value::Object(values)) => gitops_helm::values::merge_maps(&mut result, values.clone()),
        Some(_) => return Err("spec.values is not a mapping".into()),
    }
    Ok(result)
}

/// Merges (or, with `targetPath`, sets) one reference's text into `result`.
fn apply_reference(
    result: &mut Map<String, Value>,
    reference: &ValuesReference,
    namespace: &str,
    text: &str,
) -> Result<(), String> {
    let key = reference.values_key.as_deref().unwrap_or("values.yaml");
    let what = format!("{} '{namespace}/{}'", reference.kind, reference.name);
    match reference.target_path.as_deref().filter(|p| !p.is_empty()) {
        Some(path) => gitops_helm::values::parse_set(
            &format!("{path}={text}"),
            result,
            gitops_helm::values::SetKind::Typed,
        )
        .map_err(|e| {
            format!("unable to replace value at path '{path}' with key '{key}' from {what}: {e}")
        }),
        None => {
            let values = gitops_helm::values::parse_values(key, text.as_bytes())
                .map_err(|e| format!("unable to read values from key '{key}' in {what}: {e}"))?;
            gitops_helm::values::merge_maps(result, values);
            Ok(())
        }
    }
}

/// The text under the reference's key; `None` for a missing optional one.
async fn read_reference(
    ctx: &Ctx,
    namespace: &str,
    reference: &ValuesReference,
) -> Result<Option<String>, String> {
    let key = reference.values_key.as_deref().unwrap_or("values.yaml");
    let what = format!("{} '{namespace}/{}'", reference.kind, reference.name);
    let data: Option<BTreeMap<String, Vec<u8>>> = match reference.kind.as_str() {
        "ConfigMap" => Api::<ConfigMap>::namespaced(ctx.client.clone(), namespace)
            .get_opt(&reference.name)
            .await
            .map_err(|e| format!("reading {what}: {e}"))?
            .map(|cm| {
                let mut data: BTreeMap<String, Vec<u8>> = cm
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                for (k, v) in cm.binary_data.unwrap_or_default() {
                    data.insert(k, v.0);
                }
                data
            }),
        "Secret" => Api::<Secret>::namespaced(ctx.client.clone(), namespace)
            .get_opt(&reference.name)
            .await
            .map_err(|e| format!("reading {what}: {e}"))?
            .map(|secret| {
                let mut data: BTreeMap<String, Vec<u8>> = secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                for (k, v) in secret.string_data.unwrap_or_default() {
                    data.insert(k, v.into_bytes());
                }
                data
            }),
        other => return Err(format!("unsupported ValuesReference kind '{other}'")),
    };
    let Some(data) = data else {
        return if reference.optional {
            Ok(None)
        } else {
            Err(format!("could not find {what}"))
        };
    };
    match data.get(key) {
        Some(bytes) => String::from_utf8(bytes.clone())
            .map(Some)
            .map_err(|_| format!("key '{key}' in {what} is not UTF-8")),
        None if reference.optional => Ok(None),
        None => Err(format!("missing key '{key}' in {what}")),
    }
}

/// A failed pass: status, an error event, and a backoff capped at the interval.
async fn fail(
    ctx: &Ctx,
    key: &Key,
    hr: &HelmRelease,
    failure: Failure,
    every: Duration,
) -> anyhow::Result<Action> {
    report(ctx, key, hr, &failure).await?;
    Ok(Action::Requeue(ctx.backoff(key, every)))
}

/// Records a failure: the object's status (keeping `Released`, which says what the release
/// last did) and an error event.
async fn report(ctx: &Ctx, key: &Key, hr: &HelmRelease, failure: &Failure) -> anyhow::Result<()> {
    let generation = hr.metadata.generation.unwrap_or_default();
    let conditions = failed_conditions(hr, failure, generation, SystemTime::now());
    ctx.write_status(Kind::HelmRelease, hr, &conditions, json!({}))
        .await?;
    ctx.notifications
        .announce(
            key,
            Severity::Error,
            &failure.reason,
            &failure.message,
            None,
        )
        .await;
    Ok(())
}

/// `Ready=False` (and `Stalled` or `Reconciling`) for `failure`, with the stored `Released`
/// and `Remediated` conditions carried over: a pass that stops before acting does not change
/// what the release last did.
fn failed_conditions(
    hr: &HelmRelease,
    failure: &Failure,
    generation: i64,
    now: SystemTime,
) -> Conditions {
    let mut conditions = Conditions::new();
    conditions.mark_failed(
        &failure.reason,
        &failure.message,
        failure.stalled,
        generation,
        now,
    );
    // What the release last did, and a remediation since, stay until a release succeeds.
    carry_over(
        &mut conditions,
        hr,
        |t| t == "Released" || t == "Remediated",
        generation,
        now,
    );
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hr(spec: Value) -> HelmRelease {
        serde_json::from_value(json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "apps", "generation": 1},
            "spec": spec
        }))
        .expect("a valid HelmRelease")
    }

    fn chart_spec() -> Value {
        json!({"chart": "demo", "version": "1.x", "sourceRef": {"kind": "HelmRepository", "name": "charts"}})
    }

    #[test]
    fn drift_ignore_rules_select_their_objects_and_refuse_what_they_cannot_honour() {
        let rules: Vec<Value> = vec![
            json!({"paths": ["/spec/replicas"], "target": {"kind": "Deployment", "name": "web-.*"}}),
            json!({"paths": ["/metadata/annotations"]}),
        ];
        let parsed: Vec<IgnoreRule> = rules
            .iter()
            .enumerate()
            .map(IgnoreRule::parse)
            .collect::<Result<_, _>>()
            .expect("valid rules");
        let id = |kind: &str, name: &str| {
            gitops_core::ObjectRef::new("apps", "v1", kind, Some("apps"), name)
        };
        assert!(parsed[0].matches(&id("Deployment", "web-api")));
        assert!(!parsed[0].matches(&id("Deployment", "api-web-x")));
        assert!(!parsed[0].matches(&id("StatefulSet", "web-api")));
        assert!(parsed[1].matches(&id("ConfigMap", "anything")));
        for (bad, wanted) in [
            (json!({"paths": []}), "[0].paths"),
            (json!({"paths": ["spec"]}), "[0].paths"),
            (
                json!({"paths": ["/a"], "target": {"name": "("}}),
                "[0].target.name",
            ),
            (
                json!({"paths": ["/a"], "target": {"labelSelector": "a=b"}}),
                "[0].target.labelSelector",
            ),
        ] {
            let why = IgnoreRule::parse((0, &bad)).expect_err("refused");
            assert!(why.starts_with(wanted), "{why}");
        }
    }

    #[test]
    fn test_filters_choose_the_tests_to_run() {
        let filter = test_filter(Some(&json!([
            {"name": "web-check"}, {"name": "web-slow", "exclude": true}
        ])))
        .expect("valid filters");
        assert!(filter.keeps("web-check"));
        assert!(!filter.keeps("web-slow") && !filter.keeps("web-other"));
        let only_excluded =
            test_filter(Some(&json!([{"name": "web-slow", "exclude": true}]))).expect("valid");
        assert!(only_excluded.keeps("web-other") && !only_excluded.keeps("web-slow"));
        assert!(test_filter(None).expect("none").keeps("anything"));
        for bad in [
            json!({"name": "x"}),
            json!([{"exclude": true}]),
            json!([{"name": "x", "exclude": "yes"}]),
        ] {
            assert!(test_filter(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn release_names_follow_flux() {
        let key = Key::new(Kind::HelmRelease, "apps", "web");
        let plain = plan(
            &hr(json!({"interval": "5m", "chart": {"spec": chart_spec()}})),
            &key,
        )
        .unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(plain.release_name, "web");
        assert_eq!(plain.target_namespace, "apps");
        assert_eq!(plain.max_history, 5);
        assert_eq!(
            plain.origin.source(),
            &Key::new(Kind::HelmRepository, "apps", "charts")
        );
        let targeted = plan(
            &hr(
                json!({"interval": "5m", "targetNamespace": "prod", "storageNamespace": "prod",
                       "chart": {"spec": chart_spec()}}),
            ),
            &key,
        )
        .unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(targeted.release_name, "prod-web");
        let long = shorten(&"x".repeat(60));
        assert_eq!(long.len(), 53);
        assert!(long.starts_with(&"x".repeat(40)));
        let split = plan(
            &hr(
                json!({"interval": "5m", "targetNamespace": "prod", "chart": {"spec": chart_spec()}}),
            ),
            &key,
        );
        let split = split.unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(
            (
                split.target_namespace.as_str(),
                split.storage_namespace.as_str()
            ),
            ("prod", "apps"),
            "the records stay in the object's namespace unless storageNamespace says otherwise"
        );
        let steps = plan(
            &hr(
                json!({"interval": "5m", "timeout": "2m", "chart": {"spec": chart_spec()},
                       "install": {"disableWait": true, "timeout": "1m"},
                       "upgrade": {"disableHooks": true}}),
            ),
            &key,
        )
        .unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(
            (
                steps.install.timeout,
                steps.install.wait,
                steps.install.hooks
            ),
            (Duration::from_secs(60), false, true)
        );
        assert_eq!(
            (
                steps.upgrade.timeout,
                steps.upgrade.wait,
                steps.upgrade.hooks
            ),
            (Duration::from_secs(120), true, false)
        );
        let options = action_options(&steps, steps.install);
        assert_eq!(options.wait, None);
        assert_eq!(
            action_options(&steps, steps.upgrade).wait,
            Some(Duration::from_secs(120))
        );
        let bad = plan(
            &hr(json!({"interval": "5m", "chart": {"spec": chart_spec()},
                       "upgrade": {"timeout": "soon"}})),
            &key,
        );
        assert!(bad.is_err_and(|f| f.stalled && f.message.contains("upgrade.timeout")));
        let tested = plan(
            &hr(
                json!({"interval": "5m", "timeout": "2m", "chart": {"spec": chart_spec()},
                       "install": {"timeout": "1m"}, "test": {"enable": true}}),
            ),
            &key,
        )
        .unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(
            tested.test.timeout,
            Duration::from_secs(120),
            "spec.timeout"
        );
        let bad = plan(
            &hr(json!({"interval": "5m", "chart": {"spec": chart_spec()},
                       "test": {"timeout": "soon"}})),
            &key,
        );
        assert!(bad.is_err_and(|f| f.stalled && f.message.contains("test.timeout")));
    }

    #[test]
    fn crd_policies_and_namespace_creation_follow_flux() {
        let key = Key::new(Kind::HelmRelease, "apps", "web");
        let defaults = plan(
            &hr(json!({"interval": "5m", "chart": {"spec": chart_spec()}})),
            &key,
        )
        .unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(defaults.crds, (CrdPolicy::Create, CrdPolicy::Skip));
        assert!(!defaults.create_namespace);
        let set = plan(
            &hr(json!({"interval": "5m", "chart": {"spec": chart_spec()},
                       "install": {"crds": "Skip", "createNamespace": true},
                       "upgrade": {"crds": "CreateReplace"}})),
            &key,
        )
        .unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(set.crds, (CrdPolicy::Skip, CrdPolicy::CreateReplace));
        assert!(set.create_namespace);
        let options = action_options(&set, set.upgrade);
        assert_eq!(
            (options.install_crds, options.upgrade_crds),
            (CrdPolicy::Skip, CrdPolicy::CreateReplace)
        );
        let bad = plan(
            &hr(json!({"interval": "5m", "chart": {"spec": chart_spec()},
                       "upgrade": {"crds": "Replace"}})),
            &key,
        );
        assert!(bad.is_err_and(|f| f.stalled
            && f.message.contains("upgrade.crds")
            && f.message.contains("CreateReplace")));
    }

    #[test]
    fn values_files_replace_the_chart_defaults_merged_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        std::fs::create_dir_all(root.join("templates")).unwrap();
        std::fs::write(
            root.join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: 1.0.0\n",
        )
        .unwrap();
        std::fs::write(
            root.join("values.yaml"),
            "replicas: 1\nimage: {tag: a, pull: Always}\n",
        )
        .unwrap();
        std::fs::write(
            root.join("values-prod.yaml"),
            "replicas: 3\nimage: {tag: b}\n",
        )
        .unwrap();
        std::fs::write(root.join("values-only.yaml"), "only: true\n").unwrap();
        let load = || gitops_helm::chart::load(&root).unwrap();
        let with = |files: Value, ignore: bool| {
            let mut spec = chart_spec();
            spec["valuesFiles"] = files;
            spec["ignoreMissingValuesFiles"] = json!(ignore);
            hr(json!({"interval": "5m", "chart": {"spec": spec}}))
        };

        let mut chart = load();
        let none = apply_values_files(
            &mut chart,
            &hr(json!({"interval": "5m", "chart": {"spec": chart_spec()}})),
        );
        assert_eq!(none.unwrap(), None);
        assert_eq!(
            chart.values["replicas"], 1.0,
            "numbers are float64, as in Helm"
        );

        let mut chart = load();
        let merged = apply_values_files(
            &mut chart,
            &with(json!(["values.yaml", "values-prod.yaml"]), false),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            merged,
            json!({"replicas": 3.0, "image": {"tag": "b", "pull": "Always"}})
        );
        assert_eq!(Value::Object(chart.values.clone()), merged);

        let mut chart = load();
        apply_values_files(&mut chart, &with(json!(["values-only.yaml"]), false)).unwrap();
        assert_eq!(
            Value::Object(chart.values),
            json!({"only": true}),
            "values.yaml only when listed"
        );

        let mut chart = load();
        let missing = apply_values_files(&mut chart, &with(json!(["values-x.yaml"]), false));
        assert!(missing.is_err_and(|f| f.message.contains("values-x.yaml")));
        let mut chart = load();
        let skipped = apply_values_files(
            &mut chart,
            &with(json!(["values-x.yaml", "values-prod.yaml"]), true),
        );
        assert_eq!(skipped.unwrap().unwrap()["replicas"], 3.0);
    }

    #[test]
    fn values_from_merge_in_order_and_target_paths_set() {
        let mut result = Map::new();
        let reference = |target: Option<&str>| ValuesReference {
            kind: "ConfigMap".into(),
            name: "v".into(),
            values_key: None,
            target_path: target.map(str::to_string),
            optional: false,
        };
        apply_reference(
            &mut result,
            &reference(None),
            "ns",
            "a: 1\nb: {c: x, d: w}\n",
        )
        .expect("merged");
        apply_reference(&mut result, &reference(None), "ns", "b: {c: z}\n").expect("merged");
        apply_reference(&mut result, &reference(Some("e.f")), "ns", "true").expect("set");
        assert_eq!(
            Value::Object(result),
            // Numbers read as go-yaml v2 reads them for Helm: float64.
            json!({"a": 1.0, "b": {"c": "z", "d": "w"}, "e": {"f": true}})
        );
    }

    #[test]
    fn a_labelled_values_object_wakes_the_releases_naming_it() {
        let with = |ns: &str, name: &str, from: Value| {
            let mut hr =
                hr(json!({"interval": "5m", "chart": {"spec": chart_spec()}, "valuesFrom": from}));
            hr.metadata.namespace = Some(ns.into());
            hr.metadata.name = Some(name.into());
            Arc::new(hr)
        };
        let releases = [
            with("apps", "a", json!([{"kind": "Secret", "name": "s"}])),
            with("apps", "b", json!([{"kind": "ConfigMap", "name": "s"}])),
            with("other", "c", json!([{"kind": "Secret", "name": "s"}])),
        ];
        assert_eq!(
            referring(&releases, "Secret", "apps", "s"),
            [Key::new(Kind::HelmRelease, "apps", "a")]
        );
        assert!(referring(&releases, "Secret", "apps", "t").is_empty());
    }

    #[test]
    fn digests_ignore_key_order() {
        let a = json!({"a": 1, "b": {"c": 2, "d": 3}});
        let b = json!({"b": {"d": 3, "c": 2}, "a": 1});
        assert_eq!(digest_of(&a), digest_of(&b));
        assert_ne!(digest_of(&a), digest_of(&json!({"a": 2})));
        assert!(digest_of(&a).starts_with("sha256:"));
    }
}
