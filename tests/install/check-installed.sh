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
echo "install check: ok"
