//! Shared helpers: the real `sops` binary, age keys, temporary files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;

/// The command that installs the reference tools.
pub const PROVISION: &str = "bash scripts/provision.sh";

fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GITOPS_TESTENV_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache")
        })
        .join("gitops-testenv")
}

fn find_sops() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GITOPS_SOPS_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let cache = cache_dir();
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sops-"))
        })
        .map(|p| p.join("bin").join("sops"))
        .filter(|p| p.is_file())
        .collect();
    candidates.sort();
    if let Some(p) = candidates.pop() {
        return Some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("sops"))
            .find(|p| p.is_file())
    })
}

/// The real `sops`: `None` (test skipped, with a message) when it is not installed, a panic when
/// `GITOPS_TESTENV_REQUIRED=1`.
pub fn sops() -> Option<Sops> {
    match find_sops() {
        Some(bin) => Some(Sops { bin }),
        None => {
            let required =
                std::env::var("GITOPS_TESTENV_REQUIRED").is_ok_and(|v| v == "1" || v == "true");
            if required {
                panic!(
                    "GITOPS_TESTENV_REQUIRED=1 and the sops binary is missing; run `{PROVISION}`"
                );
            }
            eprintln!("skipping test: the sops binary is not installed; run `{PROVISION}`");
            None
        }
    }
}

/// An age key pair and its identity file.
pub struct Key {
    pub recipient: String,
    pub secret: String,
    pub file: PathBuf,
}

/// A temporary directory with keys in it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write");
        p
    }

    pub fn key(&self, name: &str) -> Key {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        use age::secrecy::ExposeSecret;
        let secret = id.to_string().expose_secret().to_string();
        let file = self.write(
            &format!("{name}.agekey"),
            format!("# created: 2026-01-01T00:00:00Z\n# public key: {recipient}\n{secret}\n"),
        );
        Key {
            recipient,
            secret,
            file,
        }
    }
}

pub struct Sops {
    pub bin: PathBuf,
}

impl Sops {
    /// Runs sops with these keys (several key files joined into one).
    pub fn run(&self, env: &Env, keys: &[&Key], args: &[&str]) -> Output {
        let joined = keys
            .iter()
            .map(|k| k.secret.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let key_file = env.write("sops-keys.txt", format!("{joined}\n"));
        Command::new(&self.bin)
            .args(args)
            .current_dir(env.dir.path())
            .env("SOPS_AGE_KEY_FILE", &key_file)
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .output()
            .expect("run sops")
    }

    /// `sops -e` and returns stdout; panics with stderr on failure.
    pub fn encrypt(&self, env: &Env, file: &Path, args: &[&str]) -> Vec<u8> {
        let mut all = vec!["encrypt"];
        all.extend_from_slice(args);
        let f = file.to_str().expect("utf-8 path");
        all.push(f);
        let out = self.run(env, &[], &all);
        assert!(
            out.status.success(),
            "sops encrypt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `sops -d`; Ok(stdout) or Err(stderr).
    pub fn decrypt(&self, env: &Env, keys: &[&Key], file: &Path) -> Result<Vec<u8>, String> {
        let f = file.to_str().expect("utf-8 path");
        let out = self.run(env, keys, &["decrypt", f]);
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

pub fn keyring(keys: &[&Key]) -> gitops_sops::Keyring {
    let joined = keys
        .iter()
        .map(|k| k.secret.as_str())
        .collect::<Vec<_>>()
        .join("\n# comment\n");
    gitops_sops::Keyring::from_identity_file("test keys", &joined).expect("keys parse")
}

pub fn identity(secret: &str) -> age::x25519::Identity {
    age::x25519::Identity::from_str(secret).expect("identity")
}
