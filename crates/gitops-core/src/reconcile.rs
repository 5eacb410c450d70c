//! One reconcile pass: fetch → render → decrypt → substitute → apply → prune → wait → notify.
//!
//! [`Reconciler::reconcile`] runs one pass and returns; it never sleeps or retries. The
//! [`Outcome`] or [`Failure`] carries a requeue hint the host feeds to its scheduler (see
//! [`schedule`](crate::schedule)).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::apply::{self, ApplyOptions, Owner};
use crate::event::reason;
use crate::inventory::{self, InventoryStore, MemoryInventoryStore};
use crate::render::{self, RenderRequest};
use crate::{
    Applier, Artifact, ChangeSet, Decryptor, Event, Fetch, HealthReport, Inventory, Notifier,
    Object, ObjectRef, Renderer, Revision, Severity, Source, decrypt, object, source, substitute,
};

/// The stage of a pass, as reported in failures and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Fetching the source.
    Fetch,
    /// Rendering the objects (including decryption of generator inputs).
    Render,
    /// Decrypting rendered objects.
    Decrypt,
    /// Post-build variable substitution.
    Substitute,
    /// Reading or writing the inventory.
    Inventory,
    /// Applying objects.
    Apply,
    /// Deleting objects that left the render.
    Prune,
    /// Waiting for health.
    Health,
}

impl Stage {
    /// The Flux event reason for a failure at this stage.
    pub fn failure_reason(self) -> &'static str {
        match self {
            Self::Fetch => reason::ARTIFACT_FAILED,
            Self::Render | Self::Substitute => reason::BUILD_FAILED,
            Self::Decrypt => reason::DECRYPTION_FAILED,
            Self::Inventory | Self::Apply => reason::APPLY_FAILED,
            Self::Prune => reason::PRUNE_FAILED,
            Self::Health => reason::HEALTH_CHECK_FAILED,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fetch => "fetch",
            Self::Render => "render",
            Self::Decrypt => "decrypt",
            Self::Substitute => "substitute",
            Self::Inventory => "inventory",
            Self::Apply => "apply",
            Self::Prune => "prune",
            Self::Health => "health check",
        })
    }
}

