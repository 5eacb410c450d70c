//! Property tests of `DirectoryApplier`'s paths: whatever namespace, kind, group and name an
//! object (or an edited inventory) carries, no file is written, read or deleted outside the
//! output folder, and nothing panics.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Component, Path, PathBuf};

use gitops_core::apply::ApplyOptions;
use gitops_core::{Applier, InventoryStore, Object, ObjectRef};
use gitops_local::DirectoryApplier;
use proptest::prelude::*;

/// Path pieces that have broken path joins before, mixed with arbitrary text.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "..",
            ".",
            "/",
            "../..",
            "../../escaped",
            "/tmp/escaped",
            "a/../../b",
            "\\..\\x",
            "\0",
            "a\0b",
            "web",
            "",
            "_cluster",
            ".gitops-inventory",
            "ConfigMap",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,24}",
        "[a-z0-9./\\\\-]{0,12}",
        (1usize..400).prop_map(|n| "x".repeat(n)),
    ]
}

/// Every file and folder below `root`.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #[test]
    fn fuzz_directory_applier_paths(
        namespace in proptest::option::of(component()),
        name in component(),
        kind in component(),
        group in component(),
    ) {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("deep").join("er").join("out");
        let applier = DirectoryApplier::new(&out);
        let id = ObjectRef::new(&group, "v1", &kind, namespace.as_deref(), &name);

        if let Ok(path) = applier.file_of(&id) {
            let rest = path.strip_prefix(&out).unwrap();
            let parts: Vec<Component> = rest.components().collect();
            prop_assert_eq!(parts.len(), 2, "{}", path.display());
            prop_assert!(
                parts.iter().all(|c| matches!(c, Component::Normal(_))),
                "{}", path.display()
            );
        }

        let rt = runtime();
        let object = Object::new(serde_json::json!({
            "apiVersion": if group.is_empty() { "v1".to_owned() } else { format!("{group}/v1") },
            "kind": kind,
            "metadata": { "name": name, "namespace": namespace },
        }));
        if let Ok(object) = object {
            let objects = std::slice::from_ref(&object);
            let _ = rt.block_on(applier.apply(objects, &ApplyOptions::default()));
            let _ = rt.block_on(applier.diff(objects));
            let _ = rt.block_on(applier.delete(&[object.id().clone()], &ApplyOptions::default()));
        }
        let _ = rt.block_on(applier.delete(std::slice::from_ref(&id), &ApplyOptions::default()));
        let _ = rt.block_on(applier.wait(std::slice::from_ref(&id), std::time::Duration::ZERO));

        // An inventory naming the same object, as if someone had edited the file.
        std::fs::create_dir_all(&out).unwrap();
        let entry = serde_json::json!({ "entries": [{ "id": id.inventory_id(), "v": "v1" }] });
        std::fs::write(
            out.join(".gitops-inventory.yaml"),
            serde_json::to_string(&entry).unwrap(),
        )
        .unwrap();
        if let Ok(Some(inventory)) = rt.block_on(applier.load()) {
            let ids: Vec<ObjectRef> = inventory.iter().cloned().collect();
            for id in &ids {
                prop_assert!(applier.file_of(id).unwrap().starts_with(&out));
            }
            let _ = rt.block_on(applier.delete(&ids, &ApplyOptions::default()));
        }

        for path in tree(root.path()) {
            prop_assert!(
                path.starts_with(&out) || out.starts_with(&path),
                "{} is outside {}", path.display(), out.display()
            );
        }
    }
}
