//! Hostile trees: huge files, alias bombs spread over documents and files, patches that grow
//! without bound, symlink loops. Each must end quickly in a clear error naming the file, or
//! build in linear time.

use std::path::Path;
use std::time::{Duration, Instant};

use gitops_kustomize::{BuildOptions, Error, build, yaml};

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("files have a parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// A document that expands to about 10^`levels` nodes through aliases.
fn alias_bomb(name: &str, levels: u8) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n"
    );
    for level in 1..levels {
        let prev = format!("*x{}", level - 1);
        text.push_str(&format!(
            "x{level}: &x{level} [{}]\n",
            vec![prev; 10].join(", ")
        ));
    }
    text
}

#[test]
fn yaml_reading_is_linear_in_the_file_size() {
    // 400,000 short lines: the old reader scanned the whole text once per line.
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n");
    let mut i = 0;
    while text.len() < 4 << 20 {
        text.push_str(&format!("  k{i}: v\n"));
        i += 1;
    }
    let started = Instant::now();
    let docs = yaml::parse_documents(&text, &yaml::Limits::default()).expect("parses");
    assert_eq!(docs.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn alias_expansion_is_bounded_per_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Each document alone stays under the per-document bound (10^6 nodes); together they
    // would hold 5 * 10^7.
    let mut text = String::new();
    for n in 0..50 {
        text.push_str(&alias_bomb(&format!("cm{n}"), 6));
        text.push_str("---\n");
    }
    write(dir.path(), "app/bombs.yaml", &text);
    write(
        dir.path(),
        "app/kustomization.yaml",
        "resources:\n- bombs.yaml\n",
    );
    let started = Instant::now();
    let e = build(dir.path().join("app"), &BuildOptions::default()).expect_err("bounded");
    let Error::Yaml { path, source } = &e else {
        panic!("expected a YAML error, got {e:?}");
    };
    assert!(path.ends_with("bombs.yaml"), "{e}");
    assert!(source.message.contains("alias"), "{source}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn alias_expansion_is_bounded_per_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut resources = String::from("resources:\n");
    for n in 0..50 {
        write(
            dir.path(),
            &format!("app/bomb{n}.yaml"),
            &alias_bomb(&format!("cm{n}"), 6),
        );
        resources.push_str(&format!("- bomb{n}.yaml\n"));
    }
    write(dir.path(), "app/kustomization.yaml", &resources);
    let started = Instant::now();
    let e = build(dir.path().join("app"), &BuildOptions::default()).expect_err("bounded");
    let Error::Yaml { path, source } = &e else {
        panic!("expected a YAML error, got {e:?}");
    };
    assert!(path.contains("bomb"), "{e}");
    assert!(source.message.contains("alias"), "{source}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn json_patch_copy_chains_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: x\n",
    );
    // Each copy puts the whole `data` map inside itself: 40 copies make 2^40 nodes.
    let mut ops = String::new();
    for i in 0..40 {
        ops.push_str(&format!(
            "      - op: copy\n        from: /data\n        path: /data/n{i}\n"
        ));
    }
    write(
        dir.path(),
        "app/kustomization.yaml",
        &format!(
            "resources:\n- cm.yaml\npatches:\n  - target:\n      kind: ConfigMap\n    patch: |-\n{ops}"
        ),
    );
    let started = Instant::now();
    let e = build(dir.path().join("app"), &BuildOptions::default()).expect_err("bounded");
    let msg = e.to_string();
    assert!(msg.contains("patches[0]"), "{msg}");
    assert!(msg.contains("grow"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn symlink_loops_end_the_generated_kustomization_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("repo");
    write(
        &root,
        "apps/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    );
    std::os::unix::fs::symlink(".", root.join("apps/a")).expect("symlink");
    std::os::unix::fs::symlink(".", root.join("apps/b")).expect("symlink");
    std::os::unix::fs::symlink("..", root.join("apps/up")).expect("symlink");
    let options = BuildOptions::default()
        .with_root(&root)
        .with_generate_missing_kustomization(true);
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let apps = root.join("apps");
    std::thread::spawn(move || {
        let _ = tx.send(build(apps, &options).map(|v| v.len()));
    });
    let built = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the scan must end");
    // As Flux's generator (a walk that does not follow symlinks): the links are skipped.
    assert_eq!(built.expect("builds"), 1);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_symlinked_kustomization_file_cannot_leave_the_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("outside");
    write(
        &outside,
        "kustomization.yaml",
        "configMapGenerator:\n- name: stolen\n  literals: [a=b]\n",
    );
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("app")).expect("mkdir");
    std::os::unix::fs::symlink(
        outside.join("kustomization.yaml"),
        root.join("app/kustomization.yaml"),
    )
    .expect("symlink");
    let e = build(root.join("app"), &BuildOptions::default().with_root(&root))
        .expect_err("a kustomization file out of the repository must fail");
    assert!(matches!(e, Error::PathEscape { .. }), "{e:?}");
}

#[test]
fn crds_definitions_that_reuse_each_other_are_bounded() {
    // Each definition refers twice to the next: 40 levels expand to 2^40 property paths,
    // with a field spec at each (bounded by specs) or without (bounded by properties).
    for extension in [", x-kubernetes-annotation: ''", ""] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut defs = String::from(
            "t.Root:\n  Schema:\n    properties:\n      apiVersion: {}\n      kind: {}\n      metadata: {}\n      spec: {$ref: t.D0}\n",
        );
        for i in 0..40 {
            defs.push_str(&format!(
                "t.D{i}:\n  Schema:\n    properties:\n      a: {{$ref: t.D{n}{extension}}}\n      b: {{$ref: t.D{n}{extension}}}\n",
                n = i + 1
            ));
        }
        write(dir.path(), "app/defs.yaml", &defs);
        write(
            dir.path(),
            "app/kustomization.yaml",
            "crds: [defs.yaml]\nresources: [cm.yaml]\n",
        );
        write(
            dir.path(),
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
        );
        let started = Instant::now();
        let e = build(dir.path().join("app"), &BuildOptions::default()).expect_err("bounded");
        let msg = e.to_string();
        assert!(msg.contains("defs.yaml"), "{msg}");
        assert!(msg.contains("more than"), "{msg}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }
}

#[test]
fn custom_schema_reference_cycles_end() {
    // A $ref cycle in openapi.path: looking a list up must not loop.
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "app/schema.yaml",
        "definitions:\n  w:\n    x-kubernetes-group-version-kind: [{group: x.io, version: v1, kind: W}]\n    $ref: '#/definitions/v'\n  v:\n    $ref: '#/definitions/w'\n",
    );
    write(
        dir.path(),
        "app/w.yaml",
        "apiVersion: x.io/v1\nkind: W\nmetadata:\n  name: w\nspec:\n  items: [{name: a}]\n",
    );
    write(
        dir.path(),
        "app/kustomization.yaml",
        "openapi: {path: schema.yaml}\nresources: [w.yaml]\npatches:\n- patch: |-\n    apiVersion: x.io/v1\n    kind: W\n    metadata:\n      name: w\n    spec:\n      items: [{name: b}]\n",
    );
    let started = Instant::now();
    let out = build(dir.path().join("app"), &BuildOptions::default()).expect("builds");
    assert_eq!(out[0]["spec"]["items"][0]["name"], "b");
    assert!(started.elapsed() < Duration::from_secs(10));
}
