#!/usr/bin/env bash
# Peer benchmark of kustomize builds: `kubectl kustomize` (kustomize v5.5.0) and our release
# driver (`crates/gitops-kustomize/examples/kustomize-build.rs`, the code behind `gitops build`)
# on the same directories, in one run. Per directory: the median wall time and median peak RSS
# (`/usr/bin/time -f %M`) of each tool, the ratio, and whether the outputs are identical (an
# error on both sides counts as agreement); then the slowest five directories of each tool, the
# summed times and ratio, and the largest peak of each.
#
#   bash benches/kustomize-peer.sh                          # the default corpus (below)
#   bash benches/kustomize-peer.sh target/kustomize-corpus  # plus every case folder under it
#   RUNS=3 GENERATED=20 CRD_MB="5 20" bash benches/kustomize-peer.sh
#   CORPUS=0 GENERATED=0 CRD_MB=50 bash benches/kustomize-peer.sh    # only the largest bundle
#
# The default corpus: every case of crates/gitops-kustomize/tests/corpus, GENERATED (default
# 50) trees of the randomised generator (crates/gitops-kustomize/tests/generated.rs, one case
# per overlay), and synthetic CRD bundles of CRD_MB megabytes each (default "5 20 50",
# benches/kustomize-crds.py: deep openAPIV3Schema, long descriptions). A case folder holds a
# kustomization, or a `build.txt` naming the directory to build on its first line and flags
# on its second, as in tests/corpus (scripts/kustomize-corpus.sh writes its cases so).
#
# CRD_MB="" or GENERATED=0 leaves those out. RUNS (default 5) runs per tool and directory; a directory whose first kubectl run takes more
# than 2 s gets 3 runs, more than 20 s one. TSV=FILE also writes the rows as tab-separated values.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
GENERATED=${GENERATED-50}
CRD_MB=${CRD_MB-5 20 50}

