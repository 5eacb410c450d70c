//! Commit signature verification (Flux's `spec.verify`, mode `HEAD`).
//!
//! gix extracts the signature and the signed bytes and runs the verifier the way `git
//! verify-commit` does: `gpg` for OpenPGP (against a private keyring holding only the given keys)
//! and `ssh-keygen -Y` for SSH signatures (against an allowed-signers file of the given keys).

use std::path::Path;
use std::process::{Command, Stdio};

/// The public keys a head commit must be signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedKeys {
    /// ASCII-armored OpenPGP public keys (one or more blocks, each may hold several keys).
    OpenPgp(Vec<String>),
    /// SSH public keys, one `ssh-ed25519 AAAA… [comment]` line each.
    Ssh(Vec<String>),
}

/// Errors from verifying a commit's signature. Tool output is included; it holds no secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The commit carries no signature.
    #[error("commit {commit} is not signed")]
    Unsigned {
        /// The commit id.
        commit: String,
    },
    /// The signature is of another kind than the configured keys.
    #[error("commit {commit} has a {found} signature but only {expected} keys are trusted")]
    WrongFormat {
        /// The commit id.
        commit: String,
        /// The signature's format.
        found: &'static str,
        /// The keys' format.
        expected: &'static str,
    },
    /// The signature is bad or made by a key that is not trusted.
    #[error("commit {commit}: signature not accepted ({status}): {output}")]
    Rejected {
        /// The commit id.
        commit: String,
        /// The verifier's verdict.
        status: String,
        /// The verifier's first output lines.
        output: String,
    },
    /// The verifier could not be run or failed otherwise.
    #[error("commit {commit}: cannot verify the signature: {message}")]
    Verifier {
        /// The commit id.
        commit: String,
        /// What went wrong.
        message: String,
    },
}

fn short_output(output: &[u8]) -> String {
    String::from_utf8_lossy(output)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Verifies the signature of `commit` against `keys`, using `scratch` (a private directory) for
/// the keyring or allowed-signers file. Returns the signer the verifier named.
pub(crate) fn verify_commit(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    keys: &TrustedKeys,
    scratch: &Path,
) -> Result<String, Error> {
    use gix::objs::signature::Format;
    use gix::objs::signature::verify::{Options, Status, TrustLevel};
    let id = commit.to_string();
    let verifier = |message: String| Error::Verifier {
        commit: id.clone(),
        message,
    };
    let commit = repo
        .find_commit(commit)
        .map_err(|e| verifier(e.to_string()))?;
    let Some((signature, signed)) = commit.signature().map_err(|e| verifier(e.to_string()))? else {
        return Err(Error::Unsigned { commit: id });
    };
    let format = Format::from_signature(signature.as_ref());
    let name = |f: Option<Format>| match f {
        Some(Format::OpenPgp) => "OpenPGP",
        Some(Format::Ssh) => "SSH",
        Some(Format::X509) => "X.509",
        _ => "unknown",
    };
    let options = match (keys, format) {
        (TrustedKeys::OpenPgp(armored), Some(Format::OpenPgp)) => {
            let home = scratch.join("gnupg");
            std::fs::create_dir_all(&home).map_err(|e| verifier(e.to_string()))?;
            set_private(&home, 0o700).map_err(|e| verifier(e.to_string()))?;
            let keyring = scratch.join("trusted.asc");
            std::fs::write(&keyring, armored.join("\n")).map_err(|e| verifier(e.to_string()))?;
            let out = Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .args(["--batch", "--no-tty", "--quiet", "--import"])
                .arg(&keyring)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| verifier(format!("cannot run gpg: {e}")))?;
            if !out.status.success() {
                return Err(verifier(format!(
                    "gpg could not import the trusted keys: {}",
                    short_output(&out.stderr)
                )));
            }
            Options::OpenPgp {
                program: "gpg".into(),
                program_arguments: vec![
                    "--homedir".into(),
                    home.into_os_string(),
                    "--batch".into(),
                    "--no-tty".into(),
                ],
                environment: Vec::new(),
                minimum_trust: TrustLevel::Undefined,
            }
        }
        (TrustedKeys::Ssh(lines), Some(Format::Ssh)) => {
            let allowed = scratch.join("allowed_signers");
            let mut text = String::new();
            for (i, line) in lines.iter().enumerate() {
                let line = line.trim();
                if !line.is_empty() {
                    text.push_str(&format!("trusted-{i} namespaces=\"git\" {line}\n"));
                }
            }
            std::fs::write(&allowed, text).map_err(|e| verifier(e.to_string()))?;
            Options::Ssh {
                program: "ssh-keygen".into(),
                program_arguments: Vec::new(),
                environment: Vec::new(),
                allowed_signers: allowed,
                revocation_file: None,
                verify_time: commit.time().map_err(|e| verifier(e.to_string()))?,
                minimum_trust: TrustLevel::Undefined,
            }
        }
        (keys, found) => {
            return Err(Error::WrongFormat {
                commit: id,
                found: name(found),
                expected: match keys {
                    TrustedKeys::OpenPgp(_) => "OpenPGP",
                    TrustedKeys::Ssh(_) => "SSH",
                },
            });
        }
    };
    let outcome = signed
        .verify(signature.as_ref(), options)
        .map_err(|e| verifier(e.to_string()))?;
    if outcome.status == Status::Good && outcome.is_valid() && outcome.signer.is_some()
        || outcome.status == Status::Good
            && outcome.is_valid()
            && matches!(keys, TrustedKeys::OpenPgp(_))
    {
        let signer = outcome
            .signer
            .or(outcome.fingerprint)
            .map(|s| s.to_string())
            .unwrap_or_default();
        Ok(signer)
    } else {
        Err(Error::Rejected {
            commit: id,
            status: format!("{:?}", outcome.status).to_lowercase(),
            output: short_output(&outcome.output),
        })
    }
}

fn set_private(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
