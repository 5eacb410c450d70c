//! `gitops source fetch`: one revision of a Git repository, checked out.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum SourceCommand {
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

/// Runs a `source` subcommand.
pub(crate) async fn run(command: SourceCommand) -> anyhow::Result<ExitCode> {
    let SourceCommand::Fetch {
        url,
        reference,
        dest,
        secret_file,
    } = command;
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
