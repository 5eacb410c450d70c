//! The controller's installation as Kubernetes objects, and the operations on it.
//!
//! [`manifests`] lays out what `gitops install` applies (and prints with `--export`): Flux's
//! CRDs as the controller serves them, the namespace, a ServiceAccount with least-privilege
//! RBAC ([`rbac`]), a hardened Deployment of `gitops-controller`, a Service for its metrics and
//! one for the webhook receiver, and a NetworkPolicy ([`workload`]). [`install`] applies them
//! with server-side apply through any [`Applier`] (re-running upgrades in place) and can wait
//! for the Deployment; [`uninstall`] removes them, keeping the user's objects unless asked.
//!
//! ```
//! use gitops_install::{InstallOptions, manifests};
//!
//! let objects = manifests(&InstallOptions::default()).unwrap();
//! assert!(objects.iter().any(|o| o.id().kind == "Deployment"));
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

use gitops_core::apply::{ApplyOptions, ChangeSet};
use gitops_core::{Applier, Object, ObjectRef};

pub mod bootstrap;
pub mod monitoring;
pub mod rbac;
pub mod uninstall;
pub mod workload;

pub use uninstall::{Removal, uninstall};

/// The name of the controller's ServiceAccount, ClusterRole, Deployment and metrics Service.
pub const CONTROLLER: &str = "gitops-controller";

/// The namespace Flux installs into, and ours by default.
pub const DEFAULT_NAMESPACE: &str = "flux-system";

/// The field manager of the installation's server-side apply.
pub const FIELD_MANAGER: &str = "gitops-install";

/// The label every installed object carries, for `kubectl get -l` and for [`uninstall`].
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "gitops");

/// The annotation that keeps CRDs and the namespace out of any prune (Flux's).
pub const PRUNE_ANNOTATION: (&str, &str) = ("kustomize.toolkit.fluxcd.io/prune", "disabled");

/// What the controller may apply on behalf of Kustomizations that name no ServiceAccount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReconcileRights {
    /// Namespaced workloads and their configuration, namespaces, and Flux's own kinds; no
    /// cluster-wide RBAC, CRDs, nodes or admission webhooks ([`rbac::reconciler_rules`]).
    #[default]
    Namespaced,
    /// Everything (`cluster-admin`), as Flux's own installation grants: needed when the
    /// repository itself holds CRDs, ClusterRoles or webhooks.
    ClusterAdmin,
}

/// A part of the installation, by the name of the Flux controller that serves the same kinds
/// (`flux install --components`): its CRDs are installed, and the controller watches only the
/// kinds the API server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// `GitRepository`, `HelmRepository`, `HelmChart`, `OCIRepository`.
    SourceController,
    /// `Kustomization`.
    KustomizeController,
    /// `HelmRelease`.
    HelmController,
    /// `Provider`, `Alert`, `Receiver`.
    NotificationController,
    /// `ImageRepository`, `ImagePolicy`.
    ImageReflectorController,
    /// `ImageUpdateAutomation`.
    ImageAutomationController,
}

impl Component {
    /// Every component, the default.
    pub const ALL: [Component; 6] = [
        Self::SourceController,
        Self::KustomizeController,
        Self::HelmController,
        Self::NotificationController,
        Self::ImageReflectorController,
        Self::ImageAutomationController,
    ];

    /// Flux's name of the component (`source-controller`).
    pub fn name(self) -> &'static str {
        match self {
            Self::SourceController => "source-controller",
            Self::KustomizeController => "kustomize-controller",
            Self::HelmController => "helm-controller",
            Self::NotificationController => "notification-controller",
            Self::ImageReflectorController => "image-reflector-controller",
            Self::ImageAutomationController => "image-automation-controller",
        }
    }

    /// The component whose kinds the CRD file `file` (of [`gitops_flux::crds::FILES`]) defines.
    fn of_crd_file(file: &str) -> Option<Self> {
        let (group, resource) = file.trim_end_matches(".yaml").split_once('_')?;
        Some(match (group, resource) {
            ("source.toolkit.fluxcd.io", _) => Self::SourceController,
            ("kustomize.toolkit.fluxcd.io", _) => Self::KustomizeController,
            ("helm.toolkit.fluxcd.io", _) => Self::HelmController,
            ("notification.toolkit.fluxcd.io", _) => Self::NotificationController,
            ("image.toolkit.fluxcd.io", "imageupdateautomations") => {
                Self::ImageAutomationController
            }
            ("image.toolkit.fluxcd.io", _) => Self::ImageReflectorController,
            _ => return None,
        })
    }
}

