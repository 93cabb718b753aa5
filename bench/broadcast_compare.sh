#!/usr/bin/env bash
# Side by side: per-recipient delivery latency of chat broadcast into one lobby of SIZE
# members (the broadcast benchmark's scenario: 20,000 deliveries/s, 200 B, chat persisted to
# SQLite), lobbykit-server on --event-loop libuv and on poll, alternating, REPS times. Server
# on core 0, generator on core 1. One line per run, then the medians.
#   bench/broadcast_compare.sh [SIZE=1000] [REPS=3]
# BASE_SERVER=/path/to/another/lobbykit-server adds it (on libuv) as "base".
# Needs build-bench (scripts/bench.sh builds it, or cmake --build build-bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-1000}
reps=${2:-3}
server="$root/build-bench/lobbykit-server"
loadgen="$root/build-bench/bench/loadgen/lobbykit-loadgen"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$root/bench/compare_lib.sh"
rate=$(/usr/bin/python3 -c "print(f'{max(1.0, 20000 / $size):g}')")
for rep in $(seq "$reps"); do
  for kind in libuv poll ${BASE_SERVER:+base}; do
    bin=$server loop=$kind
    [[ $kind == base ]] && bin=$BASE_SERVER loop=libuv
    rm -f "$work/chat.db"*
    start_server "$bin" --db "$work/chat.db" --no-static --event-loop "$loop" --rate 1000000000 \
      --rate-burst 1000000000 --max-participants 1000 "${LOBBYKIT_LIMITS_OFF[@]}"
    taskset -c 1 "$loadgen" --port "$port" --server-pid "$pid" --json "$work/r.json" \
      --scenario broadcast --lobby-size "$size" --chat-rate "$rate" --size 200 --duration 5 \
      --warmup 1 --concurrency 64 >"$work/log" 2>&1
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); l=d['latency_us']; \
print(f\"{sys.argv[2]:5} rep {sys.argv[3]}: {d['msgs_per_s']:.0f} deliveries/s, p50 \
{l['p50']:.0f} us, p99 {l['p99']:.0f} us, server {d['server_cpu_s_per_100k']:.3f} s CPU per \
100k deliveries\")" "$work/r.json" "$kind" "$rep" | tee -a "$work/lines"
    stop_server
  done
done
medians 'p99 ([0-9.]+) us' | awk '{ printf "median p99: %s %.2f ms\n", $1, $2 / 1000 }'
