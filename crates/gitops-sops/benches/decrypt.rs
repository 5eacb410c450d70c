//! Decryption speed: one file of 5,000 values, and 200 small `Secret`s.
//!
//! The files are encrypted by this crate (the peer script in `bench/` compares with `sops`).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use gitops_sops::{EncryptOptions, Keyring};

fn large_yaml(values: usize) -> String {
    let mut s = String::from("apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\n");
    for section in 0..values / 100 {
        s.push_str(&format!("section{section}:\n"));
        for i in 0..100 {
            s.push_str(&format!(
                "  key{i}: value-{section}-{i}-abcdefghijklmnopqrstuvwxyz\n"
            ));
        }
    }
    s
}

fn small_secret(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\n  namespace: apps\ntype: Opaque\nstringData:\n  username: user{i}\n  password: pw-{i}-0123456789\n  url: https://db{i}.example.com:5432/app\n"
    )
}

fn bench(c: &mut Criterion) {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let keys = {
        use age::secrecy::ExposeSecret;
        Keyring::from_identity_file("bench", id.to_string().expose_secret()).expect("key")
    };
    let opts = EncryptOptions::default().with_age_recipients([recipient]);
    let large = gitops_sops::encrypt(Path::new("large.yaml"), large_yaml(5_000).as_bytes(), &opts)
        .expect("encrypt large");
    let smalls: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            gitops_sops::encrypt(Path::new("s.yaml"), small_secret(i).as_bytes(), &opts)
                .expect("encrypt small")
        })
        .collect();

    c.bench_function("decrypt 5000-value yaml", |b| {
        b.iter(|| {
            gitops_sops::decrypt(Path::new("large.yaml"), black_box(&large), &keys).expect("ok")
        })
    });
    c.bench_function("decrypt 200 small secrets", |b| {
        b.iter(|| {
            for s in &smalls {
                black_box(
                    gitops_sops::decrypt(Path::new("s.yaml"), black_box(s), &keys).expect("ok"),
                );
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
