#!/bin/sh
# Rebuilds the external kustomize differential corpus (issue 16) and reports how our build
# compares with `kubectl kustomize`. See scripts/kustomize_corpus.py for options and the layout
# of the work dir (default target/kustomize-corpus).
set -eu
exec python3 "$(dirname "$0")/kustomize_corpus.py" "$@"
