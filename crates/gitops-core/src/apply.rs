//! The [`Applier`] trait: making a cluster (or any target) hold the rendered objects.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

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

    /// `Kind/ns/name created` lines for the objects that changed, as Flux's events list them.
    pub fn summary(&self) -> String {
        self.changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .map(|c| format!("{} {}", c.id, c.action))
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

/// Options of one apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Recreate objects whose immutable fields changed, take over conflicting fields.
    pub force: bool,
    /// The namespace for namespaced objects that name none.
    pub target_namespace: Option<String>,
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
}

/// Applies objects to a target, prunes, waits for health and reports drift.
///
/// # Guarantees
/// - `apply` is idempotent: applying the same objects twice reports them [`Action::Unchanged`]
///   the second time and writes nothing.
/// - `apply` orders objects itself: definitions (CRDs, namespaces) first, waiting until they are
///   usable, then the rest (see [`apply_rank`]).
/// - `delete` deletes only the objects it is given, in the order given, and skips
///   ([`Action::Skipped`]) objects annotated `kustomize.toolkit.fluxcd.io/prune: disabled`.
/// - Secret values never appear in errors or drift reports.
///
/// # Cancellation
/// Dropping a future stops between objects; what was applied stays applied.
///
/// # Errors
/// See [`Error`]; [`Error::is_transient`] tells whether a retry can help.
#[async_trait]
pub trait Applier: Send + Sync {
    /// Applies the objects and reports one change per object.
    async fn apply(&self, objects: &[Object], options: &ApplyOptions) -> Result<ChangeSet, Error>;

    /// Deletes the given objects (a prune), in the order given.
    async fn delete(&self, objects: &[ObjectRef]) -> Result<ChangeSet, Error>;

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

#[cfg(test)]
mod tests {
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
