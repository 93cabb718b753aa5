#!/usr/bin/env bash
# Runs every benchmark and writes docs/performance.md (issue 5). One command:
#
#   scripts/bench.sh            # full run: several repetitions, well under 30 minutes
#   scripts/bench.sh --quick    # smoke run: one short repetition of each scenario
#
# It installs what is missing (Debian's python3-matplotlib; the PeerJS server with `npm ci`
# in bench/peerjs), builds a Release tree with the benchmarks (build-bench)
# and hands over to bench/run_bench.py, which raises the open-file limit, starts each server
# pinned to one core and the load generator pinned to the other, repeats noisy runs, and
# writes the report, the plots (docs/performance/*.png) and the raw results
# (bench/results/). LOBBYKIT_BENCH_NICE=-5 (say) runs server and generator at that nice
# value; the default is 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
started=$(date +%s.%N)
command="scripts/bench.sh${*:+ $*}"

quick=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

# Debian's interpreter has the Debian packages (the pyenv python3 on PATH does not).
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

sudo_if_needed() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
  echo "bench.sh: installing python3-matplotlib"
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-matplotlib >/dev/null ||
    { sudo_if_needed apt-get update >/dev/null &&
      sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-matplotlib >/dev/null; }
fi
for tool in taskset node npm cmake; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool is missing" >&2; exit 1; }
done
if [[ ! -f bench/peerjs/node_modules/peer/package.json ||
      bench/peerjs/package-lock.json -nt bench/peerjs/node_modules/.package-lock.json ]]; then
  echo "bench.sh: npm ci in bench/peerjs"
  (cd bench/peerjs && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "bench.sh: building build-bench (Release, LOBBYKIT_BUILD_BENCH=ON)"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DLOBBYKIT_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j2 >/dev/null

# bench/run_bench.py raises the open-file limits itself (110,000 where it may: the largest
# step holds 100,000 sessions) and sizes the steps from what it gets.
exec "$PY" bench/run_bench.py --build build-bench "${quick[@]}" \
  --command "$command" --started "$started"
