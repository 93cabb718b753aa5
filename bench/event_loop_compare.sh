#!/usr/bin/env bash
# Side by side: new sessions per second while N sessions are opened (open, auth, name, join
# lobbies of 8), lobbykit-server on --event-loop libuv and on poll, alternating, REPS times.
# The server is pinned to core 0 and the generator to core 1. Prints one line per run.
#   bench/event_loop_compare.sh [N=10000] [REPS=3]
# Needs build/lobbykit-server and build-bench/bench/loadgen/lobbykit-loadgen. N is bounded by
# the open-file limit (ulimit -n) of both processes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-10000}
reps=${2:-3}
server="$root/build/lobbykit-server"
loadgen="$root/build-bench/bench/loadgen/lobbykit-loadgen"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$root/bench/compare_lib.sh"
for rep in $(seq "$reps"); do
  for loop in libuv poll; do
    start_server "$server" --memory --no-static --event-loop "$loop" "${LOBBYKIT_LIMITS_OFF[@]}"
    taskset -c 1 "$loadgen" --port "$port" --scenario connect --clients "$n" --concurrency 256 \
      --members 8 --server-pid "$pid" --json "$work/r.json" >"$work/log" 2>&1
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); \
print(f\"{sys.argv[2]:5} rep {sys.argv[3]}: {d['conns_per_s']:.0f} sessions/s, server \
{d['server_cpu_ms_per_conn']:.3f} ms CPU per session, generator {d['gen_cpu_s']:.2f} s CPU, \
server run-queue wait {d['server_wait_pct']:.0f} %\")" "$work/r.json" "$loop" "$rep"
    stop_server
  done
done
