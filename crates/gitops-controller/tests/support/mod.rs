//! What the controller's integration tests share.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use gitops_core::Object;
use gitops_testenv::Process;

/// The workspace's root, where the sample repository and test keys live.
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.join("../..").canonicalize().unwrap_or(here)
}

/// The controller binary cargo built for these tests.
pub fn controller() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gitops-controller"))
}

// Not every test file runs the CLI.
#[allow(dead_code)]
/// The `gitops` CLI: the binary `cargo test --workspace` built beside the test binaries when
/// there is one, else `cargo run` of it, as a user would type it.
pub fn cli() -> Command {
    let built = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("gitops")))
        .filter(|path| path.is_file());
    match built {
        Some(binary) => Command::new(binary),
        None => {
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .arg("run")
                .arg("--quiet")
                .arg("--manifest-path")
                .arg(workspace_root().join("Cargo.toml"))
                .args(["-p", "gitops-cli", "--"]);
            cargo
        }
    }
}

/// Polls `check` until it returns `Some`; fails after `limit`, or when the controller exits,
/// with the controller's log.
#[allow(dead_code)]
pub async fn eventually<T, F, Fut>(
    controller: &Process,
    what: &str,
    limit: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if let Err(exited) = controller.check_running() {
            panic!("waiting for {what}: {exited}");
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; controller log:\n{}",
            controller.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The objects of a YAML stream written by a test.
#[allow(dead_code)]
pub fn objects(yaml: &str) -> Vec<Object> {
    gitops_core::object::parse_yaml("test", yaml).expect("the test's YAML parses")
}
