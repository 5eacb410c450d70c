//! `gitops sops decrypt|encrypt`: SOPS files with age keys, as the `sops` binary reads and
//! writes them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum SopsCommand {
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

/// Runs a `sops` subcommand.
pub(crate) fn run(command: SopsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SopsCommand::Decrypt { file } => {
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
        }
        SopsCommand::Encrypt {
            age,
            encrypted_regex,
            file,
        } => {
            let mut options = gitops::sops::EncryptOptions::default().with_age_recipients(age);
            if let Some(regex) = encrypted_regex {
                options = options.with_rule(gitops::sops::EncryptionRule::EncryptedRegex(regex));
            }
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let encrypted = gitops::sops::encrypt(&file, &content, &options)?;
            std::io::Write::write_all(&mut std::io::stdout(), &encrypted)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
