# Shared by the side-by-side scripts (bench/event_loop_compare.sh,
# bench/event_loop_relay_compare.sh): start one server pinned to core 0, learn its port, stop
# it. Source it after setting $work (a scratch directory). Sets $pid and $port.

# start_server KIND [FLAGS...]: KIND is a path to lobbykit-server or lobbykit-raw-relay.
start_server() {
  local bin=$1
  shift
  "$bin" --port 0 "$@" >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
  port=$(grep listening "$work/out" | grep -o '[0-9]*$' | head -1)
  if [[ -z $port ]]; then
    echo "server did not start: $(cat "$work/err")" >&2
    exit 1
  fi
  taskset -pc 0 "$pid" >/dev/null
}

# stop_server: SIGINT (a clean stop), then wait for it.
stop_server() {
  kill -INT "$pid"
  wait "$pid" || true
}

# The per-client limits off, so one generator address can open every session.
LOBBYKIT_LIMITS_OFF=(--max-sessions 1000000 --max-sessions-per-address 1000000
  --max-lobbies-per-session 1000000 --max-lobbies-per-address 1000000)

# medians REGEX: for each kind (the first word of a line) in $work/lines, the median of the
# number REGEX's group captures; one "kind median" line per kind, in the order first seen.
medians() {
  /usr/bin/python3 - "$work/lines" "$1" <<'PY'
import re, statistics, sys
vals = {}
for line in open(sys.argv[1]):
    vals.setdefault(line.split()[0], []).append(float(re.search(sys.argv[2], line).group(1)))
for kind, v in vals.items():
    print(kind, statistics.median(v))
PY
}
