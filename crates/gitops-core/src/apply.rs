//! The [`Applier`] trait: making a cluster (or any target) hold the rendered objects.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::object::{PRUNE_ANNOTATION, PRUNE_DISABLED};
use crate::{BoxError, Object, ObjectRef};

/// Errors from an applier. Each names the object it is about when there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target does not know the object's kind (a CRD is not installed).
    #[error("{id}: no such kind {api_version}/{kind} on the target")]
    UnknownKind {
        /// The object.
        id: ObjectRef,
        /// Its `apiVersion`.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// The target rejected the object; `message` is the target's own.
    #[error("{id}: rejected: {message}")]
    Rejected {
        /// The object.
        id: ObjectRef,
        /// The target's message.
        message: String,
    },
    /// Another field manager owns fields we want to set.
    #[error("{id}: conflict with field manager {manager} on {}", fields.join(", "))]
    Conflict {
        /// The object.
        id: ObjectRef,
        /// The other manager.
        manager: String,
        /// The contested fields.
        fields: Vec<String>,
    },
    /// The target refused the request for lack of permission.
    #[error("{id}: forbidden: {message}")]
    Forbidden {
        /// The object.
        id: ObjectRef,
        /// The target's message.
        message: String,
    },
    /// The target could not be reached or did not answer in time.
    #[error("target unavailable")]
    Unavailable(#[source] BoxError),
    /// Objects did not become healthy within the timeout.
    #[error("timed out after {timeout:?} waiting for {}", not_ready.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Timeout {
        /// How long we waited.
        timeout: Duration,
        /// The objects that were not ready.
        not_ready: Vec<ObjectRef>,
    },
    /// Local storage failed (for appliers that write files).
    #[error("{path}: storage failed")]
    Storage {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The target is not ours to write (e.g. a folder another tool owns).
    #[error("{location}: {message}")]
    NotOwned {
        /// The target location.
        location: String,
        /// Why we refuse.
        message: String,
    },
}

impl Error {
    /// Whether another try may succeed without a change to the objects.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Timeout { .. } | Self::Storage { .. }
        )
    }
}

/// What an apply or prune did to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Configured,
    /// The object already matched.
    Unchanged,
    /// The object was deleted (pruned).
    Deleted,
    /// The object was left alone (prune disabled, or owned by someone else).
    Skipped,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Deleted => "deleted",
            Self::Skipped => "skipped",
        })
    }
}

/// One object's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The object.
    pub id: ObjectRef,
    /// What happened.
    pub action: Action,
}

/// The changes of one pass, in the order they happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// The changes.
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// Records a change.
    pub fn push(&mut self, id: ObjectRef, action: Action) {
        self.changes.push(Change { id, action });
    }

    /// Appends another change set.
    pub fn extend(&mut self, other: ChangeSet) {
        self.changes.extend(other.changes);
    }

    /// How many changes have this action.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Whether anything was created, configured or deleted.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| {
            matches!(
                c.action,
                Action::Created | Action::Configured | Action::Deleted
            )
        })
    }

    /// `Kind/ns/name created` lines for the objects that changed, as Flux's events list them:
    /// the kind without its group (`Deployment/web/api`, `Namespace/web`), as kustomize-controller
    /// writes its change sets.
    pub fn summary(&self) -> String {
        self.changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .map(|c| {
                let id = &c.id;
                match &id.namespace {
                    Some(ns) => format!("{}/{ns}/{} {}", id.kind, id.name, c.action),
                    None => format!("{}/{} {}", id.kind, id.name, c.action),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// How an object's readiness looks, after kstatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// Reconciled and ready.
    Current,
    /// Still progressing.
    InProgress,
    /// Failed and not expected to recover by itself.
    Failed,
    /// The object is gone.
    NotFound,
    /// Readiness cannot be told.
    Unknown,
}

/// One object's health with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The object.
    pub id: ObjectRef,
    /// Its status.
    pub status: HealthStatus,
    /// Why, for a person.
    pub message: String,
}

/// Health of a set of objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// One entry per object waited for.
    pub objects: Vec<Health>,
}

impl HealthReport {
    /// Whether every object is current.
    pub fn is_healthy(&self) -> bool {
        self.objects
            .iter()
            .all(|h| h.status == HealthStatus::Current)
    }

    /// The objects that are not current.
    pub fn not_ready(&self) -> impl Iterator<Item = &Health> {
        self.objects
            .iter()
            .filter(|h| h.status != HealthStatus::Current)
    }
}

/// One field that differs between the desired and the live object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDrift {
    /// JSON pointer of the field (`/spec/replicas`).
    pub path: String,
    /// The desired value as JSON, `None` when the render lacks the field; masked for Secrets.
    pub desired: Option<String>,
    /// The live value as JSON, `None` when the target lacks the field; masked for Secrets.
    pub live: Option<String>,
}

