//! `gitops reconcile local`: one reconcile pass of a local folder into an output folder.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use gitops::local::{DirectoryApplier, DirectorySource};
use gitops::reconcile::Options;
use gitops::{Action, Reconciler};

use crate::common::{cli_owner, parse_var, renderer};

/// `gitops reconcile local REPO --out DIR`.
#[derive(clap::Args)]
pub(crate) struct LocalArgs {
    /// The repository folder.
    repo: PathBuf,
    /// The path to render inside the repository.
    #[arg(long, default_value = ".")]
    path: PathBuf,
    /// The output folder, one file per object, with its inventory.
    #[arg(long)]
    out: PathBuf,
    /// Keep objects that left the render instead of pruning them.
    #[arg(long)]
    no_prune: bool,
    /// Post-build variables, `NAME=VALUE`, repeatable.
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

/// Runs the pass and prints what changed.
pub(crate) async fn run(args: LocalArgs) -> anyhow::Result<ExitCode> {
    let applier = DirectoryApplier::new(&args.out);
    let vars: BTreeMap<String, String> = args.vars.into_iter().collect();
    let reconciler = Reconciler::new(
        cli_owner(),
        Arc::new(DirectorySource::new(&args.repo)),
        Arc::new(renderer()),
        Arc::new(applier.clone()),
    )
    .with_inventory_store(Arc::new(applier))
    .with_options(
        Options::default()
            .with_path(args.path)
            .with_prune(!args.no_prune)
            .with_substitute(vars),
    );
    let outcome = reconciler
        .reconcile(None)
        .await
        .map_err(|f| anyhow::Error::new(f.error).context(format!("{} failed", f.stage)))?;
    println!("revision {}", outcome.revision);
    for change in outcome
        .changes
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
    {
        println!("{} {}", change.id, change.action);
    }
    println!(
        "{} objects, {} unchanged",
        outcome.inventory.len(),
        outcome.changes.count(Action::Unchanged)
    );
    Ok(ExitCode::SUCCESS)
}
