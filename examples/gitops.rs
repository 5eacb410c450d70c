//! `gitops`: the command line over the library, one subcommand per building block.
//!
//! ```text
//! cargo run --example gitops -- --help
//! ```
//!
//! Errors print their whole cause chain and exit non-zero; `diff` exits 0 in sync, 1 when it
//! found differences and 2 on error, as `kubectl diff` does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gitops::apply::Drift;
use gitops::local::{DirectoryApplier, DirectorySource};
use gitops::reconcile::Options;
use gitops::render::RenderRequest;
use gitops::{Action, Applier, ObjectRef, Reconciler, Renderer};

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
    /// Render a directory and print the objects as multi-document YAML.
    Build {
        /// The directory to render.
        dir: PathBuf,
    },
    /// Run one reconcile pass of a local folder into an output folder (rendered manifests).
    Reconcile {
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
    },
    /// Show how an output folder differs from a render of the repository.
    Diff {
        /// The repository folder.
        repo: PathBuf,
        /// The path to render inside the repository.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// The output folder to compare with.
        #[arg(long)]
        out: PathBuf,
    },
    /// Image automation.
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Rewrite the fields marked `# {"$imagepolicy": "<namespace>:<policy>"}` below DIR in place
    /// and print what changed.
    Update {
        /// The tree to update.
        dir: PathBuf,
        /// The latest image of a policy, `<namespace>:<policy>=<image:tag>`, repeatable.
        #[arg(long = "set", value_parser = parse_var, required = true)]
        set: Vec<(String, String)>,
    },
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))
}

fn renderer() -> impl Renderer {
    gitops::local::PlainRenderer::new()
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
        Command::Build { dir } => {
            let objects = renderer().render(&RenderRequest::new(&dir, ".")).await?;
            print!("{}", gitops::object::to_yaml(&objects)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile {
            repo,
            path,
            out,
            no_prune,
            vars,
        } => {
            let applier = DirectoryApplier::new(&out);
            let me = ObjectRef::new(
                "kustomize.toolkit.fluxcd.io",
                "v1",
                "Kustomization",
                None,
                "cli",
            );
            let vars: BTreeMap<String, String> = vars.into_iter().collect();
            let reconciler = Reconciler::new(
                me,
                Arc::new(DirectorySource::new(&repo)),
                Arc::new(renderer()),
                Arc::new(applier.clone()),
            )
            .with_inventory_store(Arc::new(applier))
            .with_options(
                Options::default()
                    .with_path(path)
                    .with_prune(!no_prune)
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
        Command::Image(ImageCommand::Update { dir, set }) => {
            let policies = set.into_iter().collect();
            let update = gitops::local::images::update_tree(&dir, &policies)?;
            for change in &update.changes {
                println!(
                    "{}:{}: {} -> {} ({})",
                    change.file, change.line, change.old, change.new, change.policy
                );
            }
            for marker in &update.unresolved {
                eprintln!(
                    "{}:{}: no image given for policy {}, left as it is",
                    marker.file, marker.line, marker.policy
                );
            }
            println!(
                "{} fields changed in {} files",
                update.changes.len(),
                update.files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { repo, path, out } => {
            let objects = renderer()
                .render(&RenderRequest::new(&repo, &path))
                .await
                .context("render failed")?;
            let drifts = DirectoryApplier::new(&out).diff(&objects).await?;
            print!("{}", format_drift(&drifts));
            Ok(if drifts.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn format_drift(drifts: &[Drift]) -> String {
    let mut out = String::new();
    for drift in drifts {
        match drift {
            Drift::Missing(id) => out.push_str(&format!("+ {id} (missing)\n")),
            Drift::Changed { id, fields } => {
                out.push_str(&format!("~ {id}\n"));
                for field in fields {
                    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "<absent>".into());
                    out.push_str(&format!(
                        "    {}: {} -> {}\n",
                        field.path,
                        show(&field.live),
                        show(&field.desired)
                    ));
                }
            }
        }
    }
    out
}
