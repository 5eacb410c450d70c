#!/bin/sh
# Rebuilds the external kustomize differential corpus (issue 16) and reports how our build
# compares with `kubectl kustomize`. See scripts/kustomize_corpus.py for options and the layout
# of the work dir (default target/kustomize-corpus).
#
# Then runs the randomised tree generator (crates/gitops-kustomize/tests/generated.rs) on more
# seeds than the test suite does: GENERATED_SEEDS (default 400) seeds after the suite's first
# 100, every overlay of each, each tree built by kubectl and by us. GENERATED_SEEDS=0 skips it.
set -eu
cd "$(dirname "$0")/.."
python3 scripts/kustomize_corpus.py "$@"
seeds=${GENERATED_SEEDS:-400}
if [ "$seeds" -gt 0 ]; then
  echo "generated trees: seeds 100..$((100 + seeds)), every overlay"
  if GITOPS_GENERATED_FIRST=100 GITOPS_GENERATED_SEEDS="$seeds" GITOPS_GENERATED_ALL=1 \
    cargo test -q -p gitops-kustomize --test generated >target/kustomize-generated.log 2>&1; then
    echo "  all identical to kubectl kustomize (or failing on both sides)"
  else
    echo "  differences: see target/kustomize-generated.log" >&2
    tail -20 target/kustomize-generated.log >&2
  fi
fi
