//! A 100 MB repository index (a public one's size, many charts and versions) is read for one
//! chart in bounded memory: the process's peak resident size stays under 64 MiB. Alone in its
//! test binary, so the peak is this test's.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::io::{BufWriter, Write};

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_100_mb_index_is_read_in_under_64_mib() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.yaml");
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(out, "apiVersion: v1\nentries:").unwrap();
    // One chart's 200 entries, written once and renamed per chart.
    let mut entries = String::new();
    for version in 0..200 {
        entries.push_str(&format!(
            "  - apiVersion: v2\n    appVersion: {version}.0.0\n    created: \"2026-01-01T00:00:00Z\"\n    description: A chart that exists to make the index large, version {version}.\n    digest: {version:064x}\n    name: CHART\n    urls:\n    - https://charts.example/CHART-0.{version}.0.tgz\n    version: 0.{version}.0\n"
        ));
    }
    let mut chart = 0;
    let mut written = 0;
    while written < 100 << 20 {
        let name = format!("chart-{chart}");
        let block = format!("  {name}:\n{}", entries.replace("CHART", &name));
        out.write_all(block.as_bytes()).unwrap();
        written += block.len();
        chart += 1;
    }
    writeln!(out, "generated: \"2026-01-01T00:00:00Z\"").unwrap();
    out.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size >= 100 << 20, "{size}");

    let wanted = format!("chart-{}", chart / 2);
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let versions = gitops_helm::repository::read_chart_versions(file, &wanted).unwrap();
    assert_eq!(versions.len(), 200);
    let peak = peak_kib();
    println!(
        "index of {} MiB, {chart} charts: peak RSS {} KiB",
        size >> 20,
        peak
    );
    assert!(
        peak < 64 * 1024,
        "peak RSS {peak} KiB reading a {size}-byte index"
    );
}
