#!/usr/bin/env bash
# Benchmark of the controller (crates/gitops-controller): the time from a Git push to applied
# objects, and the controller's CPU time, peak memory and API requests, at 100 Kustomizations x
# 20 objects (2,000 objects) on the test kube-apiserver and Git servers of gitops-testenv.
# The driver is crates/gitops-controller/examples/bench_controller.rs; it prints one line per run, then a table.
#
#   bash benches/controller.sh                               # 100 apps x 20 objects, 5 runs
#   bash benches/controller.sh --apps 5 --repeats 1 --idle 5 # a quick run
#   bash benches/controller.sh --concurrent 8 --source-interval 5m
#
# Arguments go to the driver (`--help` lists them). Needs what `bash scripts/provision.sh`
# installs (kube-apiserver, etcd, git, lighttpd, sshd). CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}

echo "building the controller and the driver (release)…" >&2
cargo build -q --release -p gitops-controller --bins --example bench_controller
exec "$target/release/examples/bench_controller" --controller "$target/release/gitops-controller" "$@"
