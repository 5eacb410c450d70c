//! Install, upgrade, rollback, uninstall, status and history of releases, recorded as Helm v4
//! records them ([`super::storage`]) and applied with `gitops-kube`'s server-side apply.
//!
//! # Steps of a write
//! Every write follows Helm: read the history (recovering a stale `pending-*` record, see
//! below), record the new revision as `pending-*`, apply, wait when asked, then record the
//! outcome (`deployed` and the previous one `superseded`, or `failed` with the error as its
//! description), and prune the history to [`ActionOptions::max_history`].
//!
//! # Crash safety
//! A writer that dies between recording `pending-*` and recording the outcome leaves the release
//! pending, and Helm itself then refuses every later action ("another operation is in
//! progress"). Here a pending record older than [`ActionOptions::pending_timeout`] (measured
//! from its Secret's `modifiedAt`/`createdAt`) is taken to have lost its writer: it is marked
//! `failed` with a description saying so, and the action goes on (an install replaces a
//! release that never deployed, an upgrade or rollback builds on the last deployed revision).
//! A younger pending record is [`Error::InProgress`], which is transient. Records are updated
//! with the `resourceVersion` read, so of two writers recovering the same record one wins.
//!
//! # Objects
//! Each object gets Helm's ownership marks (label `app.kubernetes.io/managed-by: Helm`,
//! annotations `meta.helm.sh/release-name` and `meta.helm.sh/release-namespace`), is applied
//! with the field manager `helm` (Helm's own, so `helm` and this module share field
//! ownership), and objects without a namespace go to the release's namespace. Objects that
//! left the manifest are deleted on upgrade and rollback, everything on uninstall, in reverse
//! order, except those annotated `helm.sh/resource-policy: keep` and those no longer marked
//! `managed-by: Helm`.
//!
//! # Hooks
//! `pre-`/`post-` `install`, `upgrade`, `rollback` and `delete` hooks run around the apply
//! (or the deletion) as [`super::hooks`] describes, unless [`ActionOptions::no_hooks`];
//! [`Actions::test`] runs the `test` hooks. A failing hook fails the revision.
//!
//! # Not supported yet
//! - Hook output logs (`helm.sh/hook-output-log-policy` is recorded, no logs are printed).
//! - `helm test --filter` and `--logs`: [`Actions::test`] runs every test hook.
//! - `NOTES.txt`: the top chart's is rendered into `info.notes`; subcharts' never are (Helm's
//!   `--render-subchart-notes` is not supported).
//! - Rendering: `.Release.Revision` is the new revision and `.Capabilities.KubeVersion` the
//!   server's (unless the options name one), as in Helm; but `.Capabilities.APIVersions` is
//!   the default list plus added ones, not the server's discovery.
//! - `lookup` reads the cluster ([`super::lookup`]) but, unlike Helm, only cluster-scoped
//!   objects and namespaced ones of the release namespace.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use gitops_core::apply::{self, ApplyOptions, Owner};
use gitops_core::{Applier, Object, ObjectRef};
use gitops_kube::{KubeApplier, KubeApplierOptions};
use serde_json::Value;

use super::hooks::{self, Hooks};
use super::lookup::ClusterLookup;
use super::model::{Info, Release, Status};
use super::render::{self, Rendered};
use super::storage::{self, Record, Storage};
use crate::{Chart, TemplateOptions};

/// Helm's ownership label (`app.kubernetes.io/managed-by`).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The release-name annotation Helm checks before adopting an object.
pub const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
/// The release-namespace annotation Helm checks before adopting an object.
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";
/// The annotation that keeps an object when Helm would delete it (`keep`).
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";
/// Helm's field manager (the base name of its binary).
pub const HELM_FIELD_MANAGER: &str = "helm";

/// Errors of release actions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the release records failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// The chart could not be rendered.
    #[error("release {name:?} in namespace {namespace}: rendering failed")]
    Render {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: crate::Error,
    },
    /// A stored or rendered manifest is not a list of Kubernetes objects.
    #[error("release {name:?} in namespace {namespace} revision {revision}: invalid manifest")]
    Manifest {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// The cause.
        #[source]
        source: gitops_core::object::Error,
    },
    /// The post-renderer refused the manifest.
    #[error("release {name:?} in namespace {namespace}: post-rendering failed: {message}")]
    PostRender {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// Why.
        message: String,
    },
    /// Applying, deleting or waiting failed; the revision is recorded `failed`.
    #[error("release {name:?} in namespace {namespace} revision {revision}: {operation} failed")]
    Apply {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// `apply`, `apply CRDs`, `delete`, `diff` or `wait`.
        operation: &'static str,
        /// The cause.
        #[source]
        source: apply::Error,
    },
    /// Objects did not become healthy in time; the revision is recorded `failed`.
    #[error(
        "release {name:?} in namespace {namespace} revision {revision}: not healthy: {message}"
    )]
    Unhealthy {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// The objects that are not ready, and why.
        message: String,
    },
    /// An install names a release that exists.
    #[error(
        "release {name:?} in namespace {namespace}: cannot install, the name is in use (revision {revision} is {status})"
    )]
    InUse {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// Its last revision.
        revision: u32,
        /// That revision's status.
        status: Status,
    },
    /// An upgrade or rollback names a release that has nothing to build on.
    #[error("release {name:?} in namespace {namespace}: has no deployed releases")]
    NotDeployed {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
    },
    /// Another action is under way (its record is pending and recent).
    #[error(
        "release {name:?} in namespace {namespace}: another operation is in progress (revision {revision} is {status} since {age_seconds} s)"
    )]
    InProgress {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The pending revision.
        revision: u32,
        /// Its status.
        status: Status,
        /// How long it has been pending.
        age_seconds: i64,
    },
    /// A hook failed; the revision is recorded `failed`.
    #[error(transparent)]
    Hook(#[from] hooks::Error),
    /// The render was cancelled before it finished (its runtime is shutting down).
    #[error("release {name:?} in namespace {namespace}: rendering was cancelled")]
    Cancelled {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
    },
}

