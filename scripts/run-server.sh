#!/usr/bin/env bash
# Installs what is missing, builds lobbykit, and runs the example server with its defaults
# (http://127.0.0.1:8080, ./lobbykit.db, the web example at /). Extra arguments go to
# lobbykit-server; try --help.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" --target lobbykit-server -j"$(nproc)"
exec "$root/build/lobbykit-server" "$@"
