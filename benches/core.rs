//! Benchmarks of the core model and of a whole local pass.
//!
//! `cargo bench --bench core`

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

fn image_policy(c: &mut Criterion) {
    use gitops::image::policy::{Choice, Order, Policy};
    let tags: Vec<String> = (0..100_000)
        .map(|i| match i % 4 {
            0 => format!("{}.{}.{}", i % 7, i % 100, i),
            1 => format!("v{}.{}.{}-rc.{}", i % 7, i % 100, i, i % 5),
            2 => format!("main-{i}-abcdef"),
            _ => format!("sha-{i:08x}"),
        })
        .collect();
    let semver = Policy::new(Choice::Semver(">=1.0.0 <6.0.0".parse().expect("range")));
    c.bench_function("policy semver, 100k tags", |b| {
        b.iter(|| {
            semver
                .latest(tags.iter().map(String::as_str))
                .expect("a tag")
        })
    });
    let numerical = Policy::new(Choice::Numerical(Order::Asc))
        .with_filter(r"^main-(\d+)-", "$1")
        .expect("pattern");
    c.bench_function("policy numerical with filter, 100k tags", |b| {
        b.iter(|| {
            numerical
                .latest(tags.iter().map(String::as_str))
                .expect("a tag")
        })
    });
}

fn image_setters(c: &mut Criterion) {
    // 2,000 YAML files, 500 of them with a marker: the issue's automation benchmark.
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..2_000 {
        let marker = if i % 4 == 0 {
            r#" # {"$imagepolicy": "flux-system:app"}"#
        } else {
            ""
        };
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app:1.0.0{marker}\n"
        );
        std::fs::create_dir_all(dir.path().join(format!("d{}", i % 20))).expect("dir");
        std::fs::write(dir.path().join(format!("d{}/f{i}.yaml", i % 20)), text).expect("write");
    }
    c.bench_function("read 2000 yaml files (floor)", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for d in std::fs::read_dir(dir.path()).expect("read") {
                for f in std::fs::read_dir(d.expect("entry").path()).expect("read") {
                    bytes += std::fs::read(f.expect("entry").path()).expect("file").len();
                }
            }
            bytes
        })
    });
    let mut flip = false;
    c.bench_function("update 2000 yaml files, 500 markers", |b| {
        b.iter(|| {
            flip = !flip;
            let tag = if flip { "2.0.0" } else { "1.0.0" };
            let policies = [(
                "flux-system:app".to_owned(),
                format!("registry.example.com/app:{tag}"),
            )]
            .into();
            gitops::local::images::update_tree(dir.path(), &policies).expect("update")
        })
    });
}

criterion_group!(
    benches,
    parse,
    inventory,
    local_pass,
    image_policy,
    image_setters
);
criterion_main!(benches);
