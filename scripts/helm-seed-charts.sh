#!/usr/bin/env bash
# Assembles the three seed charts of the Helm renderer's benchmark and differential test
# (kube-prometheus-stack with its subcharts as folders, strimzi-kafka-operator, cert-manager)
# from their public repositories, into DEST (default: ./seed-charts), and prints the
# GITOPS_HELM_SEED_CHARTS line that benches/helm-peer.sh and crates/gitops-helm/tests/helm_diff.rs
# read. Third-party charts are never committed here: this rebuilds them.
#
#   bash scripts/helm-seed-charts.sh [DEST]
#
# kube-prometheus-stack's subcharts are copied from the default branches of their
# repositories (kube-state-metrics, prometheus-node-exporter and prometheus-windows-exporter
# from prometheus-community/helm-charts, grafana from grafana-community/helm-charts), not
# pulled at the versions its Chart.yaml pins: the script says so when the two differ.
set -euo pipefail
dest=${1:-seed-charts}
mkdir -p "$dest"
cd "$dest"

fetch() { # REPOSITORY FOLDER
    if [[ ! -d "$2/.git" ]]; then
        git clone -q --depth 1 "https://github.com/$1" "$2"
    fi
}
fetch prometheus-community/helm-charts kps
fetch grafana-community/helm-charts grafana
fetch strimzi/strimzi-kafka-operator strimzi
fetch cert-manager/cert-manager cert-manager

kps=kps/charts/kube-prometheus-stack
for sub in kube-state-metrics prometheus-node-exporter prometheus-windows-exporter grafana; do
    from=kps/charts/$sub
    [[ $sub == grafana ]] && from=grafana/charts/grafana
    rm -rf "${kps:?}/charts/$sub"
    cp -r "$from" "$kps/charts/$sub"
    pinned=$(awk -v n="$sub" '$0 ~ "- name: "n"$" {f=1; next} f && /version:/ {gsub(/[" ]/, "", $2); print $2; exit}' "$kps/Chart.yaml")
    have=$(awk '/^version:/ {print $2; exit}' "$kps/charts/$sub/Chart.yaml")
    # A pin may be a pattern (`0.12.*`).
    # shellcheck disable=SC2053
    if [[ -n $pinned && $have != $pinned ]]; then
        echo "note: $sub is $have here; kube-prometheus-stack pins $pinned" >&2
    fi
done

echo "export GITOPS_HELM_SEED_CHARTS=$PWD/$kps:$PWD/strimzi/packaging/helm-charts/helm3/strimzi-kafka-operator:$PWD/cert-manager/deploy/charts/cert-manager"
