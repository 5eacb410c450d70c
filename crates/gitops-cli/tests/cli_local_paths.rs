//! `gitops reconcile local` with objects and inventories that name paths outside the output
//! folder: the command fails with an error naming the object, and writes or deletes nothing
//! outside the folder.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::path::{Path, PathBuf};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn reconcile_local(repo: &Path, out: &Path) -> Run {
    let output = support::gitops()
        .args(["reconcile", "local"])
        .arg(repo)
        .arg("--out")
        .arg(out)
        .current_dir(support::workspace_root())
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every file below `root`, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn config_map(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name:?}\n  namespace: {namespace:?}\ndata:\n  k: v\n"
    )
}

#[test]
fn reconcile_local_refuses_names_that_leave_the_output_folder() {
    for (namespace, name) in [
        ("..", "escaped"),
        ("../../..", "escaped"),
        ("/tmp", "escaped"),
        ("web", "../../../../escaped"),
    ] {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let out = root.path().join("a").join("b").join("out");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("good.yaml"), config_map("web", "good")).unwrap();
        std::fs::write(repo.join("bad.yaml"), config_map(namespace, name)).unwrap();
        let before = files(root.path());

        let run = reconcile_local(&repo, &out);

        assert_ne!(run.code, Some(0), "{namespace}/{name}: {}", run.stdout);
        assert!(
            run.stderr.contains("refusing") || run.stderr.contains("cannot be a file name"),
            "{namespace}/{name}: the error says why: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(name) || run.stderr.contains(namespace),
            "{namespace}/{name}: the error names the object: {}",
            run.stderr
        );
        // At most the empty inventory that marks the folder as ours; no object file at all.
        let written: Vec<PathBuf> = files(root.path())
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        assert!(
            written
                .iter()
                .all(|f| f == &out.join(".gitops-inventory.yaml")),
            "{namespace}/{name}: wrote {written:?}"
        );
        assert!(!Path::new("/tmp/ConfigMap_escaped.yaml").exists());
    }
}

#[test]
fn reconcile_local_refuses_an_inventory_edited_to_prune_outside() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    let out = root.path().join("a").join("out");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("cm.yaml"), config_map("web", "a")).unwrap();
    let first = reconcile_local(&repo, &out);
    assert_eq!(first.code, Some(0), "{}", first.stderr);

    // A file where the `..` namespace points, and an inventory edited to own it.
    let victim = root.path().join("a").join("ConfigMap_keep.yaml");
    std::fs::write(&victim, config_map("x", "keep")).unwrap();
    let inventory = out.join(".gitops-inventory.yaml");
    std::fs::write(
        &inventory,
        "entries:\n- id: .._keep__ConfigMap\n  v: v1\n- id: web_a__ConfigMap\n  v: v1\n",
    )
    .unwrap();

    let run = reconcile_local(&repo, &out);

    assert_ne!(run.code, Some(0), "{}", run.stdout);
    assert!(
        run.stderr.contains(".._keep__ConfigMap"),
        "the error names the entry: {}",
        run.stderr
    );
    assert!(victim.is_file(), "prune did not reach outside the folder");
}
