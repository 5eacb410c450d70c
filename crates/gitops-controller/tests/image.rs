//! The container image, built without a container daemon (`scripts/build-image.sh`: umoci
//! from scratch) from the binaries these tests run, pushed to the test registry with skopeo,
//! then pulled back: its config runs the controller as the non-root user, its layer holds the
//! binaries, and they run from the image's own root filesystem (the libraries are all there).
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod support;

fn run(command: &mut Command) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `gitops` binary built beside this test's binary.
fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let built = exe.parent().unwrap().parent().unwrap().join("gitops");
    assert!(
        built.is_file(),
        "{} is missing: build the workspace first (cargo build -p gitops-cli)",
        built.display()
    );
    built
}

fn tools_present() -> bool {
    let present = ["umoci", "skopeo"]
        .iter()
        .all(|tool| Command::new(tool).arg("--version").output().is_ok());
    if !present {
        assert!(
            std::env::var_os("GITOPS_TESTENV_REQUIRED").is_none(),
            "umoci or skopeo is missing: run bash scripts/provision.sh"
        );
        eprintln!("skipped: umoci or skopeo is missing");
    }
    present
}

#[test]
fn the_image_is_built_without_a_daemon_pushed_and_runs_as_non_root() {
    let Some(registries) = gitops_testenv::require_registry() else {
        return;
    };
    if !tools_present() {
        return;
    }
    let registry = &registries.basic;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let reference = format!("docker://{}/gitops/controller:test", registry.addr());
    let creds = format!("{}:{}", registry.username(), registry.password());

    // Build and push, as a user would from a checkout.
    run(Command::new("bash")
        .arg(support::workspace_root().join("scripts/build-image.sh"))
        .args(["--push", &reference, "--creds", &creds, "--insecure"])
        .env("CONTROLLER", env!("CARGO_BIN_EXE_gitops-controller"))
        .env("CLI", cli_binary())
        .env("OUT", &layout)
        .env("TAG", "test"));

    // The registry's copy: its config, read back with skopeo.
    let inspect = |what: &[&str]| -> Value {
        let out = run(Command::new("skopeo").arg("inspect").args(what).args([
            "--creds",
            &creds,
            "--tls-verify=false",
            &reference,
        ]));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let config = inspect(&["--config"]);
    assert_eq!(
        config["config"]["Entrypoint"][0],
        "/usr/local/bin/gitops-controller"
    );
    assert_eq!(config["config"]["User"], "65532:65532");
    let manifest = inspect(&["--raw"]);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");

    // Pulled back and unpacked: the binaries are in the layer and run from its root alone.
    let pulled = work.path().join("pulled");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--src-creds",
        &creds,
        "--src-tls-verify=false",
        &reference,
        &format!("oci:{}:test", pulled.display()),
    ]));
    let bundle = work.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:test", pulled.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    for binary in [
        "usr/local/bin/gitops-controller",
        "usr/local/bin/gitops",
        "usr/bin/git",
    ] {
        assert!(rootfs.join(binary).is_file(), "{binary} is in the image");
    }
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains(":65532:65532:"), "{passwd}");
    runs_from(&rootfs);
}

/// The controller starts from the image's root filesystem alone (as root may `chroot`), so no
/// library is missing. Skipped where `chroot` is not allowed.
fn runs_from(rootfs: &Path) {
    let chrooted = Command::new("chroot")
        .arg("--userspec=65532:65532")
        .arg(rootfs)
        .args(["/usr/local/bin/gitops-controller", "--version"])
        .output();
    match chrooted {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.starts_with("gitops-controller "), "{text}");
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("Operation not permitted") => {
            eprintln!("chroot not permitted here; the run from the image is not checked");
        }
        other => panic!("the controller does not run from the image: {other:?}"),
    }
}