/// The cause of a failed pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source could not be fetched.
    #[error(transparent)]
    Source(#[from] source::Error),
    /// The render failed.
    #[error(transparent)]
    Render(#[from] render::Error),
    /// Decryption failed.
    #[error(transparent)]
    Decrypt(#[from] decrypt::Error),
    /// An encrypted object was rendered but no decryptor is configured.
    #[error("{id} is encrypted but no decryption is configured")]
    DecryptionNotConfigured {
        /// The encrypted object.
        id: ObjectRef,
    },
    /// Rendered objects are invalid (e.g. duplicate identities).
    #[error(transparent)]
    Object(#[from] object::Error),
    /// Substitution failed.
    #[error(transparent)]
    Substitute(#[from] substitute::Error),
    /// The render produced no objects while the inventory holds some.
    #[error(
        "render of {path} produced no objects; refusing to prune the {owned} objects of the last apply"
    )]
    EmptyRender {
        /// The rendered path.
        path: String,
        /// How many objects the inventory holds.
        owned: usize,
    },
    /// The inventory store failed.
    #[error(transparent)]
    Inventory(#[from] inventory::Error),
    /// The applier failed.
    #[error(transparent)]
    Apply(#[from] apply::Error),
    /// Objects are not healthy.
    #[error("health check failed: {}", .0.not_ready().map(|h| format!("{} ({})", h.id, h.message)).collect::<Vec<_>>().join(", "))]
    Unhealthy(HealthReport),
}

impl Error {
    /// Whether a retry can help without a change to the input (a timeout: yes; a bad
    /// kustomization or a missing key: no, the object is stalled).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Source(e) => e.is_transient(),
            Self::Render(e) => e.is_transient(),
            Self::Apply(e) => e.is_transient(),
            Self::Inventory(_) | Self::Unhealthy(_) => true,
            Self::Decrypt(_)
            | Self::DecryptionNotConfigured { .. }
            | Self::Object(_)
            | Self::Substitute(_)
            | Self::EmptyRender { .. } => false,
        }
    }
}

/// A failed pass: the stage, the cause, and what was done before it failed.
#[derive(Debug, thiserror::Error)]
#[error("{stage} failed")]
pub struct Failure {
    /// Where the pass stopped.
    pub stage: Stage,
    /// Why.
    #[source]
    pub error: Error,
    /// The revision being reconciled, if the fetch got that far.
    pub revision: Option<Revision>,
    /// The changes made before the failure.
    pub changes: ChangeSet,
    /// The events emitted for this pass.
    pub events: Vec<Event>,
    /// When to try again.
    pub requeue_after: Duration,
}

impl Failure {
    fn with_changes(mut self, changes: &ChangeSet) -> Self {
        self.changes = changes.clone();
        self
    }

    /// Whether the failure is stalled (needs a change to the input) rather than transient.
    pub fn is_stalled(&self) -> bool {
        !self.error.is_transient()
    }
}

/// A successful pass.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The revision applied.
    pub revision: Revision,
    /// Whether the source moved since the `last` revision given.
    pub source_changed: bool,
    /// What happened to each object, applies then prunes.
    pub changes: ChangeSet,
    /// The objects now owned.
    pub inventory: Inventory,
    /// Health of the applied objects, when waiting was asked for.
    pub health: Option<HealthReport>,
    /// The events emitted for this pass.
    pub events: Vec<Event>,
    /// How long the pass took.
    pub duration: Duration,
    /// When the next pass is due.
    pub requeue_after: Duration,
}

/// Options of a pass, as a Flux `Kustomization` spec states them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The path to render inside the artifact.
    pub path: PathBuf,
    /// Delete objects that left the render.
    pub prune: bool,
    /// Allow an empty render to prune everything (off: an empty render is an error).
    pub allow_empty: bool,
    /// Wait for applied objects to become healthy.
    pub wait: bool,
    /// How long to wait for health.
    pub timeout: Duration,
    /// Objects that must be healthy after the apply (Flux's `healthChecks`), applied by this
    /// pass or not; waited for with [`timeout`](Self::timeout) whether or not `wait` is set.
    pub health_checks: Vec<ObjectRef>,
    /// Apply options (force, target namespace).
    pub apply: ApplyOptions,
    /// Post-build variables; empty disables substitution.
    pub substitute: BTreeMap<String, String>,
    /// Fail on variables that are not set and have no default.
    pub strict_substitution: bool,
    /// Requeue after a success.
    pub interval: Duration,
    /// Requeue after a failure.
    pub retry_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            path: PathBuf::from("."),
            prune: true,
            allow_empty: false,
            wait: false,
            timeout: Duration::from_secs(300),
            health_checks: Vec::new(),
            apply: ApplyOptions::default(),
            substitute: BTreeMap::new(),
            strict_substitution: false,
            interval: Duration::from_secs(600),
            retry_interval: Duration::from_secs(60),
        }
    }
}

