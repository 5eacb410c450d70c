#!/usr/bin/env bash
# The whole test suite, from a fresh clone: provisions every real server the tests talk to
# (kube-apiserver + etcd, Git servers, OCI registries, sops), then checks formatting and lints
# and runs every test. Under this script a missing component fails its tests instead of
# skipping them (GITOPS_TESTENV_REQUIRED=1).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
  rustup component add clippy rustfmt >/dev/null 2>&1 || true
fi

# Nothing else runs during the suite: let the one-time Go builds use every core.
export GITOPS_TESTENV_GO_JOBS="${GITOPS_TESTENV_GO_JOBS:-$(nproc)}"
bash scripts/provision.sh

export GITOPS_TESTENV_REQUIRED=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A clean build gains nothing from incremental caches, which would double the target's size.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# A full disk shows up as linker and etcd failures far from their cause: say it first.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kib:-0}" -lt $((6 * 1024 * 1024)) ]; then
  echo "warning: only $((free_kib / 1024)) MiB free here; a clean build and test run needs about 6 GiB" >&2
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "== cargo test"
cargo test --workspace --all-features --no-fail-fast
