//! `gitops install` and `gitops uninstall`: the controller in a cluster, as `flux install` and
//! `flux uninstall` do it.

use std::process::ExitCode;
use std::time::Duration;

use gitops::apply::Action;
use gitops::install::{Component, InstallOptions, ReconcileRights, Removal};

use crate::cluster::ClusterArgs;

/// `gitops install`.
#[derive(clap::Args)]
pub(crate) struct InstallArgs {
    /// Print the manifests as YAML instead of applying them.
    #[arg(long)]
    export: bool,
    /// The components to install (Flux's controller names), comma-separated; all by default.
    /// The controller watches only the kinds whose CRDs are installed.
    #[arg(long, value_delimiter = ',', value_parser = component)]
    components: Vec<Component>,
    /// The controller's image.
    #[arg(long, default_value_t = gitops::install::default_image())]
    image: String,
    /// Let the controller apply anything (`cluster-admin`, as Flux's own installation does)
    /// instead of namespaced workloads and Flux's kinds only. Needed when the repository holds
    /// CRDs, ClusterRoles or admission webhooks.
    #[arg(long)]
    cluster_admin: bool,
    /// The controller's log filter (`info`, `debug`, `info,kube=warn`).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Also install the alerts (a PrometheusRule), a PodMonitor and the Grafana dashboards
    /// (a ConfigMap for Grafana's sidecar); needs the Prometheus operator's CRDs.
    #[arg(long)]
    monitoring: bool,
    /// Apply without waiting for the controller to become ready.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// `gitops uninstall`.
#[derive(clap::Args)]
pub(crate) struct UninstallArgs {
    /// Also delete Flux's objects (GitRepositories, Kustomizations, …), the CRDs and the
    /// namespace. What those objects applied stays in the cluster either way.
    #[arg(long)]
    delete_user_objects: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// A component by Flux's name; an unknown one is refused with the accepted names.
fn component(name: &str) -> Result<Component, String> {
    Component::ALL
        .into_iter()
        .find(|c| c.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Component::ALL.iter().map(|c| c.name()).collect();
            format!(
                "unknown component {name:?} (accepted: {})",
                names.join(", ")
            )
        })
}

fn options(args: &InstallArgs) -> InstallOptions {
    InstallOptions {
        namespace: args.cluster.namespace.clone(),
        image: args.image.clone(),
        rights: if args.cluster_admin {
            ReconcileRights::ClusterAdmin
        } else {
            ReconcileRights::Namespaced
        },
        log_level: args.log_level.clone(),
        monitoring: args.monitoring,
        components: if args.components.is_empty() {
            Component::ALL.to_vec()
        } else {
            args.components.clone()
        },
        ..InstallOptions::default()
    }
}

/// Prints or applies the installation; one line per object applied, with what changed.
pub(crate) async fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let options = options(&args);
    if args.export {
        crate::common::emit(&gitops::install::export(&options)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let client = args.cluster.client().await?;
    let applier = gitops::kube::KubeApplier::with_options(
        client,
        gitops::kube::KubeApplierOptions::default()
            .with_field_manager(gitops::install::FIELD_MANAGER),
    );
    let wait = (!args.no_wait).then_some(args.cluster.timeout);
    let changes = gitops::install::install(&applier, &options, wait).await?;
    for change in &changes.changes {
        println!("{} {}", change.id, change.action);
    }
    let changed = changes
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .count();
    println!(
        "installed in {}: {changed} of {} objects changed",
        options.namespace,
        changes.changes.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes the installation.
pub(crate) async fn uninstall(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    // With monitoring and the bootstrap account, so they go too when they were installed
    // (absent ones are skipped).
    let options = InstallOptions {
        namespace: args.cluster.namespace.clone(),
        monitoring: true,
        bootstrap: true,
        ..InstallOptions::default()
    };
    let removal = if args.delete_user_objects {
        Removal::DeleteUserObjects
    } else {
        Removal::KeepUserObjects
    };
    let client = args.cluster.client().await?;
    let removed = tokio::time::timeout(
        args.cluster.timeout.max(Duration::from_secs(1)),
        gitops::install::uninstall(&client, &options, removal),
    )
    .await
    .map_err(|_| anyhow::anyhow!("uninstall did not finish within {:?}", args.cluster.timeout))??;
    for id in &removed {
        println!("{id} deleted");
    }
    println!(
        "uninstalled from {}: {} objects deleted",
        options.namespace,
        removed.len()
    );
    Ok(ExitCode::SUCCESS)
}
