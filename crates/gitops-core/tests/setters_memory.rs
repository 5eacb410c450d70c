//! The setters' memory: a small constant factor of the file, measured as the growth of this
//! process's peak resident set (Linux). One test in this binary, so nothing else allocates.

use std::collections::BTreeMap;

use gitops_core::image::setters;

fn status_kib(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn setters_use_a_small_constant_factor_of_the_file_size() {
    // 32 MiB of manifests (with a few multi-byte characters), one marker near the end.
    let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api # é\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ghcr.io/acme/api:1.0.0\n          args: [\"--a\", '--b', c]\n---\n";
    let mut text = String::with_capacity(32 << 20);
    while text.len() < (32 << 20) - 200 {
        text.push_str(doc);
    }
    text.push_str("image: ghcr.io/acme/api:1.0.0 # {\"$imagepolicy\": \"flux-system:api\"}\n");
    let policies = BTreeMap::from([(
        "flux-system:api".to_owned(),
        "ghcr.io/acme/api:2.0.0".to_owned(),
    )]);
    let Some(before) = status_kib("VmRSS:") else {
        eprintln!("no /proc/self/status: skipped");
        return;
    };
    let result = setters::apply("big.yaml", &text, &policies).expect("applies");
    assert_eq!(result.changes.len(), 1);
    let peak = status_kib("VmHWM:").expect("VmHWM");
    let file_kib = text.len() / 1024;
    let grown = peak.saturating_sub(before);
    eprintln!("file {file_kib} KiB, peak grew by {grown} KiB");
    // The new text (1x) and some slack for the parser's buffers.
    assert!(
        grown < 3 * file_kib,
        "peak memory grew by {grown} KiB for a {file_kib} KiB file"
    );
}