impl Error {
    /// Whether retrying may help: another operation in progress, a conflict or an unreachable
    /// server, a timeout.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Storage(e) => e.is_transient(),
            Error::Apply { source, .. } => source.is_transient(),
            Error::Hook(e) => e.is_transient(),
            Error::InProgress { .. } | Error::Unhealthy { .. } | Error::Cancelled { .. } => true,
            _ => false,
        }
    }
}

/// How actions behave.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ActionOptions {
    /// The server-side apply field manager (default `helm`, Helm's own).
    pub field_manager: String,
    /// The most revisions kept per release, `0` for all (Helm's `--history-max`, default 10).
    pub max_history: usize,
    /// Wait this long for the applied objects to become healthy (Helm's `--wait --timeout`);
    /// `None` does not wait.
    pub wait: Option<Duration>,
    /// How old a `pending-*` record must be before its writer is taken to be gone.
    pub pending_timeout: Duration,
    /// Skip hooks (Helm's `--no-hooks`).
    pub no_hooks: bool,
    /// How long one hook may take to finish (Helm's `--timeout`, default 5 minutes). Keep it
    /// below [`Self::pending_timeout`]: a revision waiting on a hook is pending, and its record
    /// is rewritten only when a hook starts.
    pub hook_timeout: Duration,
    /// Whether templates' `lookup` reads the cluster, bounded to the release namespace
    /// ([`ClusterLookup`], default `true`, as `helm install` reads it); when `false`, the
    /// [`TemplateOptions::lookup`] given answers (none by default, as `helm template`).
    pub cluster_lookup: bool,
    /// Take over fields another field manager set, instead of failing on the conflict (Helm's
    /// `--force-conflicts`; default `false`, as `helm`). A controller that makes the cluster
    /// match Git sets it, as Flux's releases overwrite hand edits.
    pub force_conflicts: bool,
    /// Rewrites the rendered manifest before it is recorded and applied (Helm's
    /// `--post-renderer`, Flux's `postRenderers`); hooks are left as rendered.
    pub post_renderer: Option<PostRenderer>,
    /// Fields drift detection and correction leave alone (Flux's `driftDetection.ignore`).
    pub ignored_fields: Option<IgnoredFields>,
    /// What an install does with the CRDs of the chart's `crds/` folders (default
    /// [`CrdPolicy::Create`], as `helm install`).
    pub install_crds: CrdPolicy,
    /// What an upgrade does with them (default [`CrdPolicy::Skip`]: Helm never upgrades CRDs).
    pub upgrade_crds: CrdPolicy,
    /// Where the release records are kept when not in the release's namespace (Flux's
    /// `storageNamespace`; `helm` itself reads records only in the release's namespace).
    pub storage_namespace: Option<String>,
}

/// The fields of an object that drift detection and correction leave alone, as JSON pointers
/// (`/spec/replicas`; a pointer covers everything below it): neither reported as drift nor
/// applied back (Flux's `driftDetection.ignore`, for fields another controller manages).
#[derive(Clone)]
pub struct IgnoredFields(pub Arc<FieldsOf>);

/// The function an [`IgnoredFields`] runs: the JSON pointers ignored in one object.
pub type FieldsOf = dyn Fn(&ObjectRef) -> Vec<String> + Send + Sync;

impl std::fmt::Debug for IgnoredFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IgnoredFields")
    }
}

impl IgnoredFields {
    /// `drifts` without the fields ignored; an object left with no differing field is dropped
    /// (a missing object is always kept).
    fn filter(&self, drifts: Vec<apply::Drift>) -> Vec<apply::Drift> {
        drifts
            .into_iter()
            .filter_map(|drift| match drift {
                apply::Drift::Changed { id, mut fields } => {
                    let ignored = (self.0)(&id);
                    fields.retain(|field| !ignored.iter().any(|p| covers(p, &field.path)));
                    (!fields.is_empty()).then_some(apply::Drift::Changed { id, fields })
                }
                missing @ apply::Drift::Missing(_) => Some(missing),
            })
            .collect()
    }

    /// `object` without the fields ignored (as it is when the rule would remove what names
    /// it: `apiVersion`, `kind` or the name).
    fn strip(&self, object: Object) -> Object {
        let ignored = (self.0)(object.id());
        if ignored.is_empty() {
            return object;
        }
        let mut value = object.value().clone();
        for pointer in &ignored {
            remove_at(&mut value, pointer);
        }
        Object::new(value).unwrap_or(object)
    }
}

/// Whether the JSON pointer `ignored` is `path` or one of its parents.
fn covers(ignored: &str, path: &str) -> bool {
    let ignored = ignored.trim_end_matches('/');
    path == ignored
        || path
            .strip_prefix(ignored)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Removes what the JSON pointer `pointer` names from `value`, if it is there.
fn remove_at(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// A manifest rewrite run after rendering: the manifest's YAML documents in, the documents to
/// record and apply out, or why not.
#[derive(Clone)]
pub struct PostRenderer(pub Arc<RewriteManifest>);

/// The function a [`PostRenderer`] runs.
pub type RewriteManifest = dyn Fn(&str) -> Result<String, String> + Send + Sync;

impl std::fmt::Debug for PostRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostRenderer")
    }
}

/// Which test hooks [`Actions::test_with`] runs, by their object's name, as `helm test
/// --filter name=…,!name=…` and Flux's `test.filters` choose them: only those `include` names
/// when it names any, never those `exclude` names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestFilter {
    /// Run only these (every test when empty).
    pub include: Vec<String>,
    /// Never run these.
    pub exclude: Vec<String>,
}