/// How one object differs from its desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// The object does not exist on the target.
    Missing(ObjectRef),
    /// Fields we own differ.
    Changed {
        /// The object.
        id: ObjectRef,
        /// The differing fields.
        fields: Vec<FieldDrift>,
    },
}

impl Drift {
    /// The object concerned.
    pub fn id(&self) -> &ObjectRef {
        match self {
            Self::Missing(id) | Self::Changed { id, .. } => id,
        }
    }
}

/// Options of one apply (and of the prune that follows it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Recreate objects whose immutable fields changed, take over conflicting fields.
    pub force: bool,
    /// The namespace for namespaced objects that name none.
    pub target_namespace: Option<String>,
    /// Who applies: its labels are written on every applied object, and a delete leaves alone
    /// every object that does not carry them. `None` writes no labels and checks none (a host
    /// that keeps ownership some other way); the [`Reconciler`](crate::Reconciler) always sets it.
    pub owner: Option<Owner>,
}

impl ApplyOptions {
    /// Sets `force`.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Sets the default namespace.
    pub fn with_target_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.target_namespace = Some(namespace.into());
        self
    }

    /// Sets the owner.
    pub fn with_owner(mut self, owner: Owner) -> Self {
        self.owner = Some(owner);
        self
    }
}

/// The owner of applied objects: labels written on each of them, and required on each object a
/// prune deletes.
///
/// [`Owner::of`] gives Flux's labels (`kustomize.toolkit.fluxcd.io/name` and `…/namespace` for
/// a Kustomization), so objects applied by Flux and by gitops-rs for the same Kustomization are
/// recognised by both, and an object that moved to another Kustomization is no longer pruned by
/// the one it left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    labels: BTreeMap<String, String>,
}

impl Owner {
    /// The owner labels of `object`: `<group>/name` and `<group>/namespace`, Flux's form.
    pub fn of(object: &ObjectRef) -> Self {
        let group = if object.group.is_empty() {
            OWNER_PREFIX
        } else {
            object.group.as_str()
        };
        let mut labels = BTreeMap::new();
        labels.insert(format!("{group}/name"), object.name.clone());
        labels.insert(
            format!("{group}/namespace"),
            object.namespace.clone().unwrap_or_default(),
        );
        Self { labels }
    }

    /// Whether a label key is one [`Owner::of`] writes for some owner (`<group>/name` or
    /// `<group>/namespace` of a Flux toolkit group, or of gitops-rs' own prefix).
    pub fn is_owner_label(key: &str) -> bool {
        let Some((prefix, field)) = key.rsplit_once('/') else {
            return false;
        };
        matches!(field, "name" | "namespace")
            && (prefix == OWNER_PREFIX || prefix.ends_with(".toolkit.fluxcd.io"))
    }

    /// The owner whose labels an object (live or desired) carries, `None` when it carries none.
    pub fn found_on(object: &Value) -> Option<Self> {
        let labels: BTreeMap<String, String> = object
            .pointer("/metadata/labels")?
            .as_object()?
            .iter()
            .filter(|(k, _)| Self::is_owner_label(k))
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        (!labels.is_empty()).then_some(Self { labels })
    }

