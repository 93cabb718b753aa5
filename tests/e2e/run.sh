#!/usr/bin/env bash
# Runs the browser end-to-end tests (tests/e2e/*.test.mjs): real lobbykit-server, headless
# Debian Chromium with fake media, playwright-core from npm (no browser download).
# Installs what is missing first: chromium and python3-websockets (apt) and
# tests/e2e/node_modules (npm ci).
#
#   LOBBYKIT_SERVER    server binary to test (default <repo>/build/lobbykit-server)
#   LOBBYKIT_CHROMIUM  browser binary (default /usr/bin/chromium)
#   LOBBYKIT_PYTHON    Python for the bot provider process, tests/integration/provider_proc.py
#                      (default /usr/bin/python3, with python3-websockets)
#   tests/e2e/run.sh [test files...]   (default: every tests/e2e/*.test.mjs)
#
# Artifacts (git-ignored), in test-artifacts/: e2e-two-participants.png,
# e2e-bot-{menu,running,waiting}.png and e2e-logs/<case>/{server,page-*,provider-*}.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
e2e="$root/tests/e2e"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

apt_install() {
  # Update the package lists first when there are none (a fresh image); if the install still
  # fails (stale lists), update once and try again.
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    "${sudo_cmd[@]}" apt-get update -qq
  fi
  if ! DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$@"; then
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$@"
  fi
}

chromium_bin=${LOBBYKIT_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium_bin" ]; then
  echo "e2e: installing chromium" >&2
  apt_install chromium
fi
python_bin=${LOBBYKIT_PYTHON:-/usr/bin/python3}
if ! "$python_bin" -c 'import websockets' 2>/dev/null; then
  echo "e2e: installing python3-websockets (for the bot provider)" >&2
  apt_install python3 python3-websockets
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "e2e: installing nodejs and npm" >&2
  apt_install nodejs npm
fi

# node_modules: installed from the lock file when missing or not the pinned version.
want=$(node -p "require('$e2e/package.json').dependencies['playwright-core']")
have=$(node -p "try { require('$e2e/node_modules/playwright-core/package.json').version } catch { '' }")
if [ "$have" != "$want" ]; then
  echo "e2e: installing playwright-core $want" >&2
  if [ -f "$e2e/package-lock.json" ]; then
    (cd "$e2e" && npm ci --no-audit --no-fund)
  else
    (cd "$e2e" && npm install --no-audit --no-fund)
  fi
fi

export LOBBYKIT_SERVER=${LOBBYKIT_SERVER:-$root/build/lobbykit-server}
export LOBBYKIT_CHROMIUM=$chromium_bin
export LOBBYKIT_PYTHON=$python_bin
if [ ! -x "$LOBBYKIT_SERVER" ]; then
  echo "e2e: no server binary at $LOBBYKIT_SERVER (build it, or set LOBBYKIT_SERVER)" >&2
  exit 1
fi
mkdir -p "$root/test-artifacts"

if [ $# -gt 0 ]; then
  files=("$@")
else
  files=("$e2e"/*.test.mjs)
fi
echo "== browser end-to-end tests ($LOBBYKIT_SERVER)"
exec node --test --test-concurrency=1 "${files[@]}"
