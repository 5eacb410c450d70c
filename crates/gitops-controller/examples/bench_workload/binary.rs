//! Where the drivers find the controller they start.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// `explicit`, or `gitops-controller` next to this program's directory (cargo puts examples
/// in `examples/` under the directory holding the binaries); an error names the build
/// command when it is not there.
pub fn controller_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let binary = match explicit {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("this program has no directory")?
            .join("gitops-controller"),
    };
    anyhow::ensure!(
        binary.is_file(),
        "no controller at {} (build it: cargo build --release -p gitops-controller)",
        binary.display()
    );
    Ok(binary)
}