    /// An owner named by other labels.
    pub fn with_labels(labels: BTreeMap<String, String>) -> Self {
        Self { labels }
    }

    /// The labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// A Kubernetes label selector matching every labelled object (`k=v,k2=v2`).
    pub fn selector(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether the object (as JSON, live or desired) carries every owner label.
    pub fn owns(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v.as_str()))
    }

    /// Writes the owner labels into the object.
    pub fn label(&self, object: &mut Object) -> Result<(), crate::object::Error> {
        object.edit(|map| {
            let metadata = map
                .entry("metadata")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            let Some(metadata) = metadata.as_object_mut() else {
                return;
            };
            let labels = metadata
                .entry("labels")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !labels.is_object() {
                *labels = Value::Object(serde_json::Map::new());
            }
            if let Some(labels) = labels.as_object_mut() {
                for (k, v) in &self.labels {
                    labels.insert(k.clone(), Value::String(v.clone()));
                }
            }
        })
    }
}

/// The label prefix of owners without an API group.
const OWNER_PREFIX: &str = "gitops-rs";

/// Flux's per-object annotation choosing how an object is applied: `Override` (the default),
/// `Merge`, `IfNotPresent` (create it, never change it afterwards) or `Ignore` (never apply it).
pub const SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";
/// Flux's per-object annotation that stops apply and prune for an object, on the object in Git
/// or on the live one: `disabled`.
pub const RECONCILE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/reconcile";
/// Flux's per-object annotation that recreates the object when an immutable field changes:
/// `enabled`.
pub const FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";

/// Whether the object's labels or annotations hold `key: value` (case-insensitive values, as
/// Flux compares them).
fn marked(object: &Value, key: &str, value: &str) -> bool {
    ["/metadata/labels", "/metadata/annotations"]
        .iter()
        .filter_map(|p| object.pointer(p)?.get(key)?.as_str())
        .any(|v| !v.is_empty() && v.eq_ignore_ascii_case(value))
}

/// What an applier does with one object, after Flux's per-object annotations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Leave the object as it is: report it [`Action::Skipped`], keep it in the inventory.
    Skip,
    /// Apply it; `recreate` allows deleting and creating it again when an immutable field changed.
    Apply {
        /// Recreate on an immutable-field change (the options' `force`, or the object's own
        /// `kustomize.toolkit.fluxcd.io/force: enabled`).
        recreate: bool,
    },
}

/// Decides what to do with `desired` given its `live` copy (`None` when it does not exist),
/// after Flux's rules, so every applier honours them the same way:
/// - `kustomize.toolkit.fluxcd.io/reconcile: disabled` or `…/ssa: Ignore` on the desired or the
///   live object: skip;
/// - `…/ssa: IfNotPresent` on the desired object and a live copy exists: skip (a Secret seeded
///   from Git and rotated by hand keeps its value);
/// - otherwise apply, recreating when `options.force` or `…/force: enabled` (either copy) says so.
pub fn decide(desired: &Value, live: Option<&Value>, options: &ApplyOptions) -> Decision {
    let excluded = |o: &Value| {
        marked(o, RECONCILE_ANNOTATION, "disabled") || marked(o, SSA_ANNOTATION, "Ignore")
    };
    if excluded(desired) || live.is_some_and(excluded) {
        return Decision::Skip;
    }
    if live.is_some() && marked(desired, SSA_ANNOTATION, "IfNotPresent") {
        return Decision::Skip;
    }
    let forced = |o: &Value| marked(o, FORCE_ANNOTATION, "enabled");
    Decision::Apply {
        recreate: options.force || forced(desired) || live.is_some_and(forced),
    }
}

/// Why a prune leaves a live object alone, `None` when it may delete it: the object opts out
/// (`kustomize.toolkit.fluxcd.io/prune: disabled` or `…/reconcile: disabled`), or it does not
/// carry the owner's labels (it belongs to someone else, or moved to another owner).
pub fn keep_on_prune(live: &Value, options: &ApplyOptions) -> Option<&'static str> {
    if marked(live, PRUNE_ANNOTATION, PRUNE_DISABLED) {
        return Some("pruning disabled");
    }
    if marked(live, RECONCILE_ANNOTATION, "disabled") {
        return Some("reconciliation disabled");
    }
    match &options.owner {
        Some(owner) if !owner.owns(live) => Some("not owned"),
        _ => None,
    }
}

