#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, docs/fuzzing.md) with clang-14 into build-fuzz/
# and runs each one, one at a time, on a temporary copy of its seed corpus and regression
# inputs (the checked-in corpus never grows).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   default: 30 s each, every target
#   scripts/fuzz.sh --long [TARGET...]                  10,000,000 executions per target
#   scripts/fuzz.sh --chunk RUNS [TARGET...]            RUNS executions per target, continuing
#       the long run in pieces: from the corpus the previous chunks grew (build-fuzz/long/),
#       adding a line to build-fuzz/long/ledger-<target>.txt; prints the total so far
#   scripts/fuzz.sh --chunk RUNS --procs N [TARGET...]  the same in N processes at once (one
#       per core), on the one grown corpus as libFuzzer's -jobs would: N x RUNS executions,
#       a ledger line for each process (a failure in any of them fails them all)
#
# Targets: envelope messages router http client_decode wire. Exits non-zero when any target
# found a crash, a leak, a timeout (10 s for one input) or ran out of memory (2 GiB), after
# printing the reproducer's path; see docs/fuzzing.md for turning one into a regression input.
# LOBBYKIT_FUZZ_BUILD_DIR overrides the build folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"

all_targets=(envelope messages router http client_decode wire)
limit=(-max_total_time=30)
what="30 s"
chunk=0
procs=1
if [ "${1:-}" = --long ]; then
  limit=(-runs=10000000)
  what="10,000,000 executions"
  shift
elif [ "${1:-}" = --chunk ]; then
  [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --chunk needs a number of executions" >&2; exit 2; }
  chunk=$2
  limit=(-runs="$chunk")
  what="$chunk executions (a chunk of the long run)"
  shift 2
  if [ "${1:-}" = --procs ]; then
    [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --procs needs a number of processes" >&2; exit 2; }
    procs=$2
    what="$((chunk * procs)) executions in $procs processes (a chunk of the long run)"
    shift 2
  fi
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  limit=(-max_total_time="$1")
  what="$1 s"
  shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
done

# The longest input worth trying, per target: a few requests, a handful of frames.
max_len() {
  case $1 in
    client_decode|wire) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

# Flags of one target. The router target finds thousands of features per input, and
# libFuzzer's entropic scheduler spends most of its time weighing them: without it the target
# runs about 3x the inputs per second and reaches the same coverage sooner (docs/fuzzing.md).
target_flags() {
  case $1 in
    router) echo -entropic=0 ;;
  esac
}

build=${LOBBYKIT_FUZZ_BUILD_DIR:-$root/build-fuzz}
echo "== build $build (clang-14, libFuzzer + ASan + UBSan)"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLOBBYKIT_BUILD_FUZZ=ON -DLOBBYKIT_BUILD_TESTS=OFF -DLOBBYKIT_BUILD_EXAMPLES=OFF \
  -DLOBBYKIT_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target lobbykit_fuzz

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  corpus="$work/corpus-$t"
  if [ "$chunk" -gt 0 ]; then corpus="$build/long/corpus-$t"; fi
  mkdir -p "$corpus"
  cp "$root/tests/fuzz/corpus/$t/"* "$corpus/"
  if [ -d "$root/tests/fuzz/regressions/$t" ]; then cp "$root/tests/fuzz/regressions/$t/"* "$corpus/"; fi
  artifacts="$build/fuzz-artifacts/$t"
  mkdir -p "$artifacts"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$(dirname "$log")"
  dict=()
  if [ -f "$root/tests/fuzz/dict/$t.dict" ]; then dict=(-dict="$root/tests/fuzz/dict/$t.dict"); fi
  read -r -a extra <<<"$(target_flags "$t")"
  cmd=("$build/tests/fuzz/fuzz_$t" "${limit[@]}" "${extra[@]}" -timeout=10 -rss_limit_mb=2048
       -max_len="$(max_len "$t")" "${dict[@]}"
       -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus")
  echo "== fuzz $t ($what): ${cmd[*]}"
  # Process p logs to $t.log (p = 1) or $t-p.log; all of them share the corpus directory.
  logs=() pids=() rcs=()
  for ((p = 1; p <= procs; p++)); do
    plog=$log
    [ "$p" -eq 1 ] || plog="${log%.log}-$p.log"
    logs+=("$plog")
    UBSAN_OPTIONS=print_stacktrace=1 "${cmd[@]}" >"$plog" 2>&1 &
    pids+=($!)
  done
  rc=0
  for ((p = 0; p < procs; p++)); do
    prc=0
    wait "${pids[$p]}" || prc=$?
    rcs+=("$prc")
    [ "$prc" -eq 0 ] || rc=$prc
  done
  for ((p = 0; p < procs; p++)); do
    plog=${logs[$p]}
    # libFuzzer's last status line (executions, coverage, speed) and its run summary.
    grep -E '^#[0-9]+[[:space:]]+DONE' "$plog" | tail -n 1 || true
    grep -E '^Done [0-9]+ runs' "$plog" | tail -n 1 || true
    if [ "$chunk" -gt 0 ]; then
      done_runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$plog" | tail -n 1)
      ledger="$build/long/ledger-$t.txt"
      # exit= is the chunk's: when one process fails, none of its siblings' runs count.
      proc=""
      [ "$procs" -eq 1 ] || proc=" process=$((p + 1))/$procs process_exit=${rcs[$p]}"
      echo "$(date -u +%FT%TZ) $(git -C "$root" rev-parse --short HEAD) runs=${done_runs:-0} exit=$rc$proc" >>"$ledger"
      total=$(awk '$4 == "exit=0" { sub("runs=", "", $3); n += $3 } END { print n + 0 }' "$ledger")
      echo "== $t: ${done_runs:-0} executions in this chunk; $total in clean chunks so far ($ledger)"
    fi
    if [ "${rcs[$p]}" -ne 0 ]; then log=$plog; fi
  done
  if [ "$rc" -ne 0 ]; then
    echo "!! fuzz_$t failed (exit $rc); log: $log"
    grep -E 'ERROR: |invariant failed|runtime error|SUMMARY: ' "$log" | head -n 5 || true
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "!! reproducer: ${reproducer:-(none written; see the log)}"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "== fuzzing FAILED: ${failed[*]}"
  exit 1
fi
echo "== fuzzing passed: ${targets[*]} ($what each, no crash, leak, timeout or OOM)"
