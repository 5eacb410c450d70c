#!/usr/bin/env bash
# Runs every property test named `fuzz_*` in `crates/*/tests/fuzz.rs` (and `fuzz_*.rs`) for longer than the
# everyday suite does: `bash scripts/fuzz.sh [SECONDS]` (default 60) splits SECONDS over the
# targets and runs each one again and again with a fresh proptest seed until its share is used.
#
# - Builds each crate's fuzz tests once, in release mode.
# - Every run gets a memory limit (FUZZ_MEMORY_KIB, default 4 GiB, through `ulimit -v`) and a
#   time limit, so an allocation bomb or a hang is a failure, not a stuck machine.
# - Prints a table target -> cases run -> result, and for a failure the command that
#   reproduces it (seed and number of cases). Exits non-zero on any failure or crash.
#
# A crate joins by adding `crates/<crate>/tests/fuzz.rs` with `fuzz_` tests that read
# `PROPTEST_CASES` and `PROPTEST_RNG_SEED` (proptest's own variables); nothing to change here.
set -uo pipefail
cd "$(dirname "$0")/.."

budget="${1:-60}"
memory_kib="${FUZZ_MEMORY_KIB:-4194304}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_TERM_COLOR=never

if ! [[ "$budget" =~ ^[0-9]+$ ]] || [ "$budget" -lt 1 ]; then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
seed() { od -An -N8 -tu8 /dev/urandom | tr -d ' '; }

# 1. Build: one binary per crate, and the list of its fuzz_ targets.
targets=()   # "crate|binary|test"
for file in crates/*/tests/fuzz.rs crates/*/tests/fuzz_*.rs; do
  [ -e "$file" ] || continue
  dir="${file%/tests/*}"
  test=$(basename "$file" .rs)
  crate=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1)
  echo "== building $crate --test $test (release)" >&2
  if ! out=$(cargo test --release -p "$crate" --test "$test" --no-run 2>&1); then
    echo "$out" >&2
    echo "error: the fuzz tests of $crate ($test) do not build" >&2
    exit 1
  fi
  bin=$(printf '%s\n' "$out" | sed -n "s/.*Executable tests\/$test.rs (\(.*\))\$/\1/p" | tail -1)
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "error: no test binary found for $crate ($test)" >&2
    exit 1
  fi
  while read -r name; do
    targets+=("$crate|$bin|$name")
  done < <("$bin" --list 2>/dev/null | sed -n 's/^\(fuzz_[A-Za-z0-9_]*\): test$/\1/p')
done

if [ "${#targets[@]}" -eq 0 ]; then
  echo "no fuzz_ targets found in crates/*/tests/fuzz*.rs" >&2
  exit 1
fi

share=$(awk -v b="$budget" -v n="${#targets[@]}" 'BEGIN { printf "%.3f", b / n }')
echo "== ${#targets[@]} targets, ${share} s each, memory limit ${memory_kib} KiB" >&2

# 2. Run: each target repeatedly with fresh seeds. A run's size adapts so that one run takes
# about a tenth of the share (at least 32 cases), so the share is used without overrunning it.
results=()
failures=0
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
for t in "${targets[@]}"; do
  IFS='|' read -r crate bin name <<<"$t"
  start=$(now)
  cases_run=0
  runs=0
  cases=32
  result="ok"
  while :; do
    spent=$(elapsed "$start")
    left=$(awk -v s="$share" -v e="$spent" 'BEGIN { printf "%.3f", s - e }')
    if awk -v l="$left" 'BEGIN { exit !(l <= 0) }'; then
      break
    fi
    s=$(seed)
    # A run may overrun its share by a minute before it counts as a hang.
    limit=$(awk -v l="$left" 'BEGIN { printf "%d", l + 60 }')
    log="$log_dir/$name.log"
    run_start=$(now)
    (
      ulimit -v "$memory_kib"
      PROPTEST_RNG_SEED="$s" PROPTEST_CASES="$cases" \
        timeout --signal=KILL "$limit" "$bin" --exact "$name" --test-threads=1 >"$log" 2>&1
    )
    code=$?
    took=$(elapsed "$run_start")
    runs=$((runs + 1))
    if [ "$code" -ne 0 ]; then
      case "$code" in
        137) why="killed (hang past ${limit} s, or out of memory)" ;;
        134) why="aborted (stack overflow or allocation failure)" ;;
        101) why="property failed" ;;
        *) why="exit code $code" ;;
      esac
      result="FAIL: $why"
      failures=$((failures + 1))
      echo "---- $crate::$name failed: $why" >&2
      tail -40 "$log" >&2
      echo "reproduce: PROPTEST_RNG_SEED=$s PROPTEST_CASES=$cases cargo test --release -p $crate --test fuzz -- --exact $name" >&2
      break
    fi
    cases_run=$((cases_run + cases))
    # Next run: about a tenth of the share, from this run's speed.
    cases=$(awk -v c="$cases" -v t="$took" -v s="$share" 'BEGIN {
      per = t / c; if (per <= 0) per = 0.0001;
      n = int((s / 10) / per); if (n < 32) n = 32; if (n > 1000000) n = 1000000; print n }')
  done
  results+=("$crate::$name|$cases_run|$runs|$result")
done

# 3. Report.
printf '\n%-52s %12s %6s  %s\n' "target" "cases" "runs" "result"
for r in "${results[@]}"; do
  IFS='|' read -r target cases_run runs result <<<"$r"
  printf '%-52s %12s %6s  %s\n' "$target" "$cases_run" "$runs" "$result"
done
if [ "$failures" -ne 0 ]; then
  echo "$failures target(s) failed" >&2
  exit 1
fi
