#!/usr/bin/env bash
# Flux side by side: the same workload on the same test API server, once with Flux's
# source-controller and kustomize-controller and once with gitops-controller (release build),
# each on a fresh etcd, and one table per shape with the ratio ours/Flux. See benches/README.md.
# The driver is crates/gitops-controller/examples/bench_flux_peer.rs (`--help` lists its flags).
#
#   bash scripts/provision.sh --flux         # once: builds Flux's two controllers (bench only)
#   bash benches/flux-peer.sh                # every shape in SHAPES
#   SHAPES=one-repo:20 bash benches/flux-peer.sh             # a quick run
#   bash benches/flux-peer.sh --peers ours                   # extra arguments go to the driver
#
# Environment: SHAPES (default "one-repo:100 many-repos:100 one-repo:1000", each SHAPE:APPS),
# OBJECTS per app (20), FLUX_PHASE_TIMEOUT in seconds (600; a phase that takes longer is
# reported as not finished and the peer's later phases are skipped), STATUS_DIR (where each
# peer's status of the first Kustomization is written; target/flux-peer), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../crates/gitops-testenv/versions.env
source crates/gitops-testenv/versions.env
target=${CARGO_TARGET_DIR:-target}
cache=${GITOPS_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-testenv}
source_controller="$cache/source-controller-$FLUX_SOURCE_CONTROLLER_VERSION/source-controller"
kustomize_controller="$cache/kustomize-controller-$FLUX_KUSTOMIZE_CONTROLLER_VERSION/kustomize-controller"
for binary in "$source_controller" "$kustomize_controller"; do
    if [ ! -x "$binary" ]; then
        echo "flux-peer: no $binary; run: bash scripts/provision.sh --flux" >&2
        exit 1
    fi
done

echo "building the controller and the driver (release)…" >&2
cargo build -q --release -p gitops-controller --bins --example bench_flux_peer

for shape in ${SHAPES:-one-repo:100 many-repos:100 one-repo:1000}; do
    echo "== ${shape%%:*}, ${shape##*:} Kustomizations" >&2
    "$target/release/examples/bench_flux_peer" \
        --shape "${shape%%:*}" --apps "${shape##*:}" --objects "${OBJECTS:-20}" \
        --phase-timeout "${FLUX_PHASE_TIMEOUT:-600}" \
        --controller "$target/release/gitops-controller" \
        --source-controller "$source_controller" \
        --kustomize-controller "$kustomize_controller" \
        --status-dir "${STATUS_DIR:-$target/flux-peer}" \
        "$@"
done