impl TestFilter {
    /// Whether the test named `name` runs.
    pub fn keeps(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|n| n == name))
            && !self.exclude.iter().any(|n| n == name)
    }
}

/// What an action does with the CRDs of a chart's `crds/` folders, Flux's `install.crds` and
/// `upgrade.crds`. They are applied before the release's objects, waited for until the API
/// server serves them, never recorded in the manifest and never deleted (as in Helm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrdPolicy {
    /// Leave them alone.
    Skip,
    /// Create those that do not exist; leave existing ones as they are.
    #[default]
    Create,
    /// Create those that do not exist and replace existing ones with the chart's.
    CreateReplace,
}

impl Default for ActionOptions {
    fn default() -> Self {
        ActionOptions {
            field_manager: HELM_FIELD_MANAGER.into(),
            max_history: 10,
            wait: None,
            pending_timeout: Duration::from_secs(600),
            no_hooks: false,
            hook_timeout: Duration::from_secs(300),
            cluster_lookup: true,
            force_conflicts: false,
            post_renderer: None,
            install_crds: CrdPolicy::Create,
            upgrade_crds: CrdPolicy::Skip,
            storage_namespace: None,
            ignored_fields: None,
        }
    }
}

impl ActionOptions {
    /// Sets whether conflicts with other field managers are forced.
    pub fn with_force_conflicts(mut self, force: bool) -> Self {
        self.force_conflicts = force;
        self
    }

    /// Leaves the fields `ignored` names alone in [`Actions::drift`] and
    /// [`Actions::correct_drift`].
    pub fn with_ignored_fields(mut self, ignored: IgnoredFields) -> Self {
        self.ignored_fields = Some(ignored);
        self
    }

    /// Keeps the release records in `namespace` instead of the release's namespace.
    pub fn with_storage_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.storage_namespace = Some(namespace.into());
        self
    }

    /// Sets the post-renderer.
    pub fn with_post_renderer(mut self, post_renderer: PostRenderer) -> Self {
        self.post_renderer = Some(post_renderer);
        self
    }

    /// Sets what installs and upgrades do with the chart's CRDs.
    pub fn with_crds(mut self, install: CrdPolicy, upgrade: CrdPolicy) -> Self {
        self.install_crds = install;
        self.upgrade_crds = upgrade;
        self
    }

    /// Sets the field manager.
    pub fn with_field_manager(mut self, manager: impl Into<String>) -> Self {
        self.field_manager = manager.into();
        self
    }

    /// Sets the history limit (`0`: unlimited).
    pub fn with_max_history(mut self, max: usize) -> Self {
        self.max_history = max;
        self
    }

    /// Waits for health after applying, at most `timeout`.
    pub fn with_wait(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// Sets how old a pending record must be to be recovered.
    pub fn with_pending_timeout(mut self, timeout: Duration) -> Self {
        self.pending_timeout = timeout;
        self
    }

    /// Skips hooks.
    pub fn with_no_hooks(mut self, yes: bool) -> Self {
        self.no_hooks = yes;
        self
    }

    /// Sets how long one hook may take.
    pub fn with_hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    /// Sets whether `lookup` reads the cluster.
    pub fn with_cluster_lookup(mut self, yes: bool) -> Self {
        self.cluster_lookup = yes;
        self
    }
}

/// Release actions on one cluster.
///
/// ```no_run
/// # async fn example(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use gitops_helm::release::{ActionOptions, Actions};
/// use gitops_helm::{TemplateOptions, chart};
///
/// let actions = Actions::new(client, ActionOptions::default());
/// let chart = chart::load(std::path::Path::new("charts/web"))?;
/// let options = TemplateOptions::new("web").with_namespace("apps").with_set("replicas=2");
/// let release = actions.install(&chart, &options).await?;
/// assert_eq!(release.version, 1);
/// let release = actions.upgrade(&chart, &options.with_set("replicas=3")).await?;
/// assert_eq!(release.version, 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Actions {
    client: kube::Client,
    options: ActionOptions,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Which write a revision records.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Install,
    Upgrade,
    /// To this revision.
    Rollback(u32),
}

impl Kind {
    /// The hook event suffix (`pre-install`, `post-rollback`).
    fn event(self) -> &'static str {
        match self {
            Kind::Install => "install",
            Kind::Upgrade => "upgrade",
            Kind::Rollback(_) => "rollback",
        }
    }

    /// The first word of a failed revision's description, as Helm writes it
    /// (`Upgrade "web" failed: …`).
    fn failed(self) -> &'static str {
        match self {
            Kind::Install => "Release",
            Kind::Upgrade => "Upgrade",
            Kind::Rollback(_) => "Rollback",
        }
    }

    /// The description of a deployed revision, as Helm writes it.
    fn done(self) -> String {
        match self {
            Kind::Install => "Install complete".into(),
            Kind::Upgrade => "Upgrade complete".into(),
            Kind::Rollback(to) => format!("Rollback to {to}"),
        }
    }
}

/// What one write is doing, for error context.
struct Target<'a> {
    name: &'a str,
    namespace: &'a str,
    revision: u32,
}

impl Actions {
    /// Actions through `client`.
    pub fn new(client: kube::Client, options: ActionOptions) -> Self {
        Actions { client, options }
    }

    /// The client the actions use.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The options.
    pub fn options(&self) -> &ActionOptions {
        &self.options
    }

    /// The record storage of the releases of `namespace`: that namespace, or the options'
    /// [`ActionOptions::storage_namespace`] when set.
    pub fn storage(&self, namespace: &str) -> Storage {
        let namespace = self
            .options
            .storage_namespace
            .as_deref()
            .unwrap_or(namespace);
        Storage::new(self.client.clone(), namespace)
    }

