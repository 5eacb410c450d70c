//! What the root package's integration tests share.

use std::process::Command;

/// A command that runs example `name`: the binary `cargo test` built next to the test binary (it
/// builds every example before running tests) when there is one, else `cargo run --example` with
/// `features` (the package's defaults when empty), as a user would type it.
pub fn example(name: &str, features: &str) -> Command {
    let built = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples").join(name)))
        .filter(|path| path.is_file());
    match built {
        Some(binary) => Command::new(binary),
        None => {
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args(["run", "--quiet"]);
            if !features.is_empty() {
                cargo.args(["--features", features]);
            }
            cargo.args(["--example", name, "--"]);
            cargo
        }
    }
}
