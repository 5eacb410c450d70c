//! Image automation benchmarks: policy selection over 100,000 tags, and the setters over a tree
//! of 2,000 YAML files with 500 markers against a plain read of the same tree (the floor).
//!
//! `cargo bench -p gitops-local --bench images`

use criterion::{Criterion, criterion_group, criterion_main};

fn image_policy(c: &mut Criterion) {
    use gitops_core::image::policy::{Choice, Order, Policy};
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
            gitops_local::images::update_tree(dir.path(), &policies).expect("update")
        })
    });
}

criterion_group!(benches, image_policy, image_setters);
criterion_main!(benches);
