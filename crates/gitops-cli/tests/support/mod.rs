//! What the CLI's integration tests share.

use std::path::PathBuf;
use std::process::Command;

/// The `gitops` binary cargo built for these tests.
pub fn gitops() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gitops"))
}

/// The workspace's root, where the sample repository and test keys live.
#[allow(dead_code)]
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.join("../..").canonicalize().unwrap_or(here)
}
