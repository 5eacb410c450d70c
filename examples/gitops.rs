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
use gitops::image::policy::{Choice, Order, Policy};
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
    /// Build a kustomization and print it, byte for byte as `kubectl kustomize DIR` does.
    Build {
        /// The directory to build.
        dir: PathBuf,
        /// `LoadRestrictionsRootOnly` (default) or `LoadRestrictionsNone`.
        #[arg(long, default_value = "LoadRestrictionsRootOnly")]
        load_restrictor: String,
        /// `legacy` (default: kustomize's order by kind) or `none` (input order).
        #[arg(long, default_value = "legacy")]
        reorder: String,
    },
    /// SOPS files: decrypt and encrypt with age keys, like the `sops` binary.
    #[command(subcommand)]
    Sops(SopsCommand),
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
    /// Show how a cluster (`--kubeconfig`) or an output folder (`--out`) differs from a render
    /// of DIR; Secret values are masked. Exit 0 in sync, 1 when it differs, 2 on error.
    Diff {
        /// The directory to render (kustomization, or a folder taken whole).
        dir: PathBuf,
        /// Compare with the cluster of this kubeconfig.
        #[arg(long, conflicts_with = "out", required_unless_present = "out")]
        kubeconfig: Option<PathBuf>,
        /// Compare with this output folder of `reconcile`.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Render DIR and server-side apply it to a cluster, in stages, optionally pruning and waiting.
    Apply {
        /// The directory to render (kustomization, or a folder taken whole).
        dir: PathBuf,
        /// The kubeconfig of the cluster.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Delete objects the last apply owned and this render lacks (needs --inventory).
        #[arg(long, requires = "inventory")]
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
    },
    /// Git sources.
    #[command(subcommand)]
    Source(SourceCommand),
    /// Image automation.
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Subcommand)]
enum SourceCommand {
    /// Fetch a revision of a Git repository into DEST and print the revision.
    Fetch {
        /// The repository URL (`https://`, `ssh://`, `git://`, `file://`).
        url: String,
        /// `branch:main`, `tag:v1.0.0`, `semver:>=1.0.0`, `commit:<sha>` or `name:refs/…`.
        #[arg(long = "ref", default_value = "branch:main")]
        reference: String,
        /// Where the checked-out tree goes (no `.git`).
        #[arg(long)]
        dest: PathBuf,
        /// A Flux-style secret (YAML) with `username`/`password` or `identity`/`known_hosts`.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RegistryArgs {
    /// A Docker config JSON with credentials (`.dockerconfigjson`).
    #[arg(long)]
    auth_file: Option<PathBuf>,
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    insecure: bool,
}

impl RegistryArgs {
    fn scanner(&self) -> anyhow::Result<gitops::registry::RegistryScanner> {
        use gitops::registry::{Credentials, DockerConfig, RegistryScanner};
        let mut scanner = RegistryScanner::new()?.with_insecure(self.insecure);
        if let Some(file) = &self.auth_file {
            let json =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            scanner =
                scanner.with_credentials(Credentials::DockerConfig(DockerConfig::parse(&json)?));
        }
        Ok(scanner)
    }
}

#[derive(Subcommand)]
enum SopsCommand {
    /// Decrypt FILE to stdout with the keys of `SOPS_AGE_KEY_FILE` / `SOPS_AGE_KEY`.
    Decrypt {
        /// The encrypted file.
        file: PathBuf,
    },
    /// Encrypt FILE to stdout for age recipients.
    Encrypt {
        /// Recipients, comma separated.
        #[arg(long, value_delimiter = ',', required = true)]
        age: Vec<String>,
        /// Encrypt only the values of keys matching this regex (e.g. `^(data|stringData)$`).
        #[arg(long)]
        encrypted_regex: Option<String>,
        /// The plaintext file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// List the tags of an image repository (`host[:port]/path`), after Flux's default exclusions.
    Tags {
        /// The image repository.
        repository: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Print the tag a policy selects, among a repository's tags or the tags of a file.
    Policy {
        /// The image repository to scan (or give --tags-file).
        repository: Option<String>,
        /// Read tags from this file (one per line, `-` for stdin) instead of a registry.
        #[arg(long, conflicts_with = "repository")]
        tags_file: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
        /// A semver range in Flux's syntax (`>=1.0.0`, `~1.2`, `^1`, `1.x`, `>=1.0.0-0`).
        #[arg(long, group = "choice")]
        semver: Option<String>,
        /// Alphabetical order, `asc` or `desc`.
        #[arg(long, group = "choice")]
        alphabetical: Option<String>,
        /// Numerical order, `asc` or `desc`.
        #[arg(long, group = "choice")]
        numerical: Option<String>,
        /// `filterTags.pattern`.
        #[arg(long)]
        pattern: Option<String>,
        /// `filterTags.extract` (`$1`, `$name`).
        #[arg(long, default_value = "")]
        extract: String,
    },
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
    // Like Flux: a directory without a kustomization file is taken whole.
    gitops::kustomize::KustomizeRenderer::new()
}

fn order(text: &str) -> anyhow::Result<Order> {
    match text {
        "asc" => Ok(Order::Asc),
        "desc" => Ok(Order::Desc),
        other => anyhow::bail!("order must be asc or desc, got {other:?}"),
    }
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
        Command::Build {
            dir,
            load_restrictor,
            reorder,
        } => {
            use gitops::kustomize::{BuildOptions, LoadRestrictor, Reorder};
            let restrictor = match load_restrictor.as_str() {
                "LoadRestrictionsRootOnly" => LoadRestrictor::RootOnly,
                "LoadRestrictionsNone" => LoadRestrictor::None,
                other => anyhow::bail!("unknown load restrictor {other:?}"),
            };
            let reorder = match reorder.as_str() {
                "legacy" => Reorder::Legacy,
                "none" => Reorder::None,
                other => anyhow::bail!("unknown reorder {other:?}: legacy or none"),
            };
            let options = BuildOptions::default()
                .with_load_restrictor(restrictor)
                .with_reorder(reorder);
            print!("{}", gitops::kustomize::build_to_string(&dir, &options)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sops(SopsCommand::Decrypt { file }) => {
            let key_file =
                match std::env::var_os("SOPS_AGE_KEY_FILE") {
                    Some(path) => Some(std::fs::read_to_string(&path).with_context(|| {
                        format!("cannot read {}", PathBuf::from(path).display())
                    })?),
                    None => None,
                };
            let key = std::env::var("SOPS_AGE_KEY").ok();
            let keys = gitops::sops::Keyring::from_env_like(key_file.as_deref(), key.as_deref())?;
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let plaintext = gitops::sops::decrypt(&file, &content, &keys)?;
            std::io::Write::write_all(&mut std::io::stdout(), plaintext.expose())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sops(SopsCommand::Encrypt {
            age,
            encrypted_regex,
            file,
        }) => {
            let mut options = gitops::sops::EncryptOptions::default().with_age_recipients(age);
            if let Some(regex) = encrypted_regex {
                options = options.with_rule(gitops::sops::EncryptionRule::EncryptedRegex(regex));
            }
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let encrypted = gitops::sops::encrypt(&file, &content, &options)?;
            std::io::Write::write_all(&mut std::io::stdout(), &encrypted)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Image(ImageCommand::Tags {
            repository,
            registry,
        }) => {
            use gitops::ImageScanner;
            let result = registry.scanner()?.scan(&repository).await?;
            for tag in &result.tags {
                println!("{tag}");
            }
            eprintln!(
                "{} tags in {:.0} ms",
                result.tags.len(),
                result.duration.as_secs_f64() * 1e3
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Image(ImageCommand::Policy {
            repository,
            tags_file,
            registry,
            semver,
            alphabetical,
            numerical,
            pattern,
            extract,
        }) => {
            use gitops::ImageScanner;
            let text = match (repository, tags_file) {
                (Some(repository), None) => {
                    registry.scanner()?.scan(&repository).await?.tags.join("\n")
                }
                (None, Some(file)) if file.as_os_str() == "-" => {
                    std::io::read_to_string(std::io::stdin())?
                }
                (None, Some(file)) => std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
                _ => anyhow::bail!("give an image repository or --tags-file"),
            };
            let choice = match (semver, alphabetical, numerical) {
                (Some(range), None, None) => Choice::Semver(range.parse()?),
                (None, Some(o), None) => Choice::Alphabetical(order(&o)?),
                (None, None, Some(o)) => Choice::Numerical(order(&o)?),
                _ => anyhow::bail!("give one of --semver, --alphabetical, --numerical"),
            };
            let mut policy = Policy::new(choice);
            if let Some(pattern) = pattern {
                policy = policy.with_filter(&pattern, &extract)?;
            }
            println!(
                "{}",
                policy.latest(text.lines().map(str::trim).filter(|t| !t.is_empty()))?
            );
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
        Command::Diff {
            dir,
            kubeconfig,
            out,
        } => {
            let objects = renderer()
                .render(&RenderRequest::new(&dir, "."))
                .await
                .context("render failed")?;
            let drifts = match (kubeconfig, out) {
                (Some(kubeconfig), _) => {
                    let applier = gitops::kube::KubeApplier::from_kubeconfig(&kubeconfig).await?;
                    let result = applier.diff(&objects).await;
                    if let Ok(drifts) = &result {
                        print!("{}", gitops::kube::render_diff(drifts));
                    }
                    let code = gitops::kube::diff_exit_code(&result);
                    result?;
                    return Ok(ExitCode::from(code as u8));
                }
                (None, Some(out)) => DirectoryApplier::new(&out).diff(&objects).await?,
                (None, None) => anyhow::bail!("give --kubeconfig or --out"),
            };
            print!("{}", format_drift(&drifts));
            Ok(if drifts.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Apply {
            dir,
            kubeconfig,
            prune,
            wait,
            timeout,
            inventory,
        } => {
            let applier = gitops::kube::KubeApplier::from_kubeconfig(&kubeconfig).await?;
            let me = ObjectRef::new(
                "kustomize.toolkit.fluxcd.io",
                "v1",
                "Kustomization",
                None,
                "cli",
            );
            let options = Options::default()
                .with_prune(prune)
                .with_wait(wait)
                .with_timeout(std::time::Duration::from_secs(timeout));
            let mut reconciler = Reconciler::new(
                me,
                Arc::new(DirectorySource::new(&dir)),
                Arc::new(renderer()),
                Arc::new(applier.clone()),
            )
            .with_options(options);
            if let Some(flag) = &inventory {
                let store =
                    gitops::kube::ConfigMapInventory::from_flag(applier.client().clone(), flag)
                        .with_context(|| {
                            format!("--inventory must be NAMESPACE/NAME, got {flag:?}")
                        })?;
                reconciler = reconciler.with_inventory_store(Arc::new(store));
            }
            let outcome = reconciler
                .reconcile(None)
                .await
                .map_err(|f| anyhow::Error::new(f.error).context(format!("{} failed", f.stage)))?;
            for change in &outcome.changes.changes {
                println!("{} {}", change.id, change.action);
            }
            if let Some(health) = &outcome.health {
                println!("{} objects healthy", health.objects.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Source(SourceCommand::Fetch {
            url,
            reference,
            dest,
            secret_file,
        }) => {
            let reference: gitops::git::Reference = reference.parse()?;
            let storage = std::env::temp_dir().join("gitops-source-cache");
            let mut source = gitops::git::GitSource::new(&url, reference, storage)?;
            if let Some(file) = secret_file {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                source = source.with_auth(gitops::git::Auth::from_secret_yaml(&text)?);
            }
            let artifact = gitops::git::fetch_into(&source, &dest).await?;
            println!("{}", artifact.revision);
            Ok(ExitCode::SUCCESS)
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