/// Scopes of kinds that a set of objects defines itself through its CustomResourceDefinitions
/// (`spec.scope`), keyed by `(group, kind)`: `true` for namespaced.
pub fn defined_scopes(objects: &[Object]) -> HashMap<(String, String), bool> {
    objects
        .iter()
        .filter(|o| o.id().kind == "CustomResourceDefinition")
        .filter_map(|o| {
            let v = o.value();
            let group = v.pointer("/spec/group")?.as_str()?;
            let kind = v.pointer("/spec/names/kind")?.as_str()?;
            let namespaced = v.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
            Some(((group.to_owned(), kind.to_owned()), namespaced))
        })
        .collect()
}

/// The identity `object` has once applied, given whether its kind is namespaced: a namespaced
/// object without a namespace gets `default_namespace`, a cluster-scoped one loses any namespace
/// (kustomize's `namespace:` puts one on kinds whose scope it does not know).
pub fn resolved_id(object: &ObjectRef, namespaced: bool, default_namespace: &str) -> ObjectRef {
    let mut id = object.clone();
    if !namespaced {
        id.namespace = None;
    } else if id.namespace.is_none() && !default_namespace.is_empty() {
        id.namespace = Some(default_namespace.to_owned());
    }
    id
}

/// Gives `object` the namespace of its resolved identity (see [`resolved_id`]): set where the
/// kind is namespaced, removed where it is cluster-scoped.
pub fn place(object: &mut Object, resolved: &ObjectRef) {
    match &resolved.namespace {
        Some(ns) if object.id().namespace.as_ref() != Some(ns) => object.set_namespace(ns),
        None if object.id().namespace.is_some() => object.clear_namespace(),
        _ => {}
    }
}

/// Identities as a backend without discovery resolves them: Kubernetes' built-in
/// cluster-scoped kinds and the kinds a CRD of the same set declares cluster-scoped lose their
/// namespace; the rest get the target namespace when they name none.
pub fn resolve_without_discovery(objects: &[Object], options: &ApplyOptions) -> Vec<ObjectRef> {
    let scopes = defined_scopes(objects);
    let target = options.target_namespace.as_deref().unwrap_or("");
    objects
        .iter()
        .map(|o| {
            let id = o.id();
            let namespaced = !id.is_cluster_scoped()
                && scopes
                    .get(&(id.group.clone(), id.kind.clone()))
                    .copied()
                    .unwrap_or(true);
            resolved_id(id, namespaced, target)
        })
        .collect()
}

/// Applies objects to a target, prunes, waits for health and reports drift.
///
/// # Guarantees
/// - `apply` is idempotent: applying the same objects twice reports them [`Action::Unchanged`]
///   the second time and writes nothing.
/// - `apply` orders objects itself: definitions (CRDs, namespaces) first, waiting until they are
///   usable, then the rest (see [`apply_rank`]).
/// - `apply` honours Flux's per-object annotations through [`decide`] (skipped objects are
///   reported [`Action::Skipped`]) and writes the options' [`Owner`] labels on what it applies.
/// - `resolve` names each object exactly as `apply` reports it: the reconciler records these
///   identities before applying, and an identity recorded one way and applied another would
///   make a later prune delete a live object.
/// - `delete` deletes only the objects it is given, in the order given, and skips
///   ([`Action::Skipped`]) every object [`keep_on_prune`] keeps: opted out, or not carrying the
///   owner's labels. An identity whose namespace does not fit its kind's scope names no object
///   and is skipped, never "corrected" into another object.
/// - Secret values never appear in errors or drift reports.
///
/// # Cancellation
/// Dropping a future stops between objects; what was applied stays applied.
///
/// # Errors
/// See [`Error`]; [`Error::is_transient`] tells whether a retry can help.
#[async_trait]
pub trait Applier: Send + Sync {
    /// The identities the objects have once applied with `options` (namespace defaulted or
    /// dropped by the kind's real scope), one per object, in order.
    ///
    /// The default resolves without discovery ([`resolve_without_discovery`]); a backend that
    /// knows the target's scopes overrides it, and must fail for kinds it cannot resolve rather
    /// than guess.
    async fn resolve(
        &self,
        objects: &[Object],
        options: &ApplyOptions,
    ) -> Result<Vec<ObjectRef>, Error> {
        Ok(resolve_without_discovery(objects, options))
    }

