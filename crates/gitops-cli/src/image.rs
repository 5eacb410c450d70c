//! `gitops image tags|policy|update`: a registry's tags, the tag a policy picks, and the image
//! markers of a tree rewritten in place.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use gitops::ImageScanner;
use gitops::image::policy::{Choice, Order, Policy};

#[derive(clap::Args)]
pub(crate) struct RegistryArgs {
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
pub(crate) enum ImageCommand {
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
        #[arg(long = "set", value_parser = crate::common::parse_var, required = true)]
        set: Vec<(String, String)>,
    },
}

fn order(text: &str) -> anyhow::Result<Order> {
    match text {
        "asc" => Ok(Order::Asc),
        "desc" => Ok(Order::Desc),
        other => anyhow::bail!("order must be asc or desc, got {other:?}"),
    }
}

/// Runs an `image` subcommand.
pub(crate) async fn run(command: ImageCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Tags {
            repository,
            registry,
        } => {
            let result = registry.scanner()?.scan(&repository).await?;
            for tag in &result.tags {
                println!("{tag}");
            }
            eprintln!(
                "{} tags in {:.0} ms",
                result.tags.len(),
                result.duration.as_secs_f64() * 1e3
            );
        }
        ImageCommand::Policy {
            repository,
            tags_file,
            registry,
            semver,
            alphabetical,
            numerical,
            pattern,
            extract,
        } => {
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
        }
        ImageCommand::Update { dir, set } => {
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
        }
    }
    Ok(ExitCode::SUCCESS)
}
