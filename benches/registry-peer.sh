#!/usr/bin/env bash
# Peer benchmark of image scanning: lists the tags of one repository on the test registry
# (Debian's docker-registry, basic auth, plain HTTP on 127.0.0.1) with `skopeo list-tags` and
# with our scanner (`crates/gitops-registry/src/bin/oci-tags.rs`, the code behind
# `gitops image tags`; pages of 100), in one run, and prints the times and their ratio.
#
#   bash benches/registry-peer.sh            # 5,000 tags, 7 runs each
#   N=20000 RUNS=5 bash benches/registry-peer.sh
#
# Needs what `bash scripts/provision.sh` installs (docker-registry, skopeo).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
RUNS=${RUNS:-7}
REPO=bench/app

command -v skopeo >/dev/null || { echo "skopeo missing: run bash scripts/provision.sh" >&2; exit 1; }
echo "building (release)…" >&2
# A binary target, not an example: examples would build every dev-dependency in release.
cargo build -q --release -p gitops-registry --bin oci-tags
cargo build -q -p gitops-testenv
work=$(mktemp -d)
trap 'kill "$env_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

target/debug/gitops-testenv up --only registry >"$work/env.log" 2>&1 &
env_pid=$!
for _ in $(seq 100); do grep -q '^registry basic' "$work/env.log" && break; sleep 0.2; done
line=$(grep '^registry basic' "$work/env.log")
addr=$(awk '{print $3}' <<<"$line")
user=$(sed -E 's/.*user ([^ ]+) .*/\1/' <<<"$line")
pass=$(sed -E 's/.*password ([^)]+)\).*/\1/' <<<"$line")
base="http://$addr"

# One config blob and one manifest, tagged N times.
config='{}'
config_digest="sha256:$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)"
location=$(curl -sf -u "$user:$pass" -X POST -D - -o /dev/null "$base/v2/$REPO/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
case "$location" in /*) location="$base$location" ;; esac
sep='?'; case "$location" in *\?*) sep='&' ;; esac
curl -sf -u "$user:$pass" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "$config" "$location${sep}digest=$config_digest" >/dev/null
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' "$config_digest" >"$work/manifest.json"
echo "pushing $N tags…" >&2
seq 0 $((N - 1)) | awk '{printf "%d.%d.%d\n", int($1/1000), int($1/10)%100, $1%10}' |
    xargs -P 8 -I{} curl -sf -u "$user:$pass" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$work/manifest.json" "$base/v2/$REPO/manifests/{}" -o /dev/null

printf '{"auths":{"%s":{"username":"%s","password":"%s"}}}' "$addr" "$user" "$pass" >"$work/auth.json"

median_ms() { # runs a command RUNS times, prints the median wall time in ms
    local times=()
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >"$work/out" 2>/dev/null
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
}

ours=$(median_ms target/release/oci-tags "$addr/$REPO" --insecure --auth-file "$work/auth.json")
ours_count=$(wc -l <"$work/out")
peer=$(median_ms skopeo list-tags --tls-verify=false --creds "$user:$pass" "docker://$addr/$REPO")
peer_count=$(grep -c '"' "$work/out" || true)
peer_count=$((peer_count - 2)) # the "Repository" and "Tags" lines

echo
printf '%-44s %8s %8s\n' "list $N tags (median of $RUNS)" "ms" "tags"
printf '%-44s %8s %8s\n' "skopeo list-tags" "$peer" "$peer_count"
printf '%-44s %8s %8s\n' "gitops-registry (pages of 100)" "$ours" "$ours_count"
awk -v a="$peer" -v b="$ours" 'BEGIN{ if (b > 0) printf "ratio skopeo/gitops: %.2fx\n", a / b }'
[ "$ours_count" = "$N" ] || { echo "gitops listed $ours_count tags, expected $N" >&2; exit 1; }
