//! What `gitops bootstrap git` writes into the repository, as `flux bootstrap` does: under
//! `<path>/flux-system/`, `gotk-components.yaml` (the installation), `gotk-sync.yaml` (a
//! `GitRepository` and a `Kustomization`, both `flux-system`, that sync `<path>`), and a
//! `kustomization.yaml` listing the two. From then on the controller manages itself from Git.
//!
//! The sync Kustomization applies as the `gitops-bootstrap` ServiceAccount of the install
//! namespace, bound to `cluster-admin`: applying the installation (CRDs, ClusterRoles) needs
//! those rights, while the controller's own stay least-privilege. Only objects in the install
//! namespace can name that account.

use std::time::Duration;

use gitops_core::apply::Owner;
use gitops_core::{Object, ObjectRef};
use serde_json::{Value, json};

use crate::{Error, InstallOptions, export};

/// The ServiceAccount the sync Kustomization applies as.
pub const BOOTSTRAP_ACCOUNT: &str = "gitops-bootstrap";

/// The name of the sync `GitRepository`, `Kustomization` and credentials Secret (Flux's).
pub const SYNC_NAME: &str = "flux-system";

/// What to sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncOptions {
    /// The repository URL (`https://`, `http://`, `ssh://`).
    pub url: String,
    /// The branch to follow.
    pub branch: String,
    /// The folder of this cluster in the repository (`clusters/vps`), without `./`.
    pub path: String,
    /// The Secret with the Git credentials, in the install namespace.
    pub secret: Option<String>,
    /// How often the GitRepository fetches.
    pub interval: Duration,
}

impl SyncOptions {
    /// `url` at `branch`, syncing `path`, fetched every minute.
    pub fn new(url: impl Into<String>, branch: impl Into<String>, path: impl Into<String>) -> Self {
        let path: String = path.into();
        Self {
            url: url.into(),
            branch: branch.into(),
            path: path.trim_start_matches("./").trim_matches('/').to_string(),
            secret: None,
            interval: Duration::from_secs(60),
        }
    }

    /// Uses the Secret `name` for Git credentials.
    pub fn with_secret(mut self, name: impl Into<String>) -> Self {
        self.secret = Some(name.into());
        self
    }
}

/// The sync `GitRepository` and `Kustomization`.
///
/// # Errors
/// [`Error::Option`] for a path that leaves the repository or an empty URL or branch.
pub fn sync_objects(options: &InstallOptions, sync: &SyncOptions) -> Result<Vec<Object>, Error> {
    check(sync)?;
    let ns = options.namespace.as_str();
    let mut source = json!({"interval": format!("{}s", sync.interval.as_secs().max(1)),
                            "ref": {"branch": sync.branch}, "url": sync.url});
    if let Some(secret) = &sync.secret {
        source["secretRef"] = json!({"name": secret});
    }
    let values: [Value; 2] = [
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": SYNC_NAME, "namespace": ns}, "spec": source}),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": SYNC_NAME, "namespace": ns},
               "spec": {"interval": "10m0s", "path": format!("./{}", sync.path), "prune": true,
                        "serviceAccountName": BOOTSTRAP_ACCOUNT,
                        "sourceRef": {"kind": "GitRepository", "name": SYNC_NAME}}}),
    ];
    values
        .into_iter()
        .map(|value| {
            Object::new(value).map_err(|source| Error::Object {
                what: "the sync objects".into(),
                source,
            })
        })
        .collect()
}

/// The files to commit, as `(path in the repository, text)`.
///
/// # Errors
/// As [`sync_objects`] and [`export`].
pub fn files(options: &InstallOptions, sync: &SyncOptions) -> Result<Vec<(String, String)>, Error> {
    let options = InstallOptions {
        bootstrap: true,
        ..options.clone()
    };
    let sync_yaml =
        gitops_core::object::to_yaml(&sync_objects(&options, sync)?).map_err(|source| {
            Error::Object {
                what: "gotk-sync.yaml".into(),
                source,
            }
        })?;
    let dir = format!("{}/flux-system", sync.path);
    Ok(vec![
        (format!("{dir}/gotk-components.yaml"), export(&options)?),
        (format!("{dir}/gotk-sync.yaml"), sync_yaml),
        (
            format!("{dir}/kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-components.yaml\n- gotk-sync.yaml\n".into(),
        ),
    ])
}

/// The owner the sync Kustomization writes on what it applies, so a bootstrap's own apply
/// writes the same labels and the two never take fields from each other.
pub fn sync_owner(options: &InstallOptions) -> Owner {
    Owner::of(&ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some(&options.namespace),
        SYNC_NAME,
    ))
}

fn check(sync: &SyncOptions) -> Result<(), Error> {
    if sync.url.trim().is_empty() || sync.branch.trim().is_empty() {
        return Err(Error::Option(
            "the repository URL and branch must be set".into(),
        ));
    }
    let leaves = sync.path.is_empty()
        || sync.path.starts_with('/')
        || sync
            .path
            .split('/')
            .any(|part| part == ".." || part.is_empty());
    if leaves {
        return Err(Error::Option(format!(
            "path {:?} must be a folder inside the repository (clusters/NAME)",
            sync.path
        )));
    }
    Ok(())
}
