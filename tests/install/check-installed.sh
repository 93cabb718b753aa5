#!/usr/bin/env bash
# Installs a lobbykit build into a temporary prefix, then builds and runs the example hosts
# against that installed copy only: examples/c-host and examples/cpp-host through
# find_package(lobbykit), and examples/c-host through pkg-config.
#   check-installed.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
echo "installed into $prefix:"
(cd "$prefix" && find . -type f -o -type l | sort)

for host in c-host cpp-host; do
  echo "== $host through find_package"
  cmake -S "$src/examples/$host" -B "$work/$host" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$work/$host" >/dev/null
  "$work/$host/$host" | grep "$host: ok"
  "$work/$host/$host" --in-process | grep "$host: ok"
done

echo "== c-host through pkg-config"
pc=$(dirname "$(find "$prefix" -name lobbykit.pc | head -n 1)")
libdir=$(PKG_CONFIG_PATH=$pc pkg-config --variable=libdir lobbykit)
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -pedantic -Werror -o "$work/c-host-pc" "$src/examples/c-host/main.c" \
  $(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs lobbykit) -pthread -Wl,-rpath,"$libdir"
"$work/c-host-pc" | grep "c-host: ok"
echo "pkg-config: lobbykit $(PKG_CONFIG_PATH=$pc pkg-config --modversion lobbykit)"
echo "== the installed lobbykit-server serves the installed web app"
server=$prefix/bin/lobbykit-server
[ -x "$server" ] || { echo "no $server"; exit 1; }
[ -f "$prefix/share/lobbykit/web/index.html" ] || { echo "no share/lobbykit/web"; exit 1; }
# A copy of the prefix elsewhere: the server finds its web app from its own path.
cp -a "$prefix" "$work/moved"
"$work/moved/bin/lobbykit-server" --port 0 --memory >"$work/server.out" 2>"$work/server.err" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/server.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { kill "$pid" 2>/dev/null || true; cat "$work/server.err"; echo "the server did not start"; exit 1; }
grep -q "static files from $work/moved/share/lobbykit/web" "$work/server.err" ||
  { kill "$pid" 2>/dev/null || true; cat "$work/server.err"; echo "not serving the moved prefix's web app"; exit 1; }
page=$(/usr/bin/python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$port/', timeout=10).read().decode())")
kill "$pid"
wait "$pid" || true
grep -q "<html" <<<"$page" || { echo "GET / did not return the page"; exit 1; }
echo "installed server: serves $work/moved/share/lobbykit/web"
echo "install check: ok"
