#!/usr/bin/env bash
# Peer benchmark of chart rendering: `helm template` (v4.3.2, from the test environment) and
# our renderer (`crates/gitops-helm/src/bin/helm-template-driver.rs`, the code behind
# `gitops helm template`, release build) on the same charts, in one run: per chart the median
# wall time of each over RUNS runs, the two tools taking turns (`benches/run_pair.py`: from
# starting the process to reaping it), their peak RSS (GNU time), the ratios, whether the outputs are identical, and where our time went
# (load, values, render, output).
#
#   bash benches/helm-peer.sh                       # the charts in $GITOPS_HELM_SEED_CHARTS
#   bash benches/helm-peer.sh /path/to/charts       # every chart found under a folder
#   RUNS=21 HELM_ARGS='--kube-version 1.31.0 --include-crds' bash benches/helm-peer.sh
#
# GITOPS_HELM_SEED_CHARTS is colon-separated, as for crates/gitops-helm/tests/helm_diff.rs
# (the seed charts are never committed: export them from their repositories). A chart with a
# `charts/grafana` subchart gets `--set grafana.adminPassword=bench` so that both outputs are
# comparable (grafana's default password is random).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-11}
read -r -a EXTRA <<<"${HELM_ARGS:-${GITOPS_HELM_SEED_ARGS:-}}"

[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (GNU time) missing" >&2; exit 1; }
helm=${HELM:-$(ls "${XDG_CACHE_HOME:-$HOME/.cache}"/gitops-testenv/helm-v4.3.2/helm 2>/dev/null || command -v helm || true)}
[[ -x "$helm" ]] || { echo "helm v4.3.2 missing: run bash scripts/provision.sh (or set HELM=)" >&2; exit 1; }

# The charts: each argument (or entry of GITOPS_HELM_SEED_CHARTS) is a chart, or a folder
# searched for charts (a Chart.yaml not inside another chart's charts/ folder).
sources=("$@")
if [[ ${#sources[@]} -eq 0 ]]; then
    if [[ -z "${GITOPS_HELM_SEED_CHARTS:-}" ]]; then
        echo "no charts: give CHARTS_DIR or set GITOPS_HELM_SEED_CHARTS=/path/chart-a:/path/chart-b" >&2
        echo "(kube-prometheus-stack, strimzi-kafka-operator, cert-manager, exported from their repositories)" >&2
        exit 1
    fi
    IFS=: read -r -a sources <<<"$GITOPS_HELM_SEED_CHARTS"
fi
charts=()
for src in "${sources[@]}"; do
    [[ -n "$src" ]] || continue
    if [[ -f "$src/Chart.yaml" || "$src" == *.tgz ]]; then
        charts+=("$src")
    else
        while IFS= read -r c; do charts+=("$(dirname "$c")"); done < <(
            find "$src" -name Chart.yaml -not -path '*/charts/*/Chart.yaml' -not -path '*/node_modules/*' | sort
        )
    fi
done
[[ ${#charts[@]} -gt 0 ]] || { echo "no Chart.yaml found under: ${sources[*]}" >&2; exit 1; }

# The driver is linked statically, as helm (a Go program) is: no dynamic loader and no
# relocations at start-up, about 1 ms less per run (1.9 → 1.1 ms for a run that only prints
# its usage). Where the static C library is missing, the usual dynamic build is measured.
echo "building the driver (release, static)…" >&2
host=$(rustc -vV | sed -n 's/^host: //p')
static_dir=${CARGO_TARGET_DIR:-target}/static
if RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" CARGO_TARGET_DIR=$static_dir \
    nice cargo build -q --release -p gitops-helm --bin helm-template-driver --no-default-features \
    --features mimalloc --target "$host" 2>/dev/null; then
    ours=$static_dir/$host/release/helm-template-driver
else
    echo "static build failed; measuring the dynamically linked driver" >&2
    nice cargo build -q --release -p gitops-helm --bin helm-template-driver --no-default-features --features mimalloc
    ours=${CARGO_TARGET_DIR:-target}/release/helm-template-driver
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ms() { awk -v us="$1" 'BEGIN{printf "%.1f ms", us/1000}'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f MiB", k/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1fx", a/b; else print "-" }'; }
fraction() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }

echo "helm: $("$helm" version --short 2>/dev/null || echo "$helm"); runs per tool and chart: $RUNS; args: ${EXTRA[*]:-(none)}"
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' chart "helm time" "helm peak RSS" "ours time" "ours peak RSS" "speed-up" "RSS ours/helm" "output bytes" identical
printf '|%s|\n' "---|---:|---:|---:|---:|---:|---:|---:|:---:"
total_helm=0 total_ours=0 peak_helm=0 peak_ours=0 phases_all=""
for chart in "${charts[@]}"; do
    args=(template bench "$chart" "${EXTRA[@]}")
    [[ -d "$chart/charts/grafana" ]] && args+=(--set grafana.adminPassword=bench)
    read -r helm_us helm_kib ours_us ours_kib < <(
        python3 benches/run_pair.py "$RUNS" "$work/helm.out" "$work/ours.out" \
            -- "$helm" "${args[@]}" -- "$ours" "${args[@]:1}"
    )
    same=no
    cmp -s "$work/helm.out" "$work/ours.out" && same=yes
    [[ -s "$work/helm.out.err" && ! -s "$work/helm.out" ]] && same="helm failed: $(head -c 200 "$work/helm.out.err")"
    phases=$(GITOPS_HELM_PHASES=1 "$ours" "${args[@]:1}" 2>&1 >/dev/null | grep '^phases:' || true)
    name=$(basename "$chart")
    phases_all+="$name: ${phases#phases: }"$'\n'
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
        "$(ms "$helm_us")" "$(mib "$helm_kib")" "$(ms "$ours_us")" "$(mib "$ours_kib")" \
        "$(ratio "$helm_us" "$ours_us")" "$(fraction "$ours_kib" "$helm_kib")" \
        "$(wc -c <"$work/ours.out")" "$same"
    total_helm=$((total_helm + helm_us)) total_ours=$((total_ours + ours_us))
    ((helm_kib > peak_helm)) && peak_helm=$helm_kib
    ((ours_kib > peak_ours)) && peak_ours=$ours_kib
done
printf '| %s | %s | %s | %s | %s | %s | %s | | |\n' "**all ${#charts[@]} (sum of medians; largest peak)**" \
    "$(ms "$total_helm")" "$(mib "$peak_helm")" "$(ms "$total_ours")" "$(mib "$peak_ours")" \
    "$(ratio "$total_helm" "$total_ours")" "$(fraction "$peak_ours" "$peak_helm")"
echo
echo "Where our time went (one run each, in-process):"
printf '%s' "$phases_all"
