//! Benchmarks of the core model and of a whole local pass.
//!
//! `cargo bench --bench core`; the image policy and setter benches are in
//! `crates/gitops-local/benches/images.rs` (`cargo bench -p gitops-local`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use gitops::local::{DirectoryApplier, DirectorySource, PlainRenderer};
use gitops::{Inventory, ObjectRef, Reconciler, object};

fn manifests(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: ns-{}\n  labels:\n    app: app-{i}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app:{i}.0.0\n",
                i % 10
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn parse(c: &mut Criterion) {
    let text = manifests(1_000);
    c.bench_function("parse_yaml 1000 deployments", |b| {
        b.iter(|| object::parse_yaml("bench.yaml", black_box(&text)).expect("valid"))
    });
    let objects = object::parse_yaml("bench.yaml", &text).expect("valid");
    c.bench_function("to_yaml 1000 deployments", |b| {
        b.iter(|| object::to_yaml(black_box(&objects)).expect("serialisable"))
    });
}

fn inventory(c: &mut Criterion) {
    let ids = |range: std::ops::Range<usize>| -> Inventory {
        range
            .map(|i| {
                ObjectRef::new(
                    "apps",
                    "v1",
                    "Deployment",
                    Some(&format!("ns-{}", i % 10)),
                    format!("app-{i}"),
                )
            })
            .collect()
    };
    let (old, new) = (ids(0..10_000), ids(100..10_100));
    c.bench_function("inventory stale 10k", |b| {
        b.iter(|| black_box(&old).stale(black_box(&new)))
    });
}

fn local_pass(c: &mut Criterion) {
    let repo = tempfile::tempdir().expect("tempdir");
    for chunk in 0..10 {
        let text = manifests(30).replace("app-", &format!("app{chunk}-"));
        std::fs::write(repo.path().join(format!("apps-{chunk}.yaml")), text).expect("write");
    }
    let out = tempfile::tempdir().expect("tempdir");
    let applier = DirectoryApplier::new(out.path().join("rendered"));
    let me = ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some("flux-system"),
        "bench",
    );
    let reconciler = Reconciler::new(
        me,
        Arc::new(DirectorySource::new(repo.path())),
        Arc::new(PlainRenderer::new()),
        Arc::new(applier.clone()),
    )
    .with_inventory_store(Arc::new(applier));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    runtime
        .block_on(reconciler.reconcile(None))
        .expect("first pass");
    c.bench_function("no-op local pass, 300 objects", |b| {
        b.iter(|| runtime.block_on(reconciler.reconcile(None)).expect("pass"))
    });
}

criterion_group!(benches, parse, inventory, local_pass);
criterion_main!(benches);
