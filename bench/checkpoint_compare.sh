#!/usr/bin/env bash
# Side by side: chat into a lobby of MEMBERS (paced to 20,000 deliveries/s, SQLite store) on
# two lobbykit-server binaries, alternating, REPS times: per-recipient latency p50/p99/max.
# Made to show what moving SQLite's WAL checkpoint off the loop thread did to the tails.
#   bench/checkpoint_compare.sh OLD_SERVER [NEW_SERVER=build/lobbykit-server] [MEMBERS=10] [REPS=3]
# The servers are pinned to core 0 and the generator to core 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
old=${1:?usage: checkpoint_compare.sh OLD_SERVER [NEW_SERVER] [MEMBERS] [REPS]}
new=${2:-$root/build/lobbykit-server}
members=${3:-10}
reps=${4:-3}
loadgen="$root/build-bench/bench/loadgen/lobbykit-loadgen"
rate=$((20000 / members))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for rep in $(seq "$reps"); do
  for which in old new; do
    bin=$old
    [ "$which" = new ] && bin=$new
    rm -f "$work"/db*
    "$bin" --db "$work/db" --port 0 --no-static --rate 1000000000 --rate-burst 1000000000 \
      --max-participants 1000 >"$work/out" 2>"$work/err" &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
    port=$(grep -o ':[0-9]*$' "$work/out" | tr -d :)
    taskset -pc 0 "$pid" >/dev/null
    taskset -c 1 "$loadgen" --port "$port" --scenario broadcast --lobby-size "$members" \
      --chat-rate "$rate" --size 200 --duration 10 --warmup 2 --concurrency 64 \
      --server-pid "$pid" --json "$work/r.json" >"$work/log" 2>&1
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['latency_us']; \
print(f\"{sys.argv[2]:3} rep {sys.argv[3]}: p50 {d['p50']:.0f} us, p99 {d['p99']:.0f} us, \
max {d['max']:.0f} us\")" "$work/r.json" "$which" "$rep"
    kill -INT "$pid"
    wait "$pid" || true
  done
done
