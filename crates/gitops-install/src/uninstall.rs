//! Removing an installation.
//!
//! The controller's own objects go first (the Deployment, so nothing reconciles while the rest
//! goes), in reverse apply order. The user's objects — Flux's custom resources, the namespace
//! with its Secrets — stay unless [`Removal::DeleteUserObjects`] is asked for. Objects that
//! Kustomizations applied are never deleted by an uninstall, in either mode: the finalizers
//! that would prune them are removed first, as Flux's uninstall does, so a workload outlives
//! the tool that deployed it.

use gitops_core::ObjectRef;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

use crate::{Error, InstallOptions, manifests};

/// What to remove besides the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Keep the CRDs (and so every GitRepository, Kustomization, …) and the namespace.
    KeepUserObjects,
    /// Also delete Flux's custom resources (their finalizers removed first, nothing pruned),
    /// the CRDs and the namespace.
    DeleteUserObjects,
}

/// Removes the installation; returns what was deleted (`Kind/namespace/name`), in order.
/// Objects already gone are skipped, so a second run succeeds and deletes nothing.
///
/// # Errors
/// [`Error::Remove`] when the API server refuses a list, patch or delete.
pub async fn uninstall(
    client: &kube::Client,
    options: &InstallOptions,
    removal: Removal,
) -> Result<Vec<String>, Error> {
    let mut objects = manifests(options)?;
    objects.reverse();
    let mut removed = Vec::new();
    let (definitions, rest): (Vec<_>, Vec<_>) = objects
        .iter()
        .map(|o| o.id().clone())
        .partition(|id| matches!(id.kind.as_str(), "CustomResourceDefinition" | "Namespace"));
    for id in &rest {
        if delete(client, id).await? {
            removed.push(id.to_string());
        }
    }
    if removal == Removal::DeleteUserObjects {
        for object in &objects {
            if object.id().kind == "CustomResourceDefinition" {
                release_custom_objects(client, object.value()).await?;
            }
        }
        for id in &definitions {
            if delete(client, id).await? {
                removed.push(id.to_string());
            }
        }
    }
    Ok(removed)
}

fn api(client: &kube::Client, id: &ObjectRef, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(&id.group, &id.version, &id.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    match &id.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// The plural of the kinds an installation holds.
fn plural(kind: &str) -> String {
    match kind {
        "NetworkPolicy" => "networkpolicies".into(),
        _ => format!("{}s", kind.to_ascii_lowercase()),
    }
}

/// Deletes one object (its dependents are left to the garbage collector); `false` when
/// it was already gone.
async fn delete(client: &kube::Client, id: &ObjectRef) -> Result<bool, Error> {
    let api = api(client, id, &plural(&id.kind));
    match api.delete(&id.name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(Error::Remove {
            what: id.to_string(),
            source,
        }),
    }
}

/// Removes Flux's finalizer from every object of a CRD, so deleting the CRD deletes them
/// without a controller pruning what they applied.
async fn release_custom_objects(
    client: &kube::Client,
    crd: &serde_json::Value,
) -> Result<(), Error> {
    let spec = &crd["spec"];
    let (Some(group), Some(kind), Some(plural)) = (
        spec["group"].as_str(),
        spec["names"]["kind"].as_str(),
        spec["names"]["plural"].as_str(),
    ) else {
        return Ok(());
    };
    let Some(version) = spec["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["storage"] == true))
        .and_then(|v| v["name"].as_str())
    else {
        return Ok(());
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let listed = match all.list_metadata(&ListParams::default()).await {
        Ok(listed) => listed,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(source) => {
            return Err(Error::Remove {
                what: format!("the finalizers of {plural}.{group}"),
                source,
            });
        }
    };
    for item in listed.items {
        let finalizers = item.metadata.finalizers.unwrap_or_default();
        if finalizers.is_empty() {
            continue;
        }
        let (Some(name), Some(ns)) = (item.metadata.name, item.metadata.namespace) else {
            continue;
        };
        let kept: Vec<String> = finalizers
            .into_iter()
            .filter(|f| f != "finalizers.fluxcd.io")
            .collect();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
        let patch = Patch::Merge(serde_json::json!({"metadata": {"finalizers": kept}}));
        if let Err(source) = api
            .patch_metadata(&name, &PatchParams::default(), &patch)
            .await
        {
            if !matches!(&source, kube::Error::Api(s) if s.code == 404) {
                return Err(Error::Remove {
                    what: format!("the finalizers of {kind} {ns}/{name}"),
                    source,
                });
            }
        }
    }
    Ok(())
}
