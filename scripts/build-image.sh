#!/usr/bin/env bash
# Builds the controller's OCI image without a container daemon, from scratch: the
# `gitops-controller` and `gitops` binaries, the shared libraries they and `git` (image
# automation pushes through it) link, a CA bundle, and a non-root user 65532; assembled
# with umoci into an OCI layout, optionally pushed with skopeo. Needs umoci and skopeo
# (Debian packages; scripts/provision.sh installs both).
#
#   bash scripts/build-image.sh                               # release build -> target/image:vVERSION
#   bash scripts/build-image.sh --push docker://registry.example/gitops/controller:v0.1.0 \
#        [--creds USER:PASSWORD] [--insecure]
#
# Environment: CONTROLLER and CLI (binaries to package instead of a release build), OUT (the
# OCI layout directory, default target/image), TAG (default v<workspace version>).
#
# A Dockerfile for the usual daemon build sits at the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

push="" creds="" insecure=false
while [ $# -gt 0 ]; do
    case "$1" in
        --push) push="$2"; shift 2 ;;
        --creds) creds="$2"; shift 2 ;;
        --insecure) insecure=true; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
for tool in umoci skopeo ldd; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: run bash scripts/provision.sh" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag=${TAG:-v$version}
out=${OUT:-target/image}
if [ -z "${CONTROLLER:-}" ] || [ -z "${CLI:-}" ]; then
    cargo build -q --release -p gitops-controller -p gitops-cli
fi
controller=${CONTROLLER:-target/release/gitops-controller}
cli=${CLI:-target/release/gitops}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/data" "$root/home/nonroot"
install -m 0755 "$controller" "$root/usr/local/bin/gitops-controller"
install -m 0755 "$cli" "$root/usr/local/bin/gitops"

# `git` and its HTTP and SSH helpers, for pushes of image automation.
extras=()
for tool in /usr/bin/git /usr/lib/git-core/git-remote-http /usr/bin/ssh; do
    [ -x "$tool" ] && extras+=("$tool")
done
for tool in "${extras[@]}"; do
    mkdir -p "$root$(dirname "$tool")"
    cp -L "$tool" "$root$tool"
done
[ -e "$root/usr/lib/git-core/git-remote-http" ] && ln -sf git-remote-http "$root/usr/lib/git-core/git-remote-https"

# Every shared library the binaries load, at the path the dynamic linker looks for it.
for binary in "$controller" "$cli" "${extras[@]}"; do
    ldd "$binary" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}'
done | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"

rm -rf "$out"
umoci init --layout "$out"
umoci new --image "$out:$tag"
umoci insert --image "$out:$tag" "$root" /
umoci config --image "$out:$tag" \
    --config.user 65532:65532 \
    --config.entrypoint /usr/local/bin/gitops-controller \
    --config.workingdir /home/nonroot \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --config.label org.opencontainers.image.title=gitops-controller \
    --config.label "org.opencontainers.image.version=$version" \
    --os linux --architecture amd64
umoci gc --layout "$out"
echo "image: oci:$out:$tag"

if [ -n "$push" ]; then
    args=(copy --quiet)
    [ -n "$creds" ] && args+=(--dest-creds "$creds")
    $insecure && args+=(--dest-tls-verify=false)
    skopeo "${args[@]}" "oci:$out:$tag" "$push"
    echo "pushed: $push"
fi
