//! `gitops diff` and `gitops apply`: a render of DIR against a cluster or an output folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gitops::apply::{diff_exit_code, render_diff};
use gitops::local::{DirectoryApplier, DirectorySource};
use gitops::reconcile::Options;
use gitops::render::RenderRequest;
use gitops::{Applier, Reconciler, Renderer};

use crate::common::{cli_owner, renderer};
use crate::root::{WorkTreeSource, locate_or_dir};

/// What to render: DIR within its repository root.
#[derive(clap::Args)]
struct RenderArgs {
    /// The directory to render (kustomization, or a folder taken whole).
    dir: PathBuf,
    /// The repository root reads are bounded to (default: the enclosing Git work tree,
    /// else DIR itself).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// `gitops diff DIR`.
#[derive(clap::Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    render: RenderArgs,
    /// Compare with the cluster of this kubeconfig.
    #[arg(long, conflicts_with = "out", required_unless_present = "out")]
    kubeconfig: Option<PathBuf>,
    /// Compare with this output folder of `reconcile`.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `gitops apply DIR`.
#[derive(clap::Args)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    render: RenderArgs,
    /// The kubeconfig of the cluster.
    #[arg(long, conflicts_with = "out", required_unless_present = "out")]
    kubeconfig: Option<PathBuf>,
    /// Write to this output folder instead of a cluster, one file per object, as
    /// `reconcile local` does (its inventory is kept in the folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Delete objects the last apply owned and this render lacks (on a cluster, needs
    /// --inventory).
    #[arg(long)]
    prune: bool,
    /// Wait until the applied objects are healthy.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Keep the inventory in this ConfigMap, `NAMESPACE/NAME`.
    #[arg(long)]
    inventory: Option<String>,
}

/// Renders DIR and prints how the target differs, with one printer for both targets; exits
/// 0 in sync, 1 when it differs, 2 on error, as `kubectl diff` does.
pub(crate) async fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let located = locate_or_dir(&args.render.dir, args.render.root.as_deref())?;
    let objects = renderer()
        .render(&RenderRequest::new(&located.root, &located.path))
        .await
        .with_context(|| format!("render failed ({})", located.describe()))?;
    let result = match (args.kubeconfig, args.out) {
        (Some(kubeconfig), _) => {
            let applier = gitops::kube::KubeApplier::from_kubeconfig(&kubeconfig).await?;
            applier.diff(&objects).await
        }
        (None, Some(out)) => DirectoryApplier::new(&out).diff(&objects).await,
        (None, None) => anyhow::bail!("give --kubeconfig or --out"),
    };
    if let Ok(drifts) = &result {
        crate::common::emit(&render_diff(drifts))?;
    }
    let code = diff_exit_code(&result);
    result?;
    Ok(ExitCode::from(code as u8))
}

/// Renders DIR and applies it in stages, pruning and waiting as asked; prints each change.
pub(crate) async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let located = locate_or_dir(&args.render.dir, args.render.root.as_deref())?;
    let me = cli_owner();
    let options = Options::default()
        .with_path(&located.path)
        .with_prune(args.prune)
        .with_wait(args.wait)
        .with_timeout(Duration::from_secs(args.timeout));
    let source = Arc::new(WorkTreeSource {
        dir: DirectorySource::new(&args.render.dir),
        root: located.root.clone(),
    });
    let reconciler = match (args.kubeconfig, args.out) {
        (Some(kubeconfig), _) => {
            if args.prune && args.inventory.is_none() {
                anyhow::bail!("--prune on a cluster needs --inventory NAMESPACE/NAME");
            }
            let applier = gitops::kube::KubeApplier::from_kubeconfig(&kubeconfig).await?;
            let mut reconciler =
                Reconciler::new(me, source, Arc::new(renderer()), Arc::new(applier.clone()))
                    .with_options(options);
            if let Some(flag) = &args.inventory {
                let store =
                    gitops::kube::ConfigMapInventory::from_flag(applier.client().clone(), flag)
                        .with_context(|| {
                            format!("--inventory must be NAMESPACE/NAME, got {flag:?}")
                        })?;
                reconciler = reconciler.with_inventory_store(Arc::new(store));
            }
            reconciler
        }
        (None, Some(out)) => {
            if args.inventory.is_some() {
                anyhow::bail!("--inventory is for a cluster; --out keeps its own");
            }
            let applier = DirectoryApplier::new(&out);
            Reconciler::new(me, source, Arc::new(renderer()), Arc::new(applier.clone()))
                .with_inventory_store(Arc::new(applier))
                .with_options(options)
        }
        (None, None) => anyhow::bail!("give --kubeconfig or --out"),
    };
    let outcome = reconciler.reconcile(None).await.map_err(|f| {
        anyhow::Error::new(f.error).context(format!("{} failed ({})", f.stage, located.describe()))
    })?;
    for change in &outcome.changes.changes {
        println!("{} {}", change.id, change.action);
    }
    if let Some(health) = &outcome.health {
        println!("{} objects healthy", health.objects.len());
    }
    Ok(ExitCode::SUCCESS)
}
