#!/usr/bin/env bash
# Side by side: server CPU per relayed message at a paced load (the relay benchmark's "paced"
# scenario: 50 pairs, 200 B, 20,000 msgs/s): lobbykit-server on --event-loop libuv, on poll,
# and the raw relay (bench/raw_relay, lws' poll loop), alternating, REPS times. Server on
# core 0, generator on core 1. One line per run, then the medians and their ratios.
#   bench/event_loop_relay_compare.sh [REPS=3] [RATE=20000]
# BASE_SERVER=/path/to/another/lobbykit-server adds it (on libuv) as "base": a change side by
# side with the build it changes.
# Needs build-bench (scripts/bench.sh builds it, or cmake --build build-bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
rate=${2:-20000}
server="$root/build-bench/lobbykit-server"
raw="$root/build-bench/bench/raw_relay/lobbykit-raw-relay"
loadgen="$root/build-bench/bench/loadgen/lobbykit-loadgen"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$root/bench/compare_lib.sh"
for rep in $(seq "$reps"); do
  for kind in libuv poll raw ${BASE_SERVER:+base}; do
    if [[ $kind == raw ]]; then
      start_server "$raw" --host 127.0.0.1
      target=raw
    elif [[ $kind == base ]]; then
      start_server "$BASE_SERVER" --memory --no-static --event-loop libuv --rate 1000000000 \
        --rate-burst 1000000000 --max-participants 1000 "${LOBBYKIT_LIMITS_OFF[@]}"
      target=lobbykit
    else
      start_server "$server" --memory --no-static --event-loop "$kind" --rate 1000000000 \
        --rate-burst 1000000000 --max-participants 1000 "${LOBBYKIT_LIMITS_OFF[@]}"
      target=lobbykit
    fi
    taskset -c 1 "$loadgen" --port "$port" --server-pid "$pid" --json "$work/r.json" \
      --target "$target" --pairs 50 --window 64 --size 200 --rate "$rate" --duration 5 \
      --warmup 1 >"$work/log" 2>&1
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); \
print(f\"{sys.argv[2]:5} rep {sys.argv[3]}: {d['msgs_per_s']:.0f} msgs/s, server \
{d['server_cpu_s_per_100k']:.3f} s CPU per 100k msgs, p99 {d['latency_us']['p99']:.0f} us\")" \
      "$work/r.json" "$kind" "$rep" | tee -a "$work/lines"
    stop_server
  done
done
medians 'server ([0-9.]+) s CPU' | awk '
  { kind[NR] = $1; med[NR] = $2; if ($1 == "raw") raw = $2 }
  END {
    line = "median s CPU per 100k msgs:"
    for (i = 1; i <= NR; i++) line = line sprintf(" %s %.3f", kind[i], med[i])
    print line
    for (i = 1; i <= NR; i++) if (kind[i] != "raw") printf "%s / raw %.2fx\n", kind[i], med[i] / raw
  }'
