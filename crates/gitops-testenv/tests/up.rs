//! The `gitops-testenv up` binary starts, prints where things are, and stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn up_prints_addresses_and_stops_on_sigterm() {
    let kube_installed = gitops_testenv::cache_dir()
        .join(format!(
            "kube-apiserver-{}",
            gitops_testenv::kubernetes_version()
        ))
        .join("kube-apiserver")
        .exists()
        && gitops_testenv::cache_dir()
            .join(format!("etcd-{}", gitops_testenv::etcd_version()))
            .join("etcd")
            .exists();
    if !kube_installed && gitops_testenv::required() {
        panic!("GITOPS_TESTENV_REQUIRED=1 and kube-apiserver/etcd are not provisioned");
    }
    // Without the git and registry servers `up` fails; that case is covered by the smoke tests'
    // skip logic, so only run when git's servers are there.
    let Some(_) = gitops_testenv::require_git() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = tmp.path().join("kubeconfig");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops-testenv"));
    cmd.arg("up");
    if kube_installed {
        cmd.arg("--kubeconfig-out").arg(&kubeconfig);
    } else {
        cmd.args(["--only", "git,registry"]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("up starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let started = Instant::now();
    for line in lines.by_ref() {
        let line = line.expect("utf-8 output");
        let ready = line.starts_with("ready in");
        seen.push(line);
        if ready {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{seen:#?}");
    }
    let text = seen.join("\n");
    assert!(text.contains("git daemon     git://127.0.0.1:"), "{text}");
    assert!(text.contains("git http       http://127.0.0.1:"), "{text}");
    assert!(text.contains("git ssh        ssh://"), "{text}");
    assert!(text.contains("registry basic 127.0.0.1:"), "{text}");
    assert!(text.contains("registry token 127.0.0.1:"), "{text}");
    if kube_installed {
        assert!(text.contains("kubeconfig"), "{text}");
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "namespace", "default", "-o", "name"])
            .output();
        if let Ok(out) = out {
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "namespace/default"
            );
        }
    }

    let status = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("up exits");
    assert!(status.success(), "{status}; {rest:?}");
    assert_eq!(rest.last().map(String::as_str), Some("stopped"), "{rest:?}");
}
