//! Readable snapshots of a few corpus builds, reviewed by hand. The differential suite proves
//! the bytes equal `kubectl kustomize`; these show what the features produce.

use std::path::Path;

use gitops_kustomize::{BuildOptions, build_to_string};

fn build(case: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(case);
    build_to_string(dir, &BuildOptions::default()).expect("the case builds")
}

#[test]
fn overlay_three_levels_deep() {
    insta::assert_snapshot!(build("overlay-three-deep/top"));
}

#[test]
fn everything_in_one_kustomization() {
    insta::assert_snapshot!(build("misc-everything"));
}

#[test]
fn components_after_generators() {
    insta::assert_snapshot!(build("comp-basic/overlay"));
}

#[test]
fn yaml_scalar_quoting() {
    insta::assert_snapshot!(build("yaml-scalars"));
}
