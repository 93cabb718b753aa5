#!/usr/bin/env bash
# Side by side: server CPU per relayed message at a paced load (the relay benchmark's "paced"
# scenario: 50 pairs, 200 B, 20,000 msgs/s), lobbykit-server on --event-loop libuv and on poll,
# alternating, REPS times. Server on core 0, generator on core 1. One line per run.
#   bench/event_loop_relay_compare.sh [REPS=3] [RATE=20000]
# Needs build-bench (scripts/bench.sh builds it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
rate=${2:-20000}
server="$root/build-bench/lobbykit-server"
loadgen="$root/build-bench/bench/loadgen/lobbykit-loadgen"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for rep in $(seq "$reps"); do
  for loop in libuv poll; do
    "$server" --memory --port 0 --no-static --event-loop "$loop" --rate 1000000000 \
      --rate-burst 1000000000 --max-participants 1000 --max-sessions-per-address 1000000 \
      --max-lobbies-per-session 1000000 --max-lobbies-per-address 1000000 >"$work/out" 2>"$work/err" &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
    port=$(grep -o ':[0-9]*$' "$work/out" | tr -d :)
    taskset -pc 0 "$pid" >/dev/null
    taskset -c 1 "$loadgen" --port "$port" --server-pid "$pid" --json "$work/r.json" --target lobbykit \
      --pairs 50 --window 64 --size 200 --rate "$rate" --duration 5 --warmup 1 >"$work/log" 2>&1
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); \
print(f\"{sys.argv[2]:5} rep {sys.argv[3]}: {d['msgs_per_s']:.0f} msgs/s, server \
{d['server_cpu_s_per_100k']:.3f} s CPU per 100k msgs, p99 {d['latency_us']['p99']:.0f} us\")" \
      "$work/r.json" "$loop" "$rep"
    kill -INT "$pid"
    wait "$pid" || true
  done
done
