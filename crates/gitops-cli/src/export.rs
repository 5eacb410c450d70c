//! `gitops export`: Flux objects as clean YAML to apply elsewhere, as `flux export` writes
//! them: `apiVersion`, `kind`, `metadata` with name, namespace, labels and annotations (not
//! kubectl's last-applied copy), and `spec`; no status, no server-set fields.

use std::process::ExitCode;

use clap::Subcommand;
use gitops::Object;
use gitops::flux::{
    Alert, FluxObject, GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation,
    Kustomization, Provider, Receiver,
};
use kube::Api;
use kube::api::ListParams;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::cluster::{ClusterArgs, within};

#[derive(Subcommand)]
pub(crate) enum ExportCommand {
    /// Sources: `git` (GitRepository).
    #[command(subcommand)]
    Source(ExportSource),
    /// Kustomizations.
    #[command(alias = "ks")]
    Kustomization(ExportArgs),
    /// Image automation: `repository`, `policy` or `update`.
    #[command(subcommand)]
    Image(ExportImage),
    /// Alerts.
    Alert(ExportArgs),
    /// Alert providers.
    #[command(name = "alert-provider")]
    AlertProvider(ExportArgs),
    /// Receivers.
    Receiver(ExportArgs),
}

/// `gitops export source KIND`.
#[derive(Subcommand)]
pub(crate) enum ExportSource {
    /// GitRepository objects.
    Git(ExportArgs),
}

/// `gitops export image KIND`.
#[derive(Subcommand)]
pub(crate) enum ExportImage {
    /// ImageRepository objects.
    Repository(ExportArgs),
    /// ImagePolicy objects.
    Policy(ExportArgs),
    /// ImageUpdateAutomation objects.
    Update(ExportArgs),
}

/// Which objects to export.
#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    /// The object's name.
    #[arg(required_unless_present = "all")]
    name: Option<String>,
    /// Every object of the kind in the namespace.
    #[arg(long, conflicts_with = "name")]
    all: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Runs `export`.
pub(crate) async fn run(command: ExportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ExportCommand::Source(ExportSource::Git(args)) => export::<GitRepository>(args).await,
        ExportCommand::Kustomization(args) => export::<Kustomization>(args).await,
        ExportCommand::Image(ExportImage::Repository(args)) => {
            export::<ImageRepository>(args).await
        }
        ExportCommand::Image(ExportImage::Policy(args)) => export::<ImagePolicy>(args).await,
        ExportCommand::Image(ExportImage::Update(args)) => {
            export::<ImageUpdateAutomation>(args).await
        }
        ExportCommand::Alert(args) => export::<Alert>(args).await,
        ExportCommand::AlertProvider(args) => export::<Provider>(args).await,
        ExportCommand::Receiver(args) => export::<Receiver>(args).await,
    }
}

async fn export<K>(args: ExportArgs) -> anyhow::Result<ExitCode>
where
    K: FluxObject + Clone + std::fmt::Debug + DeserializeOwned + Serialize,
{
    let timeout = args.cluster.timeout;
    within(timeout, async move {
        let client = args.cluster.client().await?;
        let api: Api<K> = Api::namespaced(client, &args.cluster.namespace);
        let mut objects = match &args.name {
            Some(name) if !args.all => match api.get_opt(name).await? {
                Some(object) => vec![object],
                None => anyhow::bail!(
                    "{} {}/{name} not found",
                    K::kind(&()),
                    args.cluster.namespace
                ),
            },
            _ => api.list(&ListParams::default()).await?.items,
        };
        objects.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
        let mut out = String::new();
        for object in &objects {
            out.push_str("---\n");
            out.push_str(&Object::new(clean(serde_json::to_value(object)?))?.to_yaml()?);
        }
        crate::common::emit(&out)?;
        Ok(ExitCode::SUCCESS)
    })
    .await
}

/// The object as one would write it: what the server added (status, uid, resourceVersion,
/// managedFields, generation, timestamps, finalizers, owner references) and kubectl's
/// last-applied copy left out.
fn clean(object: Value) -> Value {
    let Value::Object(mut object) = object else {
        return object;
    };
    let mut metadata = Map::new();
    if let Some(Value::Object(live)) = object.remove("metadata") {
        for key in ["name", "namespace", "labels", "annotations"] {
            match live.get(key) {
                Some(Value::Object(map)) if map.is_empty() => {}
                Some(value) if !value.is_null() => {
                    metadata.insert(key.into(), value.clone());
                }
                _ => {}
            }
        }
    }
    if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        if annotations.is_empty() {
            metadata.remove("annotations");
        }
    }
    let mut out = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(value) = object.remove(key) {
            out.insert(key.into(), value);
        }
    }
    out.insert("metadata".into(), Value::Object(metadata));
    if let Some(spec) = object.remove("spec") {
        out.insert("spec".into(), spec);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn export_keeps_what_one_writes_and_drops_what_the_server_adds() {
        let live = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {
                "name": "apps", "namespace": "flux-system", "uid": "1234",
                "resourceVersion": "99", "generation": 3, "creationTimestamp": "2026-12-07T00:00:00Z",
                "managedFields": [{"manager": "gitops"}], "finalizers": ["finalizers.fluxcd.io"],
                "labels": {"team": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
            },
            "spec": {"interval": "10m", "path": "./apps", "prune": true},
            "status": {"conditions": []}
        });
        assert_eq!(
            clean(live),
            json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": "apps", "namespace": "flux-system", "labels": {"team": "web"}},
                "spec": {"interval": "10m", "path": "./apps", "prune": true}
            })
        );
    }
}