    fn applier(&self, namespace: &str) -> KubeApplier {
        KubeApplier::with_options(
            self.client.clone(),
            KubeApplierOptions::default()
                .with_field_manager(self.options.field_manager.clone())
                .with_default_namespace(namespace),
        )
    }

    /// The owner labels every object of every release carries; a delete requires them.
    fn apply_options() -> ApplyOptions {
        ApplyOptions::default().with_owner(Owner::with_labels(BTreeMap::from([(
            MANAGED_BY_LABEL.to_owned(),
            "Helm".to_owned(),
        )])))
    }

    /// Installs `chart` as release `options.release_name` in `options.namespace`: revision 1,
    /// or the next one when every earlier revision failed or was uninstalled with its history
    /// kept (Helm's `--replace`).
    ///
    /// # Errors
    /// [`Error::InUse`] when the release exists, [`Error::InProgress`], rendering, storage and
    /// apply errors (the revision then recorded `failed`).
    pub async fn install(
        &self,
        chart: &Chart,
        options: &TemplateOptions,
    ) -> Result<Release, Error> {
        let (name, namespace) = (options.release_name.as_str(), options.namespace.as_str());
        let (storage, history) = self.begin(name, namespace).await?;
        if let Some(last) = history.last() {
            let status = last.release.info.status;
            if !matches!(status, Status::Failed | Status::Uninstalled) {
                return Err(Error::InUse {
                    name: name.into(),
                    namespace: namespace.into(),
                    revision: last.release.version,
                    status,
                });
            }
        }
        let revision = history.last().map_or(1, |r| r.release.version + 1);
        let rendered = self
            .render(chart, &options.clone().with_is_upgrade(false), revision)
            .await?;
        let target = Target {
            name,
            namespace,
            revision,
        };
        self.apply_crds(&target, &rendered.crds, self.options.install_crds)
            .await?;
        let release = new_release(
            name,
            namespace,
            revision,
            rendered,
            pending(
                Some(super::model::now()),
                Status::PendingInstall,
                "Initial install underway",
            ),
        );
        let record = storage.create(&release).await?;
        // Replacing a failed release: what its deployed revision applied and this one
        // does not is deleted, as an upgrade would.
        let old_manifest = current(&history)
            .map(|r| r.release.manifest.clone())
            .unwrap_or_default();
        self.finish(&storage, record, &history, &old_manifest, Kind::Install)
            .await
    }

    /// Upgrades release `options.release_name` to `chart`: a new revision on top of the last
    /// deployed one (or the last one, when none is deployed but one failed); objects that left
    /// the manifest are deleted.
    ///
    /// # Errors
    /// [`Storage`](storage::Error)'s `NotFound` when there is no release,
    /// [`Error::NotDeployed`] when it was uninstalled, else as [`Actions::install`].
    pub async fn upgrade(
        &self,
        chart: &Chart,
        options: &TemplateOptions,
    ) -> Result<Release, Error> {
        let (name, namespace) = (options.release_name.as_str(), options.namespace.as_str());
        let (storage, history) = self.begin(name, namespace).await?;
        let last = existing(&history, name, namespace)?;
        let current = current(&history).unwrap_or(last);
        let revision = last.release.version + 1;
        let rendered = self
            .render(chart, &options.clone().with_is_upgrade(true), revision)
            .await?;
        let target = Target {
            name,
            namespace,
            revision,
        };
        self.apply_crds(&target, &rendered.crds, self.options.upgrade_crds)
            .await?;
        let release = new_release(
            name,
            namespace,
            revision,
            rendered,
            pending(
                current.release.info.first_deployed.clone(),
                Status::PendingUpgrade,
                "Preparing upgrade",
            ),
        );
        let record = storage.create(&release).await?;
        let old_manifest = current.release.manifest.clone();
        self.finish(&storage, record, &history, &old_manifest, Kind::Upgrade)
            .await
    }

    /// Rolls release `name` back to `revision` (`None`: the one before the last, as `helm
    /// rollback` without a revision does, so after a failed upgrade the release it replaced):
    /// its stored manifest, chart and values become a new revision.
    ///
    /// # Errors
    /// Storage's `NotFound` for a missing release or revision, else as [`Actions::upgrade`].
    pub async fn rollback(
        &self,
        name: &str,
        namespace: &str,
        revision: Option<u32>,
    ) -> Result<Release, Error> {
        let (storage, history) = self.begin(name, namespace).await?;
        let last = existing(&history, name, namespace)?;
        let current = current(&history).unwrap_or(last);
        let wanted = revision.unwrap_or(last.release.version.saturating_sub(1));
        let target = history
            .iter()
            .find(|r| r.release.version == wanted)
            .ok_or_else(|| storage::Error::NotFound {
                name: name.into(),
                namespace: namespace.into(),
                revision: Some(wanted),
            })?;
        let mut release = target.release.clone();
        release.version = last.release.version + 1;
        release.apply_method = "ssa".into();
        release.info = Info {
            rollback_revision: wanted,
            notes: target.release.info.notes.clone(),
            ..pending(
                current.release.info.first_deployed.clone(),
                Status::PendingRollback,
                &format!("Rollback to {wanted}"),
            )
        };
        let record = storage.create(&release).await?;
        let old_manifest = current.release.manifest.clone();
        self.finish(
            &storage,
            record,
            &history,
            &old_manifest,
            Kind::Rollback(wanted),
        )
        .await
    }

