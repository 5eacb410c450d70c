//! [`Event`]s: what a pass tells people and other systems.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use crate::{ObjectRef, Revision};

/// Event reasons, as Flux's controllers name them, so alerts written for Flux keep matching.
pub mod reason {
    /// A pass applied the revision and all checks passed.
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    /// A pass failed at a stage not covered by a more precise reason.
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    /// Objects changed (created, configured, deleted).
    pub const PROGRESSING: &str = "Progressing";
    /// The source could not be fetched.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// The render (kustomize build) failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// Decryption failed, e.g. the key is missing.
    pub const DECRYPTION_FAILED: &str = "DecryptionFailed";
    /// Applying failed.
    pub const APPLY_FAILED: &str = "ReconciliationFailed";
    /// Pruning failed.
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// Objects did not become healthy in time.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// A dependency is not ready yet.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// The cluster differs from Git in fields we own.
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    /// An image policy found no tag.
    pub const IMAGE_NOT_FOUND: &str = "ImageNotFound";
}

/// How serious an event is; Flux has two levels.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Normal progress.
    Info,
    /// Something failed.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Error => "error",
        })
    }
}

/// One event about an object a host reconciles (a Kustomization, a GitRepository).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// How serious.
    pub severity: Severity,
    /// A CamelCase reason from [`reason`].
    pub reason: String,
    /// What happened, for a person.
    pub message: String,
    /// The object the event is about.
    pub involved_object: ObjectRef,
    /// The revision concerned, if any.
    pub revision: Option<Revision>,
    /// Extra key/values (e.g. `duration`, `summary`).
    pub metadata: BTreeMap<String, String>,
    /// When it happened.
    #[serde(with = "unix_seconds")]
    pub timestamp: SystemTime,
}

impl Event {
    /// A new event, stamped now.
    pub fn new(
        severity: Severity,
        involved_object: ObjectRef,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            reason: reason.into(),
            message: message.into(),
            involved_object,
            revision: None,
            metadata: BTreeMap::new(),
            timestamp: SystemTime::now(),
        }
    }

    /// Sets the revision.
    pub fn with_revision(mut self, revision: Option<Revision>) -> Self {
        self.revision = revision;
        self
    }

    /// Adds one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

mod unix_seconds {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        serializer.serialize_u64(secs)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
        Ok(UNIX_EPOCH + Duration::from_secs(u64::deserialize(deserializer)?))
    }
}
