//! `gitops`: the command line over the library, one subcommand per building block.
//!
//! ```text
//! cargo run -p gitops-cli -- --help
//! ```
//!
//! Errors print their whole cause chain and exit non-zero; `diff` exits 0 in sync, 1 when it
//! found differences and 2 on error, as `kubectl diff` does.
//!
//! One module per subcommand family: `build`, `sops`, `source`, `image`, `helm`, `apply`
//! (`diff` and `apply`), `local` (`reconcile local`), `cluster` (`get`, `reconcile
//! source|kustomization|image`, `suspend`, `resume`, `events` against a cluster where a
//! controller reconciles Flux's objects, as the `flux` CLI does), `tree`, `export`, `logs`, and `install` (`install`, `uninstall`) with `bootstrap`.
//!
//! `build`, `diff` and `apply` bound what a render may read to one repository root, as Flux
//! bounds it to the source artifact: `--root DIR` when given, else the enclosing Git work tree
//! (the nearest directory up from DIR holding `.git`, a directory or a worktree's file), so
//! `clusters/prod` may refer to `../../apps/web`. Outside a work tree and without `--root`,
//! `diff` and `apply` keep DIR itself as the root (a lone folder reads nothing beside it) and
//! `build` has no bound, as `kubectl kustomize`. A DIR outside `--root`, or a read out of the
//! root, is an error naming the path and the root.
#![forbid(unsafe_code)]

mod apply;
mod bootstrap;
mod build;
mod cluster;
mod common;
mod export;
mod helm;
mod image;
mod install;
mod local;
mod logs;
mod root;
mod sops;
mod source;
mod tree;

use std::process::ExitCode;

// A CLI run renders, builds or decrypts and exits: hundreds of thousands of small allocations
// (a chart's parse trees and values) that mimalloc serves faster than the system allocator
// (benches/README.md, the Helm renderer's rounds).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gitops",
    version,
    about = "Git as the source of truth for Kubernetes: the gitops-rs command line"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a kustomization and print it, byte for byte as `kubectl kustomize DIR` does.
    Build(build::BuildArgs),
    /// SOPS files: decrypt and encrypt with age keys, like the `sops` binary.
    #[command(subcommand)]
    Sops(sops::SopsCommand),
    /// Reconcile: a local folder once, or ask the cluster's controller to reconcile a Flux
    /// object now and wait for it.
    #[command(subcommand)]
    Reconcile(cluster::ReconcileCommand),
    /// Show how a cluster (`--kubeconfig`) or an output folder (`--out`) differs from a render
    /// of DIR; Secret values are masked. Exit 0 in sync, 1 when it differs, 2 on error.
    Diff(apply::DiffArgs),
    /// Render DIR and server-side apply it to a cluster (or write it to `--out`), in stages,
    /// optionally pruning and waiting.
    Apply(apply::ApplyArgs),
    /// Git sources.
    #[command(subcommand)]
    Source(source::SourceCommand),
    /// Image automation.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// List Flux objects with their revision and readiness, in `flux get`'s shapes (`get all`,
    /// `get sources git`, `get ks`, `get images policy`, `--status-selector ready=false`).
    #[command(subcommand)]
    Get(cluster::GetCommand),
    /// Stop reconciling an object (`spec.suspend: true`).
    #[command(subcommand)]
    Suspend(cluster::TargetCommand),
    /// Reconcile a suspended object again (`spec.suspend: false`), then wait for a reconcile.
    #[command(subcommand)]
    Resume(cluster::TargetCommand),
    /// Helm charts, rendered natively; releases installed, upgraded, rolled back and
    /// uninstalled as Helm v4 records them.
    #[command(subcommand)]
    Helm(helm::HelmCommand),
    /// List the Kubernetes events of Flux objects, oldest first, like `flux events`.
    Events(cluster::EventsArgs),
    /// Print a Kustomization's inventory as a tree, nested through the Kustomizations it
    /// applies, like `flux tree`.
    #[command(subcommand)]
    Tree(tree::TreeCommand),
    /// Print Flux objects as clean YAML to apply elsewhere, like `flux export`.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Install the controller in a cluster (CRDs, least-privilege RBAC, Deployment, Services,
    /// NetworkPolicy) with server-side apply, or print it with `--export`; re-running upgrades
    /// in place.
    Install(install::InstallArgs),
    /// Commit the installation and a sync of this cluster's folder to a Git repository, apply
    /// them once, and let the controller manage itself from Git (`flux bootstrap`).
    #[command(subcommand)]
    Bootstrap(bootstrap::BootstrapCommand),
    /// Remove the controller; Flux's objects and the namespace stay unless
    /// `--delete-user-objects`.
    Uninstall(install::UninstallArgs),
    /// Print the controller's log lines (from its pods, or `--from-file`), filtered by level
    /// and object, like `flux logs`.
    Logs(logs::LogsArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Build(args) => build::run(args),
        Command::Sops(command) => sops::run(command),
        Command::Reconcile(command) => cluster::reconcile_command(command).await,
        Command::Diff(args) => apply::diff(args).await,
        Command::Apply(args) => apply::apply(args).await,
        Command::Source(command) => source::run(command).await,
        Command::Image(command) => image::run(command).await,
        Command::Get(command) => cluster::get_command(command).await,
        Command::Suspend(command) => cluster::suspend_command(command).await,
        Command::Resume(command) => cluster::resume_command(command).await,
        Command::Helm(command) => helm::run(command).await,
        Command::Events(args) => cluster::events_command(args).await,
        Command::Tree(command) => tree::run(command).await,
        Command::Export(command) => export::run(command).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Install(args) => install::install(args).await,
        Command::Bootstrap(command) => bootstrap::run(command).await,
        Command::Uninstall(args) => install::uninstall(args).await,
    }
}
