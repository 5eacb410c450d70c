//! Differential tests: every tree under `tests/corpus/` is built by `kubectl kustomize` (the
//! reference, asked at test time) and by this crate; the bytes must be identical, and where
//! kustomize fails this crate must fail too.
//!
//! A case is a directory. By default its root is built; a file `build.txt` names the directory
//! to build on its first line and extra flags on its second (`--load-restrictor
//! LoadRestrictionsNone`, `--reorder none`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use gitops_kustomize::{BuildOptions, LoadRestrictor, Reorder, build_to_string};

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Case {
    name: String,
    dir: PathBuf,
    flags: Vec<String>,
}

fn cases() -> Vec<Case> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&corpus)
        .expect("the corpus directory exists because it is part of the crate")
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for case in entries {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut dir = case.clone();
        let mut flags = Vec::new();
        if let Ok(spec) = std::fs::read_to_string(case.join("build.txt")) {
            let mut lines = spec.lines();
            if let Some(d) = lines.next().filter(|d| !d.trim().is_empty()) {
                dir = case.join(d.trim());
            }
            if let Some(f) = lines.next() {
                flags = f.split_whitespace().map(str::to_owned).collect();
            }
        }
        out.push(Case { name, dir, flags });
    }
    out
}

fn options(flags: &[String]) -> BuildOptions {
    let mut o = BuildOptions::default();
    let mut it = flags.iter();
    while let Some(f) = it.next() {
        match (f.as_str(), it.next().map(String::as_str)) {
            ("--load-restrictor", Some("LoadRestrictionsNone")) => {
                o = o.with_load_restrictor(LoadRestrictor::None)
            }
            ("--reorder", Some("none")) => o = o.with_reorder(Reorder::None),
            ("--reorder", Some("legacy")) => o = o.with_reorder(Reorder::Legacy),
            other => panic!("unknown flag in build.txt: {other:?}"),
        }
    }
    o
}

/// Runs one case; `Err` describes a mismatch.
fn run(case: &Case) -> Result<(), String> {
    let reference = Command::new("kubectl")
        .arg("kustomize")
        .arg(&case.dir)
        .args(&case.flags)
        .output()
        .map_err(|e| format!("cannot run kubectl: {e}"))?;
    let ours = build_to_string(&case.dir, &options(&case.flags));
    match (reference.status.success(), ours) {
        (true, Ok(text)) => {
            let expected = String::from_utf8_lossy(&reference.stdout);
            if expected == text {
                Ok(())
            } else {
                Err(format!(
                    "output differs\n--- kubectl\n{expected}\n--- ours\n{text}"
                ))
            }
        }
        (true, Err(e)) => Err(format!("kubectl succeeded but we failed: {e}")),
        (false, Ok(text)) => Err(format!(
            "kubectl failed ({}) but we succeeded with\n{text}",
            String::from_utf8_lossy(&reference.stderr).trim()
        )),
        (false, Err(_)) => Ok(()),
    }
}

#[test]
fn corpus_matches_kubectl_kustomize() {
    if !kubectl_available() {
        if std::env::var("GITOPS_TESTENV_REQUIRED").as_deref() == Ok("1") {
            panic!("kubectl is required (GITOPS_TESTENV_REQUIRED=1) but not found");
        }
        eprintln!("skipping: kubectl not found");
        return;
    }
    let cases = cases();
    assert!(cases.len() >= 10, "the corpus is missing");
    let queue = Mutex::new(cases.iter().collect::<Vec<_>>());
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue lock").pop();
                    let Some(case) = next else { break };
                    if let Err(e) = run(case) {
                        failures
                            .lock()
                            .expect("failures lock")
                            .push(format!("{}: {e}", case.name));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures lock");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    eprintln!("{} cases identical to kubectl kustomize", cases.len());
}