    /// Uninstalls release `name`: deletes its objects in reverse order (keeping those marked
    /// `helm.sh/resource-policy: keep`), then deletes its records, or with `keep_history`
    /// records it `uninstalled`.
    ///
    /// # Errors
    /// Storage's `NotFound`, [`Error::NotDeployed`] when already uninstalled, delete errors.
    pub async fn uninstall(
        &self,
        name: &str,
        namespace: &str,
        keep_history: bool,
    ) -> Result<Release, Error> {
        let (storage, history) = self.begin(name, namespace).await?;
        let mut last = existing(&history, name, namespace)?.clone();
        last.release.info.status = Status::Uninstalling;
        last.release.info.deleted = Some(super::model::now());
        last.release.info.description = "Deletion in progress (or silently failed)".into();
        let mut last = storage.update(&last).await?;
        let applier = self.applier(namespace);
        if let Err(e) = self.delete_release(&applier, &storage, &mut last).await {
            // Left `uninstalling` with its hooks' runs: uninstalling again retries.
            storage.update(&last).await?;
            return Err(e);
        }
        if keep_history {
            last.release.info.status = Status::Uninstalled;
            last.release.info.description = "Uninstallation complete".into();
            let last = storage.update(&last).await?;
            return Ok(last.release);
        }
        for r in &history {
            storage.delete(name, r.release.version).await?;
        }
        let mut release = last.release;
        release.info.status = Status::Uninstalled;
        release.info.description = "Uninstallation complete".into();
        Ok(release)
    }

    /// The `pre-delete` hooks, the deletion of the objects (reverse order, kept ones left),
    /// the `post-delete` hooks.
    async fn delete_release(
        &self,
        applier: &KubeApplier,
        storage: &Storage,
        record: &mut Record,
    ) -> Result<(), Error> {
        let (name, namespace) = (
            record.release.name.clone(),
            record.release.namespace.clone(),
        );
        let target = Target {
            name: &name,
            namespace: &namespace,
            revision: record.release.version,
        };
        let hooks = self.hooks(applier, storage);
        if let Some(hooks) = &hooks {
            hooks.run(record, "pre-delete").await?;
        }
        let old = self.objects(&target, &record.release.manifest)?;
        let ids = self.deletable(applier, &target, &old, &[]).await?;
        applier
            .delete(&ids, &Self::apply_options())
            .await
            .map_err(|source| apply_error(&target, "delete", source))?;
        if let Some(hooks) = &hooks {
            hooks.run(record, "post-delete").await?;
        }
        Ok(())
    }

    /// Runs the `test` hooks of the last revision of `name`, whatever its status, as
    /// `helm test` does, and records their runs in it.
    ///
    /// # Errors
    /// Storage's `NotFound`, [`Error::NotDeployed`] when uninstalled, [`Error::Hook`] for the
    /// first test that fails (the runs so far recorded), storage errors.
    pub async fn test(&self, name: &str, namespace: &str) -> Result<Release, Error> {
        self.test_with(name, namespace, &TestFilter::default())
            .await
    }

    /// As [`Actions::test`], running only the tests `filter` keeps.
    ///
    /// # Errors
    /// As [`Actions::test`].
    pub async fn test_with(
        &self,
        name: &str,
        namespace: &str,
        filter: &TestFilter,
    ) -> Result<Release, Error> {
        let (storage, history) = self.begin(name, namespace).await?;
        let mut record = existing(&history, name, namespace)?.clone();
        let applier = self.applier(namespace);
        let hooks = Hooks {
            applier: &applier,
            storage: &storage,
            timeout: self.options.hook_timeout,
        };
        let outcome = hooks
            .run_selected(&mut record, "test", &|name| filter.keeps(name))
            .await;
        let record = storage.update(&record).await?;
        outcome?;
        Ok(record.release)
    }

    /// The last revision of release `name`, whatever its status (`helm status`).
    ///
    /// # Errors
    /// Storage's `NotFound`, decode and API errors.
    pub async fn status(&self, name: &str, namespace: &str) -> Result<Release, Error> {
        Ok(self.storage(namespace).last(name).await?.release)
    }

    /// How the cluster differs from release `name`'s last revision (Flux's drift detection):
    /// objects of its manifest that are missing, or whose fields the release manages were
    /// changed by someone else.
    ///
    /// # Errors
    /// Storage's `NotFound` when there is no release, manifest and API errors.
    pub async fn drift(&self, name: &str, namespace: &str) -> Result<Vec<apply::Drift>, Error> {
        let (target, objects) = self.last_objects(name, namespace).await?;
        let drifts = self
            .applier(namespace)
            .diff_with(&objects, &Self::apply_options())
            .await
            .map_err(|source| apply_error(&target, "diff", source))?;
        Ok(match &self.options.ignored_fields {
            Some(ignored) => ignored.filter(drifts),
            None => drifts,
        })
    }