    /// Applies the objects and reports one change per object.
    async fn apply(&self, objects: &[Object], options: &ApplyOptions) -> Result<ChangeSet, Error>;

    /// Deletes the given objects (a prune), in the order given, leaving alone what
    /// [`keep_on_prune`] keeps under `options`.
    async fn delete(
        &self,
        objects: &[ObjectRef],
        options: &ApplyOptions,
    ) -> Result<ChangeSet, Error>;

    /// Waits until the objects are healthy or the timeout passes, and reports their health.
    async fn wait(&self, objects: &[ObjectRef], timeout: Duration) -> Result<HealthReport, Error>;

    /// Reports how the target differs from the objects, in the fields the objects set.
    async fn diff(&self, objects: &[Object]) -> Result<Vec<Drift>, Error>;
}

/// The position of a kind in apply order, lower first; deletions use the reverse.
///
/// Definitions come first (CRDs, namespaces, cluster-wide policy and RBAC), then configuration,
/// then services and workloads, and admission webhooks last so they cannot block the rest.
pub fn apply_rank(id: &ObjectRef) -> u8 {
    match id.kind.as_str() {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "ResourceQuota" | "StorageClass" | "PriorityClass" | "RuntimeClass" | "IngressClass" => 2,
        "ServiceAccount" | "ClusterRole" | "Role" | "ClusterRoleBinding" | "RoleBinding" => 3,
        "ConfigMap" | "Secret" | "LimitRange" => 4,
        "PersistentVolume" | "PersistentVolumeClaim" => 5,
        "Service" | "Endpoints" | "EndpointSlice" => 6,
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => 9,
        "APIService" => 8,
        _ => 7,
    }
}

/// Whether an object belongs to the first apply stage (what other objects need to exist).
pub fn is_first_stage(id: &ObjectRef) -> bool {
    apply_rank(id) <= 1 || matches!(id.kind.as_str(), "ClusterRole" | "ClusterRoleBinding")
}

/// Sorts objects into apply order, stable within a rank.
pub fn sort_for_apply(objects: &mut [Object]) {
    objects.sort_by_key(|o| apply_rank(o.id()));
}

// --- printing drift ---------------------------------------------------------------------

/// A readable report of drift, whatever the target (a cluster, an output folder): one block per
/// object, `-` for the live value and `+` for the desired one. Secret values arrive masked from
/// the applier and stay masked.
///
/// ```
/// use gitops_core::{ObjectRef, apply::{Drift, FieldDrift}};
///
/// let id = ObjectRef::new("apps", "v1", "Deployment", Some("web"), "api");
/// let text = gitops_core::apply::render_diff(&[Drift::Changed {
///     id,
///     fields: vec![FieldDrift { path: "/spec/replicas".into(), desired: Some("2".into()), live: Some("5".into()) }],
/// }]);
/// assert_eq!(text, "~ Deployment.apps/web/api\n    /spec/replicas\n      - 5\n      + 2\n");
/// ```
pub fn render_diff(drifts: &[Drift]) -> String {
    let mut out = String::new();
    for drift in drifts {
        match drift {
            Drift::Missing(id) => {
                let _ = writeln!(out, "+ {id} (missing)");
            }
            Drift::Changed { id, fields } => {
                let _ = writeln!(out, "~ {id}");
                for field in fields {
                    let _ = writeln!(out, "    {}", field.path);
                    match &field.live {
                        Some(live) => {
                            let _ = writeln!(out, "      - {live}");
                        }
                        None => {
                            let _ = writeln!(out, "      - (absent)");
                        }
                    }
                    match &field.desired {
                        Some(desired) => {
                            let _ = writeln!(out, "      + {desired}");
                        }
                        None => {
                            let _ = writeln!(out, "      + (removed)");
                        }
                    }
                }
            }
        }
    }
    out
}

