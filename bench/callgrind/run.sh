#!/usr/bin/env bash
# Callgrind measurement of lobbykit's in-process cost per relayed message and per broadcast
# recipient. usage: bench/callgrind/run.sh BUILD_DIR [OUT_DIR]
# BUILD_DIR holds lobbykit-inproc-cost (configure with -DLOBBYKIT_BUILD_BENCH=ON; add
# -DCMAKE_CXX_FLAGS=-g to a Release build for file:line in the reports: -g does not change
# the generated code). OUT_DIR (default BUILD_DIR/callgrind-out) receives per case the
# callgrind dump of the measured section (CASE.out), the program's facts (CASE.txt) and
# callgrind_annotate's inclusive report (CASE.annotate.txt). Prints markdown tables.
# Takes about a minute.
set -euo pipefail

build=${1:?usage: run.sh BUILD_DIR [OUT_DIR]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$build/bench/callgrind/lobbykit-inproc-cost
[[ -x $bin ]] || bin=$(find "$build" -type f -name lobbykit-inproc-cost -perm -u+x | head -n1)
[[ -n $bin && -x $bin ]] || { echo "run.sh: no lobbykit-inproc-cost under $build" >&2; exit 1; }
out=${2:-$build/callgrind-out}
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "run.sh: valgrind is not installed" >&2; exit 1; }

# CASE COUNT: messages in the measured section (counts are exact, so few are needed).
cases=(
  "relay-sdp200 1000"
  "relay-sdp4k 1000"
  "relay-candidate 1000"
  "chat-10 1000"
  "chat-100 1000"
  "chat-1000 100"
)

names=()
for c in "${cases[@]}"; do
  set -- $c
  names+=("$1")
  # Instrumented and collected is the measured section only; the program dumps it as part 1
  # (CASE.cg.1), part 2 (the exit) is empty. env -i: a clean environment (the program pads
  # its stack so the count does not depend on it, but nothing else leaks in either).
  rm -f "$out/$1".cg*
  env -i PATH=/usr/bin:/bin valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no \
    --callgrind-out-file="$out/$1.cg" "$bin" "$1" "$2" >"$out/$1.txt" 2>"$out/$1.log" &&
    mv "$out/$1.cg.1" "$out/$1.out" && rm -f "$out/$1.cg" || {
    echo "run.sh: case $1 failed:" >&2; cat "$out/$1.log" >&2; exit 1; }
  case $1 in
    relay-*) want=2 ;;
    chat-*)  want=$(( ${1#chat-} + 1 )) ;;
  esac
  grep -q "frames_per_message=$want.00" "$out/$1.txt" || {
    echo "run.sh: case $1: expected $want frames per message: $(cat "$out/$1.txt")" >&2; exit 1; }
  callgrind_annotate --inclusive=yes "$out/$1.out" >"$out/$1.annotate.txt"
done

/usr/bin/python3 "$here/summarize.py" "$out" "${names[@]}"