    /// The objects of release `name`'s last revision, marked as its own.
    async fn last_objects<'a>(
        &self,
        name: &'a str,
        namespace: &'a str,
    ) -> Result<(Target<'a>, Vec<Object>), Error> {
        let release = self.status(name, namespace).await?;
        let target = Target {
            name,
            namespace,
            revision: release.version,
        };
        let objects = self.objects(&target, &release.manifest)?;
        Ok((target, objects))
    }

    /// Applies release `name`'s last revision again, without recording a new one (Flux's drift
    /// correction); returns the objects it created or changed back.
    ///
    /// # Errors
    /// As [`Actions::drift`].
    pub async fn correct_drift(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<Vec<ObjectRef>, Error> {
        let (target, mut objects) = self.last_objects(name, namespace).await?;
        if let Some(ignored) = &self.options.ignored_fields {
            objects = objects
                .into_iter()
                .map(|object| ignored.strip(object))
                .collect();
        }
        // Forced: a hand edit took the fields' ownership, and correcting it takes them back.
        let changes = self
            .applier(namespace)
            .apply(&objects, &Self::apply_options().with_force(true))
            .await
            .map_err(|source| apply_error(&target, "apply", source))?;
        Ok(changes
            .changes
            .into_iter()
            .filter(|c| c.action != gitops_core::Action::Unchanged)
            .map(|c| c.id)
            .collect())
    }

    /// Every revision of release `name`, oldest first (`helm history`).
    ///
    /// # Errors
    /// Storage's `NotFound` when there is none, decode and API errors.
    pub async fn history(&self, name: &str, namespace: &str) -> Result<Vec<Release>, Error> {
        let history = self.storage(namespace).history(name).await?;
        if history.is_empty() {
            return Err(storage::Error::NotFound {
                name: name.into(),
                namespace: namespace.into(),
                revision: None,
            }
            .into());
        }
        Ok(history.into_iter().map(|r| r.release).collect())
    }

    /// The last revision of every release in `namespace` not uninstalled (`helm list`), by name.
    ///
    /// # Errors
    /// Decode and API errors.
    pub async fn list(&self, namespace: &str) -> Result<Vec<Release>, Error> {
        let mut latest: BTreeMap<String, Release> = BTreeMap::new();
        for r in self.storage(namespace).all().await? {
            latest.insert(r.release.name.clone(), r.release);
        }
        Ok(latest
            .into_values()
            .filter(|r| r.info.status != Status::Uninstalled)
            .collect())
    }

    /// The storage of `namespace` and the history of `name`, recovered (the start of every
    /// write).
    async fn begin(&self, name: &str, namespace: &str) -> Result<(Storage, Vec<Record>), Error> {
        let storage = self.storage(namespace);
        let history = self.recover(&storage, name).await?;
        Ok((storage, history))
    }

    /// The history of `name`, after marking a stale `pending-*` last revision `failed`.
    async fn recover(&self, storage: &Storage, name: &str) -> Result<Vec<Record>, Error> {
        let mut history = storage.history(name).await?;
        let Some(last) = history.last_mut() else {
            return Ok(history);
        };
        let status = last.release.info.status;
        if !status.is_pending() {
            return Ok(history);
        }
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let age = last.written_at.map_or(i64::MAX, |t| now.saturating_sub(t));
        let limit = i64::try_from(self.options.pending_timeout.as_secs()).unwrap_or(i64::MAX);
        if age < limit {
            return Err(Error::InProgress {
                name: name.into(),
                namespace: storage.namespace().into(),
                revision: last.release.version,
                status,
                age_seconds: age,
            });
        }
        last.release.info.status = Status::Failed;
        last.release.info.description = format!(
            "{status} interrupted: no writer finished it within {} s; marked failed so that the release can move on",
            self.options.pending_timeout.as_secs()
        );
        *last = storage.update(last).await?;
        Ok(history)
    }

    /// Renders as revision `revision`, for the cluster's Kubernetes version unless `options`
    /// name one (as `helm install` asks the server).
    async fn render(
        &self,
        chart: &Chart,
        options: &TemplateOptions,
        revision: u32,
    ) -> Result<Rendered, Error> {
        let mut options = options.clone();
        if options.kube_version.is_none() {
            let info =
                self.client
                    .apiserver_version()
                    .await
                    .map_err(|source| storage::Error::Kube {
                        namespace: options.namespace.clone(),
                        operation: "get the server version".into(),
                        source,
                    })?;
            options.kube_version = Some(info.git_version);
        }
        let (name, namespace) = (options.release_name.clone(), options.namespace.clone());
        let render_error = |source| Error::Render {
            name: name.clone(),
            namespace: namespace.clone(),
            source,
        };
        if !self.options.cluster_lookup {
            let rendered = render::render(chart, &options, revision).map_err(render_error)?;
            return self.post_render(rendered, &name, &namespace);
        }
        // `lookup` blocks on this runtime, so the render runs off its worker threads.
        options.lookup = Arc::new(ClusterLookup::new(
            self.client.clone(),
            namespace.clone(),
            tokio::runtime::Handle::current(),
        ));
        let chart = chart.clone();
        let task = tokio::task::spawn_blocking(move || render::render(&chart, &options, revision));
        let rendered = match task.await {
            Ok(rendered) => rendered.map_err(render_error)?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {
                return Err(Error::Cancelled {
                    name: name.clone(),
                    namespace: namespace.clone(),
                });
            }
        };
        self.post_render(rendered, &name, &namespace)
    }

    /// Runs the post-renderer, if any, over the manifest.
    fn post_render(
        &self,
        mut rendered: Rendered,
        name: &str,
        namespace: &str,
    ) -> Result<Rendered, Error> {
        if let Some(PostRenderer(rewrite)) = &self.options.post_renderer {
            rendered.manifest =
                rewrite(&rendered.manifest).map_err(|message| Error::PostRender {
                    name: name.into(),
                    namespace: namespace.into(),
                    message,
                })?;
        }
        Ok(rendered)
    }

    /// Applies the chart's CRDs by `policy` before anything is recorded, and waits until they
    /// are served (the applier's first stage). A failure records no revision, as in Helm.
    async fn apply_crds(
        &self,
        target: &Target<'_>,
        crds: &[(String, String)],
        policy: CrdPolicy,
    ) -> Result<(), Error> {
        if policy == CrdPolicy::Skip || crds.is_empty() {
            return Ok(());
        }
        let mut objects = Vec::new();
        for (path, text) in crds {
            let parsed =
                gitops_core::object::parse_yaml(path, text).map_err(|source| Error::Manifest {
                    name: target.name.into(),
                    namespace: target.namespace.into(),
                    revision: target.revision,
                    source,
                })?;
            objects.extend(parsed);
        }
        if policy == CrdPolicy::Create {
            let definitions: kube::Api<
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
            > = kube::Api::all(self.client.clone());
            let mut missing = Vec::with_capacity(objects.len());
            for object in objects {
                let exists = definitions
                    .get_metadata_opt(&object.id().name)
                    .await
                    .map_err(|source| storage::Error::Kube {
                        namespace: target.namespace.into(),
                        operation: format!("read CustomResourceDefinition {}", object.id().name),
                        source,
                    })?
                    .is_some();
                if !exists {
                    missing.push(object);
                }
            }
            objects = missing;
        }
        if objects.is_empty() {
            return Ok(());
        }
        // No owner marks: CRDs of `crds/` belong to no release and are never pruned with it.
        self.applier(target.namespace)
            .apply(&objects, &ApplyOptions::default().with_force(true))
            .await
            .map_err(|source| apply_error(target, "apply CRDs", source))?;
        Ok(())
    }

    /// Runs the `pre-` hooks, applies a pending revision, deletes what left `old_manifest`,
    /// waits, runs the `post-` hooks, and records the outcome: `deployed` with the earlier
    /// deployed revisions `superseded`, or `failed`.
    async fn finish(
        &self,
        storage: &Storage,
        mut record: Record,
        history: &[Record],
        old_manifest: &str,
        kind: Kind,
    ) -> Result<Release, Error> {
        let name = record.release.name.clone();
        if let Err(e) = self.steps(storage, &mut record, old_manifest, kind).await {
            record.release.info.status = Status::Failed;
            record.release.info.description =
                format!("{} {name:?} failed: {}", kind.failed(), error_chain(&e));
            storage.update(&record).await?;
            return Err(e);
        }
        for earlier in history {
            if earlier.release.info.status == Status::Deployed {
                let mut earlier = earlier.clone();
                earlier.release.info.status = Status::Superseded;
                storage.update(&earlier).await?;
            }
        }
        record.release.info.status = Status::Deployed;
        record.release.info.description = kind.done();
        let record = storage.update(&record).await?;
        storage.prune(&name, self.options.max_history).await?;
        Ok(record.release)
    }

    async fn steps(
        &self,
        storage: &Storage,
        record: &mut Record,
        old_manifest: &str,
        kind: Kind,
    ) -> Result<(), Error> {
        let (name, namespace) = (
            record.release.name.clone(),
            record.release.namespace.clone(),
        );
        let target = Target {
            name: &name,
            namespace: &namespace,
            revision: record.release.version,
        };
        let applier = self.applier(&namespace);
        let hooks = self.hooks(&applier, storage);
        if let Some(hooks) = &hooks {
            hooks.run(record, &format!("pre-{}", kind.event())).await?;
        }
        let manifest = record.release.manifest.clone();
        self.deploy(&applier, &target, &manifest, old_manifest)
            .await?;
        if let Some(hooks) = &hooks {
            hooks.run(record, &format!("post-{}", kind.event())).await?;
        }
        Ok(())
    }

    /// The hook runner, unless hooks are skipped.
    fn hooks<'a>(&self, applier: &'a KubeApplier, storage: &'a Storage) -> Option<Hooks<'a>> {
        (!self.options.no_hooks).then_some(Hooks {
            applier,
            storage,
            timeout: self.options.hook_timeout,
        })
    }

    async fn deploy(
        &self,
        applier: &KubeApplier,
        target: &Target<'_>,
        manifest: &str,
        old_manifest: &str,
    ) -> Result<(), Error> {
        let objects = self.objects(target, manifest)?;
        let old = self.objects(target, old_manifest)?;
        let options = Self::apply_options();
        applier
            .apply(
                &objects,
                &options.clone().with_force(self.options.force_conflicts),
            )
            .await
            .map_err(|source| apply_error(target, "apply", source))?;
        let gone = self.deletable(applier, target, &old, &objects).await?;
        applier
            .delete(&gone, &options)
            .await
            .map_err(|source| apply_error(target, "delete", source))?;
        if let Some(timeout) = self.options.wait {
            let ids = applier
                .resolve(&objects, &options)
                .await
                .map_err(|source| apply_error(target, "wait", source))?;
            let report = applier
                .wait(&ids, timeout)
                .await
                .map_err(|source| apply_error(target, "wait", source))?;
            if !report.is_healthy() {
                let message = report
                    .not_ready()
                    .map(|h| format!("{}: {}", h.id, h.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(Error::Unhealthy {
                    name: target.name.into(),
                    namespace: target.namespace.into(),
                    revision: target.revision,
                    message,
                });
            }
        }
        Ok(())
    }

    /// The identities among `old` that `keep` lacks and that may be deleted (not marked
    /// `helm.sh/resource-policy: keep`), in reverse apply order.
    async fn deletable(
        &self,
        applier: &KubeApplier,
        target: &Target<'_>,
        old: &[Object],
        keep: &[Object],
    ) -> Result<Vec<ObjectRef>, Error> {
        let options = Self::apply_options();
        let old: Vec<Object> = old
            .iter()
            .filter(|o| {
                o.annotations()
                    .get(RESOURCE_POLICY_ANNOTATION)
                    .map(|v| v.trim())
                    != Some("keep")
            })
            .cloned()
            .collect();
        let kept: HashSet<ObjectRef> = applier
            .resolve(keep, &options)
            .await
            .map_err(|source| apply_error(target, "delete", source))?
            .into_iter()
            .collect();
        let mut gone: Vec<ObjectRef> = applier
            .resolve(&old, &options)
            .await
            .map_err(|source| apply_error(target, "delete", source))?
            .into_iter()
            .filter(|id| !kept.contains(id))
            .collect();
        gone.sort_by_key(|id| std::cmp::Reverse(apply::apply_rank(id)));
        Ok(gone)
    }

    /// The objects of a manifest, with Helm's ownership marks.
    fn objects(&self, target: &Target<'_>, manifest: &str) -> Result<Vec<Object>, Error> {
        let shown = format!("release {} revision {}", target.name, target.revision);
        let manifest_error = |source| Error::Manifest {
            name: target.name.into(),
            namespace: target.namespace.into(),
            revision: target.revision,
            source,
        };
        let mut objects =
            gitops_core::object::parse_yaml(&shown, manifest).map_err(manifest_error)?;
        for object in &mut objects {
            object
                .edit(|map| mark(map, target.name, target.namespace))
                .map_err(manifest_error)?;
        }
        Ok(objects)
    }
}

/// Writes Helm's ownership label and annotations into an object.
fn mark(map: &mut serde_json::Map<String, Value>, name: &str, namespace: &str) {
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    for (field, key, value) in [
        ("labels", MANAGED_BY_LABEL, "Helm"),
        ("annotations", RELEASE_NAME_ANNOTATION, name),
        ("annotations", RELEASE_NAMESPACE_ANNOTATION, namespace),
    ] {
        let entry = metadata
            .entry(field)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(serde_json::Map::new());
        }
        if let Some(m) = entry.as_object_mut() {
            m.insert(key.into(), Value::String(value.into()));
        }
    }
}

/// The info of a pending revision deployed now; `first_deployed` is now when `None`.
fn pending(first_deployed: Option<String>, status: Status, description: &str) -> Info {
    let now = super::model::now();
    Info {
        first_deployed: Some(first_deployed.unwrap_or_else(|| now.clone())),
        last_deployed: Some(now),
        status,
        description: description.into(),
        ..Info::default()
    }
}

fn new_release(
    name: &str,
    namespace: &str,
    revision: u32,
    rendered: Rendered,
    info: Info,
) -> Release {
    Release {
        name: name.into(),
        info: Info {
            notes: rendered.notes,
            ..info
        },
        chart: Some(rendered.chart),
        config: rendered.config,
        manifest: rendered.manifest,
        hooks: rendered.hooks,
        version: revision,
        namespace: namespace.into(),
        apply_method: "ssa".into(),
        extra: serde_json::Map::new(),
    }
}

/// The last record, unless there is none ([`storage::Error::NotFound`]) or it is uninstalled.
fn existing<'a>(history: &'a [Record], name: &str, namespace: &str) -> Result<&'a Record, Error> {
    let last = history.last().ok_or_else(|| storage::Error::NotFound {
        name: name.into(),
        namespace: namespace.into(),
        revision: None,
    })?;
    if last.release.info.status == Status::Uninstalled {
        return Err(Error::NotDeployed {
            name: name.into(),
            namespace: namespace.into(),
        });
    }
    Ok(last)
}

