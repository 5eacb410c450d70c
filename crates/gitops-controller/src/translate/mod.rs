//! Flux's objects as the library's options: plain functions from a spec to what a pass
//! composes, checked before anything is read from the cluster. One module per API group:
//! [`kustomization`] (Kustomization), [`source`] (GitRepository, HelmRepository), [`image`] (ImagePolicy,
//! ImageRepository, ImageUpdateAutomation) and [`notification`] (Provider, Alert, Receiver).
//! A spec these functions refuse is [`Invalid`]: its pass records a stalled failure and waits
//! for the object to change, since retrying the same spec cannot help.

use std::time::Duration;

pub mod image;
pub mod kustomization;
pub mod notification;
pub mod source;

pub use image::{
    AutomationPlan, ImageRepositoryPlan, image_policy, image_repository, image_update_automation,
};
pub use kustomization::{KustomizationPlan, kustomization};
pub use notification::{AlertPlan, ReceiverPlan, alert, provider, receiver};
pub use source::{GitRepositoryPlan, HelmRepositoryPlan, git_repository, helm_repository};
pub use source::{LayerOperation, OciReference, OciRepositoryPlan, oci_repository};

/// A spec field the controller cannot honour, named by its path in the object.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Invalid {
    /// A duration field that is set but is not a Go duration.
    #[error("spec.{field}: {value:?} is not a duration (Go syntax: 30s, 5m, 1h30m)")]
    Duration {
        /// The field (`interval`, `retryInterval`, `timeout`).
        field: &'static str,
        /// Its text.
        value: String,
    },
    /// A source kind this controller does not serve.
    #[error("spec.sourceRef.kind: {0} is not supported (GitRepository is)")]
    SourceKind(String),
    /// A decryption provider other than SOPS.
    #[error("spec.decryption.provider: {0} is not supported (sops is)")]
    DecryptionProvider(String),
    /// A `substituteFrom` entry of a kind other than ConfigMap or Secret.
    #[error(
        "spec.postBuild.substituteFrom[{index}].kind: {kind} is not supported (ConfigMap or Secret)"
    )]
    SubstituteKind {
        /// The entry's position.
        index: usize,
        /// Its kind.
        kind: String,
    },
    /// A GitRepository URL of a scheme Flux does not allow (credentials left out).
    #[error("spec.url: {0}")]
    Url(String),
    /// A GitRepository `spec.ref` that does not name a valid reference.
    #[error("spec.ref: {0}")]
    Reference(#[from] gitops_git::reference::ParseError),
    /// An ImagePolicy whose choice or tag filter cannot be used.
    #[error("spec.{field}: {message}")]
    Policy {
        /// The field (`policy`, `policy.semver.range`, `filterTags.pattern`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A patch or image entry that does not convert to kustomize's form.
    #[error("spec.{field}: {message}")]
    Entry {
        /// The list (`patches`, `patchesJson6902`, `images`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A closed set of values (a provider or receiver type, a strategy, a severity) given one
    /// it does not hold.
    #[error("spec.{field}: {value:?} is not supported ({supported})")]
    Unsupported {
        /// The field (`type`, `update.strategy`, `eventSeverity`, …).
        field: &'static str,
        /// The value written.
        value: String,
        /// What is accepted, for the message.
        supported: &'static str,
    },
    /// A regular expression (an exclusion or inclusion list entry) that does not compile.
    #[error("spec.{field}: {message}")]
    Pattern {
        /// The list (`exclusionList`, `inclusionList`).
        field: &'static str,
        /// The compiler's message, with the pattern.
        message: String,
    },
    /// A value the spec (or the Secret it names) gives wrongly or not at all.
    #[error("spec.{field}: {message}")]
    Value {
        /// The field (`image`, `address`, …).
        field: &'static str,
        /// What is wrong or missing, and where it may be given.
        message: String,
    },
    /// A reference or path that reaches outside what the object may use: another namespace's
    /// source, a path leaving the checkout.
    #[error("spec.{field}: {message}")]
    AccessDenied {
        /// The field (`sourceRef`, `update.path`).
        field: &'static str,
        /// What was refused.
        message: String,
    },
}

impl Invalid {
    /// The condition reason Flux uses for a failure of this part of the spec.
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::SourceKind(_) => "ArtifactFailed",
            Invalid::Url(_) => "URLInvalid",
            Invalid::Reference(_) => "GitOperationFailed",
            Invalid::DecryptionProvider(_) => "DecryptionFailed",
            Invalid::SubstituteKind { .. } | Invalid::Entry { .. } => "BuildFailed",
            Invalid::AccessDenied { .. } => "AccessDenied",
            Invalid::Duration { .. }
            | Invalid::Policy { .. }
            | Invalid::Unsupported { .. }
            | Invalid::Pattern { .. }
            | Invalid::Value { .. } => "ReconciliationFailed",
        }
    }
}

/// A duration field: `fallback` when unset or empty (or zero, which would spin), an error
/// when set to something that is not a Go duration.
fn duration(
    field: &'static str,
    text: Option<&str>,
    fallback: Duration,
) -> Result<Duration, Invalid> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(fallback),
        Some(text) => match gitops_flux::parse_duration(text) {
            Some(d) if d.is_zero() => Ok(fallback),
            Some(d) => Ok(d),
            None => Err(Invalid::Duration {
                field,
                value: text.to_string(),
            }),
        },
    }
}