/// How to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallOptions {
    /// The namespace of the controller (and of its Lease).
    pub namespace: String,
    /// The controller's image reference.
    pub image: String,
    /// What the controller may apply.
    pub rights: ReconcileRights,
    /// The components whose CRDs are installed ([`Component::ALL`] by default).
    pub components: Vec<Component>,
    /// The controller's `--log-level` filter (`RUST_LOG` syntax).
    pub log_level: String,
    /// Also the alerts, the scrape configuration and the dashboards ([`monitoring`]).
    pub monitoring: bool,
    /// Also the `gitops-bootstrap` ServiceAccount, bound to `cluster-admin`, that the sync
    /// Kustomization of a bootstrapped repository applies as ([`bootstrap`]).
    pub bootstrap: bool,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.into(),
            image: default_image(),
            rights: ReconcileRights::default(),
            components: Component::ALL.to_vec(),
            log_level: "info".into(),
            monitoring: false,
            bootstrap: false,
        }
    }
}

/// The image built from this version of the project.
pub fn default_image() -> String {
    format!(
        "ghcr.io/gitops-rs/gitops-controller:v{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// What went wrong laying out, applying or removing the installation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option cannot be used (a namespace that is not a DNS label, an empty image).
    #[error("{0}")]
    Option(String),
    /// An object of the installation did not form (a CRD file that does not parse).
    #[error("building {what}")]
    Object {
        /// The object or file.
        what: String,
        /// Why.
        #[source]
        source: gitops_core::object::Error,
    },
    /// The cluster refused the apply, or a wait timed out.
    #[error("applying the installation")]
    Apply(#[source] gitops_core::apply::Error),
    /// The Deployment did not become ready in time.
    #[error("the controller did not become ready within {timeout:?}: {message}")]
    NotReady {
        /// How long was waited.
        timeout: Duration,
        /// What the health check saw.
        message: String,
    },
    /// The cluster refused a removal.
    #[error("removing {what}")]
    Remove {
        /// The object or kind.
        what: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
}

/// Every object of the installation, in apply order: CRDs, the namespace, RBAC, the
/// Deployment, the Services and the NetworkPolicy, and with `monitoring` the alerts, the
/// PodMonitor and the dashboards.
///
/// # Errors
/// [`Error::Option`] for a namespace that is not a DNS label or an empty image.
pub fn manifests(options: &InstallOptions) -> Result<Vec<Object>, Error> {
    check(options)?;
    let mut objects = Vec::new();
    for (file, text) in gitops_flux::crds::FILES {
        let wanted = Component::of_crd_file(file).is_some_and(|c| options.components.contains(&c));
        if !wanted {
            continue;
        }
        let parsed =
            gitops_core::object::parse_yaml(file, text).map_err(|source| Error::Object {
                what: (*file).to_string(),
                source,
            })?;
        for crd in parsed {
            objects.push(labelled(crd.into_value())?);
        }
    }
    let monitoring = if options.monitoring {
        monitoring::objects(options)?
    } else {
        Vec::new()
    };
    let values = [workload::namespace(options)]
        .into_iter()
        .chain(rbac::objects(options))
        .chain(workload::objects(options))
        .chain(monitoring);
    for value in values {
        objects.push(labelled(value)?);
    }
    gitops_core::apply::sort_for_apply(&mut objects);
    Ok(objects)
}

/// The installation as one YAML stream, as `gitops install --export` prints it.
///
/// # Errors
/// As [`manifests`].
pub fn export(options: &InstallOptions) -> Result<String, Error> {
    let objects = manifests(options)?;
    gitops_core::object::to_yaml(&objects).map_err(|source| Error::Object {
        what: "the YAML stream".into(),
        source,
    })
}

/// Applies the installation with server-side apply and, with `wait`, waits that long for the
/// Deployment to be available. An existing installation is upgraded in place: the apply is
/// forced, so fields someone changed by hand (or another manager set) are taken back, and an
/// object whose immutable fields changed between versions is recreated. Give the applier the
/// field manager [`FIELD_MANAGER`], as `gitops install` does.
///
/// # Errors
/// [`Error::Apply`] when the cluster refuses an object, [`Error::NotReady`] when the wait runs
/// out.
pub async fn install(
    applier: &dyn Applier,
    options: &InstallOptions,
    wait: Option<Duration>,
) -> Result<ChangeSet, Error> {
    install_owned(applier, options, None, wait).await
}

/// [`install`], writing `owner`'s labels on every object, as the Kustomization that will
/// manage the installation from Git writes them ([`bootstrap::sync_owner`]).
///
/// # Errors
/// As [`install`].
pub async fn install_owned(
    applier: &dyn Applier,
    options: &InstallOptions,
    owner: Option<gitops_core::apply::Owner>,
    wait: Option<Duration>,
) -> Result<ChangeSet, Error> {
    let objects = manifests(options)?;
    let mut apply = ApplyOptions::default().with_force(true);
    if let Some(owner) = owner {
        apply = apply.with_owner(owner);
    }
    let changes = applier
        .apply(&objects, &apply)
        .await
        .map_err(Error::Apply)?;
    if let Some(timeout) = wait {
        wait_ready(applier, options, timeout).await?;
    }
    Ok(changes)
}

/// Waits up to `timeout` for the controller's Deployment to be available.
///
/// # Errors
/// [`Error::NotReady`] when it is not by then, [`Error::Apply`] when the cluster cannot be read.
pub async fn wait_ready(
    applier: &dyn Applier,
    options: &InstallOptions,
    timeout: Duration,
) -> Result<(), Error> {
    let deployment = ObjectRef::new(
        "apps",
        "v1",
        "Deployment",
        Some(&options.namespace),
        CONTROLLER,
    );
    let report = applier
        .wait(&[deployment], timeout)
        .await
        .map_err(Error::Apply)?;
    if !report.is_healthy() {
        let message = report
            .not_ready()
            .map(|h| format!("{}: {}", h.id, h.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::NotReady { timeout, message });
    }
    Ok(())
}

fn check(options: &InstallOptions) -> Result<(), Error> {
    let ns = &options.namespace;
    let label = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if !label {
        return Err(Error::Option(format!(
            "namespace {ns:?} is not a DNS label (lower-case letters, digits and '-', at most 63)"
        )));
    }
    if options.components.is_empty() {
        return Err(Error::Option(
            "no components: give at least one (source-controller, kustomize-controller, …)".into(),
        ));
    }
    if options.image.trim().is_empty() || options.image.chars().any(char::is_whitespace) {
        return Err(Error::Option(format!(
            "image {:?} is not an image reference",
            options.image
        )));
    }
    Ok(())
}

/// The object with the [`PART_OF`] label added; CRDs and the namespace also get Flux's
/// `prune: disabled`, so that a Kustomization managing the installation (a bootstrapped
/// repository) never deletes them, and with them every user object, when it is removed.
fn labelled(mut value: serde_json::Value) -> Result<Object, Error> {
    let protect = matches!(
        value["kind"].as_str(),
        Some("CustomResourceDefinition" | "Namespace")
    );
    if let Some(metadata) = value
        .as_object_mut()
        .and_then(|o| o.get_mut("metadata"))
        .and_then(|m| m.as_object_mut())
    {
        if protect {
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.insert(PRUNE_ANNOTATION.0.into(), PRUNE_ANNOTATION.1.into());
            }
        }
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(PART_OF.0.into(), PART_OF.1.into());
        }
    }
    let what = value["kind"].as_str().unwrap_or("object").to_string();
    Object::new(value).map_err(|source| Error::Object { what, source })
}