/// The last deployed record.
fn current(history: &[Record]) -> Option<&Record> {
    history
        .iter()
        .rev()
        .find(|r| r.release.info.status == Status::Deployed)
}

fn apply_error(target: &Target<'_>, operation: &'static str, source: apply::Error) -> Error {
    Error::Apply {
        name: target.name.into(),
        namespace: target.namespace.into(),
        revision: target.revision,
        operation,
        source,
    }
}

/// An error and its causes on one line, for a record's description.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_fields_are_neither_drift_nor_applied_back() {
        let ignored = IgnoredFields(Arc::new(|id: &ObjectRef| {
            if id.kind == "Deployment" {
                vec!["/spec/replicas".into(), "/metadata/annotations".into()]
            } else {
                Vec::new()
            }
        }));
        let deployment = ObjectRef::new("apps", "v1", "Deployment", Some("ns"), "web");
        let config = ObjectRef::new("", "v1", "ConfigMap", Some("ns"), "web");
        let field = |path: &str| apply::FieldDrift {
            path: path.into(),
            desired: Some("1".into()),
            live: Some("2".into()),
        };
        let kept = ignored.filter(vec![
            apply::Drift::Changed {
                id: deployment.clone(),
                fields: vec![field("/spec/replicas"), field("/metadata/annotations/a")],
            },
            apply::Drift::Changed {
                id: deployment.clone(),
                fields: vec![field("/spec/replicasX"), field("/spec/replicas")],
            },
            apply::Drift::Changed {
                id: config.clone(),
                fields: vec![field("/spec/replicas")],
            },
            apply::Drift::Missing(deployment.clone()),
        ]);
        assert_eq!(
            kept,
            vec![
                apply::Drift::Changed {
                    id: deployment.clone(),
                    fields: vec![field("/spec/replicasX")],
                },
                apply::Drift::Changed {
                    id: config,
                    fields: vec![field("/spec/replicas")],
                },
                apply::Drift::Missing(deployment),
            ]
        );
        let object = Object::new(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "annotations": {"a": "b"}},
            "spec": {"replicas": 3, "paused": false}
        }))
        .expect("an object");
        let stripped = ignored.strip(object);
        assert_eq!(
            stripped.value(),
            &serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "ns"},
                "spec": {"paused": false}
            })
        );
    }

    #[test]
    fn marks_objects_as_helm_does() {
        let mut map = serde_json::json!({"metadata": {"name": "x", "labels": {"a": "b"}}});
        let Value::Object(m) = &mut map else {
            panic!("an object")
        };
        mark(m, "web", "apps");
        assert_eq!(
            map["metadata"],
            serde_json::json!({"name": "x",
                "labels": {"a": "b", "app.kubernetes.io/managed-by": "Helm"},
                "annotations": {"meta.helm.sh/release-name": "web",
                    "meta.helm.sh/release-namespace": "apps"}})
        );
    }
}
