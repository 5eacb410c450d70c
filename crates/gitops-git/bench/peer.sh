#!/usr/bin/env bash
# Peer benchmark for gitops-git: the same repository (10,000 files, 50 MB by default), served over
# file:// and over smart http (git http-backend behind lighttpd on 127.0.0.1), fetched by
#   - `git ls-remote`            vs our no-change poll (ref listing only, no pack)
#   - `git clone --depth 1`      vs our first shallow fetch (pack + checkout, no .git)
# Each timing is the median wall-clock time of RUNS whole process runs (process start included
# on both sides). Prints a table with the ratios ours/git; the goal is <= 1.5 for both.
#
# Usage: bash crates/gitops-git/bench/peer.sh        (FILES, SIZE_MB, RUNS override the sizes)
# Needs: git, lighttpd, python3, cargo (builds the `fetch` example of gitops-git in release mode).
set -euo pipefail

FILES=${FILES:-10000}
SIZE_MB=${SIZE_MB:-50}
RUNS=${RUNS:-5}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
command -v lighttpd >/dev/null || PATH=$PATH:/usr/sbin
for tool in git lighttpd python3 cargo; do
    command -v "$tool" >/dev/null || { echo "peer.sh: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "building the gitops-git fetch example (release)..." >&2
(cd "$root" && cargo build --quiet --release -p gitops-git --example fetch)
ours=$target/release/examples/fetch

echo "making a repository of $FILES files, $SIZE_MB MB..." >&2
git init -q -b main "$work/src"
python3 - "$work/src" "$FILES" "$SIZE_MB" <<'PY'
import base64, os, random, sys
root, files, size_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per_file = size_mb * 1024 * 1024 // files
rng = random.Random(42)
for i in range(files):
    d = os.path.join(root, f"dir{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    # text that compresses about as badly as real binary-ish content
    data = base64.encodebytes(rng.randbytes(per_file * 3 // 4 + 3))[:per_file]
    with open(os.path.join(d, f"file{i:05d}.yaml"), "wb") as f:
        f.write(data)
PY
git -C "$work/src" add -A
git -C "$work/src" -c user.name=bench -c user.email=bench@example.invalid commit -q -m bench
git clone -q --bare "$work/src" "$work/repo.git"
git -C "$work/repo.git" repack -q -a -d

# smart http: git http-backend behind lighttpd, no auth
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
backend="$(git --exec-path)/git-http-backend"
cat > "$work/lighttpd.conf" <<CONF
server.modules = ("mod_alias", "mod_setenv", "mod_cgi")
server.document-root = "$work"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$work/lighttpd-error.log"
alias.url = ( "/git" => "$backend" )
\$HTTP["url"] =~ "^/git" {
    cgi.assign = ( "" => "" )
    setenv.add-environment = ( "GIT_PROJECT_ROOT" => "$work", "GIT_HTTP_EXPORT_ALL" => "1",
                               "GIT_CONFIG_NOSYSTEM" => "1", "GIT_CONFIG_GLOBAL" => "/dev/null" )
}
CONF
lighttpd -D -f "$work/lighttpd.conf" &
server_pid=$!
for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done

now_ms() { date +%s%3N; }
# median of RUNS runs of a command; $prepare (if set) runs before each, untimed
median() {
    local times=() start end
    for _ in $(seq "$RUNS"); do
        [ -n "${prepare:-}" ] && eval "$prepare"
        start=$(now_ms)
        "$@" >/dev/null 2>&1 || { echo "peer.sh: failed: $*" >&2; exit 1; }
        end=$(now_ms)
        times+=($((end - start)))
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
ratio() { python3 -c "print(f'{$1/max($2,1):.2f}')"; }

printf '%-6s %-26s %9s %9s %7s\n' transport operation git_ms ours_ms ratio
for transport in file http; do
    case $transport in
        file) url="file://$work/repo.git" ;;
        http) url="http://127.0.0.1:$port/git/repo.git" ;;
    esac
    # first shallow fetch vs git clone --depth 1
    prepare="rm -rf '$work/clone'"
    git_clone=$(median git clone -q --depth 1 --no-tags --single-branch --branch main "$url" "$work/clone")
    prepare="rm -rf '$work/store'"
    ours_first=$(median "$ours" "$url" branch:main "$work/store")
    # no-change poll vs git ls-remote
    prepare=
    rm -rf "$work/store"
    rev=$("$ours" "$url" branch:main "$work/store" | cut -d' ' -f1)
    git_ls=$(median git ls-remote "$url" refs/heads/main)
    ours_poll=$(median "$ours" "$url" branch:main "$work/store" "$rev")
    "$ours" "$url" branch:main "$work/store" "$rev" | grep -q " unchanged " || {
        echo "peer.sh: the poll did not report unchanged" >&2; exit 1; }
    printf '%-6s %-26s %9s %9s %7s\n' "$transport" "clone --depth 1 / first" "$git_clone" "$ours_first" "$(ratio "$ours_first" "$git_clone")"
    printf '%-6s %-26s %9s %9s %7s\n' "$transport" "ls-remote / no-change poll" "$git_ls" "$ours_poll" "$(ratio "$ours_poll" "$git_ls")"
done
echo "files=$FILES size_mb=$SIZE_MB runs=$RUNS (median wall-clock ms, process start included)"