/// The exit code of a diff command, as `kubectl diff` has it: 0 in sync, 1 differences, 2 error.
pub fn diff_exit_code(result: &Result<Vec<Drift>, Error>) -> i32 {
    match result {
        Ok(drifts) if drifts.is_empty() => 0,
        Ok(_) => 1,
        Err(_) => 2,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn change_summary_names_objects_as_flux_events_do() {
        let mut changes = ChangeSet::default();
        changes.push(
            ObjectRef::new("apps", "v1", "Deployment", Some("web"), "api"),
            Action::Created,
        );
        changes.push(
            ObjectRef::new("", "v1", "Namespace", None, "web"),
            Action::Configured,
        );
        changes.push(
            ObjectRef::new(
                "rbac.authorization.k8s.io",
                "v1",
                "Role",
                Some("web"),
                "reader",
            ),
            Action::Deleted,
        );
        changes.push(
            ObjectRef::new("", "v1", "ConfigMap", Some("web"), "same"),
            Action::Unchanged,
        );
        assert_eq!(
            changes.summary(),
            "Deployment/web/api created\nNamespace/web configured\nRole/web/reader deleted"
        );
    }

    use super::*;

    #[test]
    fn definitions_come_first_and_webhooks_last() {
        let mut objects = crate::object::parse_yaml(
            "x.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: n}\n---\n\
             apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: w}\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n---\n\
             apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: c.example.com}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n",
        )
        .unwrap();
        sort_for_apply(&mut objects);
        let kinds: Vec<&str> = objects.iter().map(|o| o.id().kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "CustomResourceDefinition",
                "Namespace",
                "ConfigMap",
                "Deployment",
                "ValidatingWebhookConfiguration"
            ]
        );
        assert!(is_first_stage(objects[0].id()) && is_first_stage(objects[1].id()));
        assert!(!is_first_stage(objects[2].id()));
    }

    fn value(annotations: serde_json::Value, labels: serde_json::Value) -> Value {
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "n", "annotations": annotations, "labels": labels}})
    }

    #[test]
    fn decide_follows_fluxs_per_object_annotations() {
        let plain = value(serde_json::json!({}), serde_json::json!({}));
        let opts = ApplyOptions::default();
        let apply = Decision::Apply { recreate: false };
        assert_eq!(decide(&plain, None, &opts), apply);
        assert_eq!(decide(&plain, Some(&plain), &opts), apply);

        // IfNotPresent: created once, never overwritten (labels count too; values fold case).
        let seeded = value(
            serde_json::json!({SSA_ANNOTATION: "IfNotPresent"}),
            serde_json::json!({}),
        );
        assert_eq!(decide(&seeded, None, &opts), apply);
        assert_eq!(decide(&seeded, Some(&plain), &opts), Decision::Skip);
        let by_label = value(
            serde_json::json!({}),
            serde_json::json!({SSA_ANNOTATION: "ifnotpresent"}),
        );
        assert_eq!(decide(&by_label, Some(&plain), &opts), Decision::Skip);

        // Ignore and reconcile: disabled, on the desired or the live copy.
        for (key, val) in [
            (SSA_ANNOTATION, "Ignore"),
            (RECONCILE_ANNOTATION, "disabled"),
        ] {
            let marked = value(serde_json::json!({key: val}), serde_json::json!({}));
            assert_eq!(decide(&marked, None, &opts), Decision::Skip, "{key}");
            assert_eq!(
                decide(&plain, Some(&marked), &opts),
                Decision::Skip,
                "{key}"
            );
        }

        // Recreate: the options' force, or the object's own annotation on either copy.
        let forced = value(
            serde_json::json!({FORCE_ANNOTATION: "Enabled"}),
            serde_json::json!({}),
        );
        let recreate = Decision::Apply { recreate: true };
        assert_eq!(decide(&forced, Some(&plain), &opts), recreate);
        assert_eq!(decide(&plain, Some(&forced), &opts), recreate);
        assert_eq!(
            decide(&plain, Some(&plain), &opts.clone().with_force(true)),
            recreate
        );
        let merge = value(
            serde_json::json!({SSA_ANNOTATION: "Merge"}),
            serde_json::json!({}),
        );
        assert_eq!(decide(&merge, Some(&plain), &opts), apply);
    }

    #[test]
    fn prune_keeps_what_is_not_ours_or_opted_out() {
        let me = ObjectRef::new(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            Some("flux-system"),
            "apps",
        );
        let owner = Owner::of(&me);
        assert_eq!(
            owner.selector(),
            "kustomize.toolkit.fluxcd.io/name=apps,kustomize.toolkit.fluxcd.io/namespace=flux-system"
        );
        let opts = ApplyOptions::default().with_owner(owner.clone());
        let mut ours =
            crate::Object::new(value(serde_json::json!({}), serde_json::json!({}))).unwrap();
        owner.label(&mut ours).unwrap();
        assert!(owner.owns(ours.value()));
        assert_eq!(keep_on_prune(ours.value(), &opts), None);

        let unlabelled = value(serde_json::json!({}), serde_json::json!({}));
        assert_eq!(keep_on_prune(&unlabelled, &opts), Some("not owned"));
        // Without an owner, only the opt-outs count.
        assert_eq!(keep_on_prune(&unlabelled, &ApplyOptions::default()), None);

        let theirs = value(
            serde_json::json!({}),
            serde_json::json!({
            "kustomize.toolkit.fluxcd.io/name": "infra",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
        );
        assert_eq!(keep_on_prune(&theirs, &opts), Some("not owned"));
        for (key, val) in [
            (crate::object::PRUNE_ANNOTATION, "disabled"),
            (RECONCILE_ANNOTATION, "Disabled"),
        ] {
            let mut opted = ours.clone();
            opted
                .edit(|m| {
                    m["metadata"]["annotations"] = serde_json::json!({key: val});
                })
                .unwrap();
            assert!(keep_on_prune(opted.value(), &opts).is_some(), "{key}");
        }
        assert!(Owner::is_owner_label("kustomize.toolkit.fluxcd.io/name"));
        assert!(Owner::is_owner_label("helm.toolkit.fluxcd.io/namespace"));
        assert!(!Owner::is_owner_label("app.kubernetes.io/name"));
    }

    #[test]
    fn identities_resolve_by_scope_including_crds_of_the_set() {
        let objects = crate::object::parse_yaml(
            "x.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gadgets.example.com}\n\
             spec: {group: example.com, scope: Cluster, names: {kind: Gadget, plural: gadgets}}\n---\n\
             apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g, namespace: apps}\n---\n\
             apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: apps}\n",
        )
        .unwrap();
        let ids = resolve_without_discovery(
            &objects,
            &ApplyOptions::default().with_target_namespace("apps"),
        );
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "CustomResourceDefinition.apiextensions.k8s.io/gadgets.example.com",
                "Gadget.example.com/g",
                "Widget.example.com/apps/w",
                "ClusterRole.rbac.authorization.k8s.io/r",
            ]
        );
    }

    #[test]
    fn change_set_counts_and_summarises() {
        let mut set = ChangeSet::default();
        let id = ObjectRef::new("", "v1", "ConfigMap", Some("a"), "b");
        set.push(id.clone(), Action::Unchanged);
        assert!(!set.has_changes());
        set.push(id, Action::Created);
        assert!(set.has_changes());
        assert_eq!(set.count(Action::Created), 1);
        assert_eq!(set.summary(), "ConfigMap/a/b created");
    }
}
