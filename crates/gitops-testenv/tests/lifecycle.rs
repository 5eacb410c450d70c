//! The servers stop when the test process ends, however it ends.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const CHILD_VAR: &str = "GITOPS_TESTENV_LIFECYCLE_CHILD";

/// Run only as a child process of `no_server_outlives_an_aborted_test_process`: starts every
/// available component, prints their process ids and directories, then aborts (no destructors,
/// no atexit handlers: the harshest way for a test binary to end short of SIGKILL).
#[test]
#[ignore = "started as a child process by no_server_outlives_an_aborted_test_process"]
fn child_starts_everything_then_aborts() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let mut pids = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(env) = gitops_testenv::require_git() {
        pids.extend(env.pids());
        dirs.push(env.dir().to_path_buf());
    }
    if let Some(env) = gitops_testenv::require_registry() {
        pids.extend(env.servers().map(|s| s.pid()));
        dirs.push(env.dir().to_path_buf());
    }
    if let Some(env) = gitops_testenv::require_kube() {
        pids.extend(env.pids());
        dirs.push(env.dir().to_path_buf());
    }
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("PIDS {}", pids.join(" "));
    for dir in dirs {
        println!("DIR {}", dir.display());
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    std::process::abort();
}

fn alive(pid: &str) -> bool {
    // A zombie has exited; only its parent's bookkeeping is left.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

#[test]
fn no_server_outlives_an_aborted_test_process() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "child_starts_everything_then_aborts",
            "--nocapture",
        ])
        .env(CHILD_VAR, "1")
        .output()
        .expect("the child test process runs");
    assert!(!out.status.success(), "the child should have aborted");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pids: Vec<String> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PIDS"))
        .unwrap_or_else(|| {
            panic!(
                "child printed no PIDS line:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let dirs: Vec<PathBuf> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("DIR "))
        .map(PathBuf::from)
        .collect();
    if pids.is_empty() {
        eprintln!("no component was available; nothing to check");
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<&String> = pids.iter().filter(|p| alive(p)).collect();
        let dirs_left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
        if left.is_empty() && dirs_left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after the test process died: {left:?}; directories left: {dirs_left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn owned_environments_stop_when_dropped() {
    let env = match gitops_testenv::GitEnv::start() {
        Ok(env) => env,
        Err(e) => {
            let _: Option<()> = gitops_testenv::skip_or_fail("git servers", &e);
            return;
        }
    };
    let pids: Vec<String> = env.pids().iter().map(u32::to_string).collect();
    let dir = env.dir().to_path_buf();
    env.stop();
    assert!(pids.iter().all(|p| !alive(p)), "{pids:?}");
    assert!(!dir.exists());
}