command -v kubectl >/dev/null || { echo "kubectl missing (kubectl kustomize is the reference)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (GNU time) missing" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building the driver (release)…" >&2
nice cargo build -q --release -p gitops-kustomize --example kustomize-build
ours=$PWD/target/release/examples/kustomize-build

# Cases: "name<TAB>dir<TAB>flags".
cases=()
add_case() { # folder name
    local folder=$1 name=$2 dir=$1 flags=""
    if [[ -f "$folder/build.txt" ]]; then
        local first second
        first=$(sed -n 1p "$folder/build.txt" | tr -d '[:space:]')
        second=$(sed -n 2p "$folder/build.txt")
        case $first in
            "") ;;
            /*) dir=$first ;;
            *) dir="$folder/$first" ;;
        esac
        flags=$second
    fi
    cases+=("$name"$'\t'"$dir"$'\t'"$flags")
}
if [[ "${CORPUS:-1}" != 0 ]]; then
    for c in crates/gitops-kustomize/tests/corpus/*/; do
        add_case "${c%/}" "corpus/$(basename "$c")"
    done
fi
if ((GENERATED > 0)); then
    echo "writing $GENERATED generated trees…" >&2
    GITOPS_GENERATED_OUT="$work/generated" GITOPS_GENERATED_SEEDS=$GENERATED \
        nice cargo test -q -p gitops-kustomize --test generated -- --ignored write_generated_trees >/dev/null
    for c in "$work"/generated/*/; do
        add_case "${c%/}" "generated/$(basename "$c")"
    done
fi
for mb in $CRD_MB; do
    echo "writing a ${mb} MB CRD bundle…" >&2
    mkdir -p "$work/crds-${mb}mb"
    python3 benches/kustomize-crds.py "$work/crds-${mb}mb" "$mb"
    add_case "$work/crds-${mb}mb" "crds-${mb}mb"
done
for extra in "$@"; do
    while IFS= read -r c; do
        add_case "$c" "$(basename "$extra")/$(basename "$c")"
    done < <(find "$extra" -mindepth 1 -maxdepth 1 -type d | sort)
done

# Runs a command N times; prints "median_us median_peak_kib exit_code median_cpu_us" (CPU:
# user + system, which a loaded machine disturbs less than wall time); the last run's output
# stays in $work/out.
measure() {
    local n=$1
    shift
    local times=() rss=() cpu=() code=0
    for _ in $(seq "$n"); do
        local t0 t1
        t0=$(date +%s%N)
        code=0
        /usr/bin/time -f '%M %U %S' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || code=$?
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000)))
        read -r m u s < <(tail -n1 "$work/time")
        rss+=("$m")
        cpu+=("$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%d", (u + s) * 1e6}')")
    done
    median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
    echo "$(median "${times[@]}") $(median "${rss[@]}") $code $(median "${cpu[@]}")"
}

ms() { awk -v us="$1" 'BEGIN{ if (us >= 1e6) printf "%.2f s", us/1e6; else printf "%.1f ms", us/1000 }'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f MiB", k/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1fx", a/b; else print "-" }'; }

echo "kubectl: $(kubectl version --client 2>/dev/null | grep -i kustomize || echo unknown); ${#cases[@]} directories; runs: $RUNS (3 above 2 s, 1 above 20 s)"
rows=$work/rows.tsv
: >"$rows"
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' directory "output bytes" "kubectl time" "kubectl CPU" "kubectl peak RSS" "ours time" "ours CPU" "ours peak RSS" "speed-up" identical
printf '|%s|\n' "---|---:|---:|---:|---:|---:|---:|---:|---:|:---:"
for c in "${cases[@]}"; do
    IFS=$'\t' read -r name dir flags <<<"$c"
    read -r -a fl <<<"$flags"
    # One run first: it sizes the number of runs (none needed for one run).
    n=$RUNS
    if ((RUNS > 1)); then
        read -r first_us _ _ _ < <(measure 1 kubectl kustomize "$dir" "${fl[@]}")
        ((first_us > 2000000)) && n=3
        ((first_us > 20000000)) && n=1
    fi
    read -r k_us k_kib k_code k_cpu < <(measure "$n" kubectl kustomize "$dir" "${fl[@]}")
    cp "$work/out" "$work/kubectl.out"
    read -r o_us o_kib o_code o_cpu < <(measure "$n" "$ours" "$dir" "${fl[@]}")
    same=no
    if ((k_code == 0 && o_code == 0)); then
        cmp -s "$work/kubectl.out" "$work/out" && same=yes
    elif ((k_code != 0 && o_code != 0)); then
        same="both fail"
    elif ((k_code != 0)); then
        same="kubectl fails"
    else
        same="we fail"
    fi
    bytes=$(wc -c <"$work/kubectl.out")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$bytes" "$k_us" "$k_kib" "$o_us" "$o_kib" "$same" "$k_cpu" "$o_cpu" >>"$rows"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$bytes" "$(ms "$k_us")" "$(ms "$k_cpu")" "$(mib "$k_kib")" \
        "$(ms "$o_us")" "$(ms "$o_cpu")" "$(mib "$o_kib")" "$(ratio "$k_us" "$o_us")" "$same"
done

[[ -n "${TSV:-}" ]] && cp "$rows" "$TSV"
echo
echo "Slowest five for kubectl:"
sort -t$'\t' -k3,3nr "$rows" | awk 'NR <= 5' | while IFS=$'\t' read -r name bytes k_us k_kib o_us o_kib _; do
    echo "  $name ($bytes bytes): kubectl $(ms "$k_us"), ours $(ms "$o_us") ($(ratio "$k_us" "$o_us"))"
done
echo "Slowest five for ours:"
sort -t$'\t' -k5,5nr "$rows" | awk 'NR <= 5' | while IFS=$'\t' read -r name bytes k_us k_kib o_us o_kib _; do
    echo "  $name ($bytes bytes): ours $(ms "$o_us"), kubectl $(ms "$k_us") ($(ratio "$k_us" "$o_us"))"
done
awk -F'\t' '
    { k += $3; o += $5; kc += $8; oc += $9; n++
      if ($4 > kp) kp = $4; if ($6 > op) op = $6
      if ($5 >= $3) { slower++; list = list " " $1 }
      if ($6 >= $4) { heavier++ }
      if ($7 != "yes" && $7 != "both fail") { diff++; dlist = dlist " " $1 " (" $7 ")" } }
    END {
      cpu = (oc > 0 ? sprintf("%.1fx", kc/oc) : "ours under the 10 ms resolution")
      printf "Summed over %d directories: kubectl %.2f s, ours %.2f s: %.1fx (CPU: kubectl %.2f s, ours %.2f s: %s)\n", n, k/1e6, o/1e6, (o > 0 ? k/o : 0), kc/1e6, oc/1e6, cpu
      printf "Largest peak RSS: kubectl %.1f MiB, ours %.1f MiB\n", kp/1024, op/1024
      printf "Directories where we are not faster: %d%s\n", slower, list
      printf "Directories where our peak RSS is not lower: %d\n", heavier
      printf "Directories not identical: %d%s\n", diff, dlist
    }' "$rows"
exit 0