macro_rules! builder {
    ($($(#[$doc:meta])* $name:ident: $field:ident: $ty:ty;)*) => {
        impl Options {
            $($(#[$doc])* pub fn $name(mut self, value: $ty) -> Self { self.$field = value.into(); self })*
        }
    };
}

builder! {
    /// Sets the path to render.
    with_path: path: impl Into<PathBuf>;
    /// Sets pruning.
    with_prune: prune: bool;
    /// Allows an empty render to prune everything.
    with_allow_empty: allow_empty: bool;
    /// Sets waiting for health.
    with_wait: wait: bool;
    /// Sets the health timeout.
    with_timeout: timeout: Duration;
    /// Sets the objects that must be healthy after the apply.
    with_health_checks: health_checks: Vec<ObjectRef>;
    /// Sets apply options.
    with_apply: apply: ApplyOptions;
    /// Sets post-build variables.
    with_substitute: substitute: BTreeMap<String, String>;
    /// Sets strict substitution.
    with_strict_substitution: strict_substitution: bool;
    /// Sets the success interval.
    with_interval: interval: Duration;
    /// Sets the retry interval.
    with_retry_interval: retry_interval: Duration;
}

/// Composes the backends into one reconcile pass.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use gitops_core::{Reconciler, ObjectRef, Source, Renderer, Applier};
/// # async fn run(source: Arc<dyn Source>, renderer: Arc<dyn Renderer>, applier: Arc<dyn Applier>) {
/// let me = ObjectRef::new("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", Some("flux-system"), "apps");
/// let reconciler = Reconciler::new(me, source, renderer, applier);
/// match reconciler.reconcile(None).await {
///     Ok(outcome) => println!("applied {}", outcome.revision),
///     Err(failure) => eprintln!("{failure}: {}", failure.error),
/// }
/// # }
/// ```
pub struct Reconciler {
    object: ObjectRef,
    source: Arc<dyn Source>,
    renderer: Arc<dyn Renderer>,
    decryptor: Option<Arc<dyn Decryptor>>,
    applier: Arc<dyn Applier>,
    inventory: Arc<dyn InventoryStore>,
    notifiers: Vec<Arc<dyn Notifier>>,
    options: Options,
}

impl Reconciler {
    /// A reconciler for `object` (the Kustomization it acts for, named in events), keeping its
    /// inventory in memory until [`with_inventory_store`](Self::with_inventory_store) says otherwise.
    pub fn new(
        object: ObjectRef,
        source: Arc<dyn Source>,
        renderer: Arc<dyn Renderer>,
        applier: Arc<dyn Applier>,
    ) -> Self {
        Self {
            object,
            source,
            renderer,
            decryptor: None,
            applier,
            inventory: Arc::new(MemoryInventoryStore::default()),
            notifiers: Vec::new(),
            options: Options::default(),
        }
    }

    /// A reconciler for a host that holds its artifacts and passes each to
    /// [`reconcile_artifact`](Self::reconcile_artifact) (a controller whose source pass stored
    /// it): it has no source of its own, and [`reconcile`](Self::reconcile) fails at the fetch.
    pub fn for_artifacts(
        object: ObjectRef,
        renderer: Arc<dyn Renderer>,
        applier: Arc<dyn Applier>,
    ) -> Self {
        Self::new(object, Arc::new(NoSource), renderer, applier)
    }

    /// Decrypts with `decryptor`.
    pub fn with_decryptor(mut self, decryptor: Arc<dyn Decryptor>) -> Self {
        self.decryptor = Some(decryptor);
        self
    }

    /// Keeps the inventory in `store`.
    pub fn with_inventory_store(mut self, store: Arc<dyn InventoryStore>) -> Self {
        self.inventory = store;
        self
    }

    /// Adds a notifier.
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.push(notifier);
        self
    }

    /// Sets the options.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Runs one pass against the `last` revision applied, then notifies.
    pub async fn reconcile(&self, last: Option<&Revision>) -> Result<Outcome, Failure> {
        self.run(None, last).await
    }

    /// Runs one pass on `artifact`, which the host already holds (a controller's source pass
    /// stored it), against the `last` revision applied, then notifies: no fetch, the source
    /// given at construction is not asked. The source counts as changed when `artifact`'s
    /// revision is not `last`.
    pub async fn reconcile_artifact(
        &self,
        artifact: &Artifact,
        last: Option<&Revision>,
    ) -> Result<Outcome, Failure> {
        self.run(Some(artifact), last).await
    }

    async fn run(
        &self,
        held: Option<&Artifact>,
        last: Option<&Revision>,
    ) -> Result<Outcome, Failure> {
        let started = Instant::now();
        let result = self.pass(held, last).await;
        let duration = started.elapsed();
        match result {
            Ok(mut outcome) => {
                outcome.duration = duration;
                outcome.events = self.success_events(&outcome);
                self.deliver(&outcome.events).await;
                Ok(outcome)
            }
            Err(mut failure) => {
                let message = error_chain(&failure.error);
                let event = Event::new(
                    Severity::Error,
                    self.object.clone(),
                    failure.stage.failure_reason(),
                    message,
                )
                .with_revision(failure.revision.clone())
                .with_metadata("duration", format!("{:.3}s", duration.as_secs_f64()))
                .with_metadata("stage", failure.stage.to_string());
                failure.events = vec![event];
                self.deliver(&failure.events).await;
                Err(failure)
            }
        }
    }

    /// The pass itself, top to bottom. Every early return happens before anything is pruned.
    async fn pass(
        &self,
        held: Option<&Artifact>,
        last: Option<&Revision>,
    ) -> Result<Outcome, Failure> {
        let opts = &self.options;

        // 1. Fetch, unless the host holds the artifact: the source returns the kept artifact
        //    when the revision did not move.
        let fetch = match held {
            Some(artifact) => Fetch::Updated(artifact.clone()),
            None => self
                .source
                .fetch(last)
                .await
                .map_err(|e| self.failed(Stage::Fetch, None, e))?,
        };
        let artifact = fetch.artifact();
        let rev = Some(&artifact.revision);

        // 2. Render, decrypting generator inputs through the decryptor.
        let mut request = RenderRequest::new(&artifact.path, &opts.path);
        if let Some(decryptor) = &self.decryptor {
            decryptor
                .prepare()
                .await
                .map_err(|e| self.failed(Stage::Decrypt, rev, e))?;
            request = request.with_decryptor(Arc::clone(decryptor));
        }
        let objects = self
            .renderer
            .render(&request)
            .await
            .map_err(|e| self.failed(Stage::Render, rev, e))?;

        // 3. Decrypt rendered Secrets, then substitute post-build variables.
        let objects = decrypt_objects(objects, self.decryptor.as_deref())
            .map_err(|e| self.failed(Stage::Decrypt, rev, e))?;
        let objects = if opts.substitute.is_empty() {
            objects
        } else {
            substitute::substitute(objects, &opts.substitute, opts.strict_substitution)
                .map_err(|e| self.failed(Stage::Substitute, rev, e))?
        };
        object::ensure_unique(&objects).map_err(|e| self.failed(Stage::Render, rev, e))?;

        // 4. Compare with what the last apply owned; an empty render never prunes.
        let previous = self
            .inventory
            .load()
            .await
            .map_err(|e| self.failed(Stage::Inventory, rev, e))?
            .unwrap_or_default();
        if objects.is_empty() && !previous.is_empty() && !opts.allow_empty {
            let error = Error::EmptyRender {
                path: opts.path.display().to_string(),
                owned: previous.len(),
            };
            return Err(self.failed(Stage::Render, rev, error));
        }

        // 5. Name every object once, as the applier will apply it (scope from the target, the
        //    namespace defaulted), and record the union with what was owned before applying, so
        //    an apply that dies halfway loses track of nothing. These identities are the ones
        //    the intent, the prune and the final inventory all use.
        let apply_options = self.apply_options();
        let next: Inventory = self
            .applier
            .resolve(&objects, &apply_options)
            .await
            .map_err(|e| self.failed(Stage::Apply, rev, e))?
            .into_iter()
            .collect();
        let mut intent = previous.clone();
        for id in next.iter() {
            intent.insert(id.clone());
        }
        if intent != previous {
            self.inventory
                .save(&intent)
                .await
                .map_err(|e| self.failed(Stage::Inventory, rev, e))?;
        }

        // 6. Apply (the applier stages definitions first).
        let mut changes = self
            .applier
            .apply(&objects, &apply_options)
            .await
            .map_err(|e| self.failed(Stage::Apply, rev, e))?;

        // 7. Prune what the last apply owned and this render lacks (the applier leaves alone
        //    what is not ours or opted out), then store the new inventory. An applied identity
        //    that `resolve` did not name (a wrapper that does not forward it) is kept as well:
        //    the inventory may hold an object twice, but never loses one.
        let mut next = next;
        for change in &changes.changes {
            if !next.contains(&change.id) {
                next.insert(change.id.clone());
            }
        }
        if opts.prune {
            let stale = previous.stale(&next);
            if !stale.is_empty() {
                let pruned = self.applier.delete(&stale, &apply_options).await;
                changes.extend(
                    pruned.map_err(|e| self.failed(Stage::Prune, rev, e).with_changes(&changes))?,
                );
            }
        }
        if next != previous || intent != previous {
            self.inventory
                .save(&next)
                .await
                .map_err(|e| self.failed(Stage::Inventory, rev, e).with_changes(&changes))?;
        }

        // 8. Wait for health: what was applied when `wait` is set, and the health checks.
        let mut ids: Vec<ObjectRef> = Vec::new();
        if opts.wait {
            ids.extend(next.iter().cloned());
        }
        for id in &opts.health_checks {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        let health = if !ids.is_empty() {
            let report = self.applier.wait(&ids, opts.timeout).await;
            let report =
                report.map_err(|e| self.failed(Stage::Health, rev, e).with_changes(&changes))?;
            if !report.is_healthy() {
                return Err(self
                    .failed(Stage::Health, rev, Error::Unhealthy(report))
                    .with_changes(&changes));
            }
            Some(report)
        } else {
            None
        };

        Ok(Outcome {
            revision: artifact.revision.clone(),
            source_changed: fetch.is_updated() && last != Some(&artifact.revision),
            changes,
            inventory: next,
            health,
            events: Vec::new(),
            duration: Duration::ZERO,
            requeue_after: opts.interval,
        })
    }

    /// The apply options with the owner filled in: objects carry the labels of the object this
    /// reconciler acts for unless the host named another owner.
    fn apply_options(&self) -> ApplyOptions {
        let mut options = self.options.apply.clone();
        if options.owner.is_none() {
            options.owner = Some(Owner::of(&self.object));
        }
        options
    }

    fn failed(
        &self,
        stage: Stage,
        revision: Option<&Revision>,
        error: impl Into<Error>,
    ) -> Failure {
        Failure {
            stage,
            error: error.into(),
            revision: revision.cloned(),
            changes: ChangeSet::default(),
            events: Vec::new(),
            requeue_after: self.options.retry_interval,
        }
    }

    fn success_events(&self, outcome: &Outcome) -> Vec<Event> {
        let duration = crate::schedule::go_duration(outcome.duration);
        let mut events = Vec::new();
        if outcome.changes.has_changes() {
            events.push(
                Event::new(
                    Severity::Info,
                    self.object.clone(),
                    reason::PROGRESSING,
                    outcome.changes.summary(),
                )
                .with_revision(Some(outcome.revision.clone()))
                .with_metadata("duration", duration.clone()),
            );
        }
        if outcome.source_changed || outcome.changes.has_changes() {
            events.push(
                Event::new(
                    Severity::Info,
                    self.object.clone(),
                    reason::RECONCILIATION_SUCCEEDED,
                    format!(
                        "Reconciliation finished in {duration}, next run in {}",
                        crate::schedule::go_duration(outcome.requeue_after)
                    ),
                )
                .with_revision(Some(outcome.revision.clone()))
                .with_metadata("duration", duration),
            );
        }
        events
    }

    async fn deliver(&self, events: &[Event]) {
        // A lost notification must not fail the pass: notifiers retry on their own, and the
        // event stays in the outcome for the host to log.
        for event in events {
            for notifier in &self.notifiers {
                let _ = notifier.notify(event).await;
            }
        }
    }
}

/// Decrypts every object that carries encryption metadata.
fn decrypt_objects(
    objects: Vec<Object>,
    decryptor: Option<&dyn Decryptor>,
) -> Result<Vec<Object>, Error> {
    objects
        .into_iter()
        .map(|object| match decryptor {
            Some(decryptor) => Ok(decryptor.decrypt_object(&object)?.unwrap_or(object)),
            None if is_encrypted(&object) => Err(Error::DecryptionNotConfigured {
                id: object.id().clone(),
            }),
            None => Ok(object),
        })
        .collect()
}

/// The source of a reconciler built with [`Reconciler::for_artifacts`].
struct NoSource;

#[async_trait::async_trait]
impl Source for NoSource {
    async fn fetch(&self, _last: Option<&Revision>) -> Result<Fetch, source::Error> {
        Err(source::Error::Invalid {
            url: String::new(),
            message: "this reconciler has no source: it is given its artifacts \
                      (Reconciler::reconcile_artifact)"
                .into(),
            source: None,
        })
    }
}

/// Whether an object carries SOPS metadata, the one encryption format Flux decrypts in renders.
pub fn is_encrypted(object: &Object) -> bool {
    object
        .value()
        .get("sops")
        .is_some_and(serde_json::Value::is_object)
}

/// An error and its causes, joined with `: `, as events and status messages show them.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
