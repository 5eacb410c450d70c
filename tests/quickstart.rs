//! The quickstart as a user runs it: `cargo run --example quickstart`, twice.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;

mod support;

/// Runs the quickstart: the binary `cargo test` already built next to this test when there is
/// one, else `cargo run --example quickstart` as a user types it.
fn quickstart(out: &Path) -> String {
    let mut command = support::example("quickstart", "");
    let output = command
        .arg("--out")
        .arg(out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn files(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, found);
        } else if path.extension().is_some_and(|e| e == "yaml")
            && !path.file_name().unwrap().to_string_lossy().starts_with('.')
        {
            found.push(path.display().to_string());
        }
    }
}

#[test]
fn reconciles_the_sample_repository_then_reports_no_changes() {
    let out = tempfile::tempdir().unwrap();
    let first = quickstart(out.path());
    assert!(
        first.contains("reconciling infra → security → apps"),
        "{first}"
    );
    for stage in ["fetch", "render", "apply", "health"] {
        assert!(
            first.contains(&format!("  {stage} ")),
            "no {stage} line:\n{first}"
        );
    }
    assert!(first.contains("sha256:"), "revision printed:\n{first}");
    assert!(
        first.contains("Secret/kafka/kafka-credentials created"),
        "{first}"
    );

    let mut written = Vec::new();
    files(out.path(), &mut written);
    assert_eq!(written.len(), 14, "one file per object: {written:#?}");
    let secret = std::fs::read_to_string(
        out.path()
            .join("security/kafka/Secret_kafka-credentials.yaml"),
    )
    .unwrap();
    assert!(
        secret.contains("username: api-platform"),
        "decrypted:\n{secret}"
    );
    assert!(
        !secret.contains("sops:"),
        "no SOPS metadata left:\n{secret}"
    );
    let gateway = std::fs::read_to_string(
        out.path()
            .join("apps/apps/Deployment.apps_api-gateway.yaml"),
    )
    .unwrap();
    assert!(
        gateway.contains("replicas: 2") && gateway.contains("value: vps"),
        "substituted:\n{gateway}"
    );

    let second = quickstart(out.path());
    assert!(
        second.contains("done: no changes, 14 objects already up to date"),
        "{second}"
    );
}
