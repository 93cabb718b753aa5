#!/usr/bin/env bash
# Runs the Python package's tests (tests/python) against one build:
#   scripts/test-python.sh BUILD_DIR [pytest args...]
# BUILD_DIR must be configured with -DLOBBYKIT_BUILD_PYTHON=ON. The script builds it, then
# runs pytest with PYTHONPATH=BUILD_DIR/python (and LOBBYKIT_SERVER=BUILD_DIR/lobbykit-server
# when that exists and none is set). The packaging tests (pip install into a venv, cmake
# --install) run too: LOBBYKIT_SKIP_PACKAGING=1 skips them, LOBBYKIT_SKIP_VOICE=1 the aiortc
# voice test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [pytest args...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
shift

python=/usr/bin/python3
[ -x "$python" ] || python=python3
jobs=$(nproc)

if ! grep -q '^LOBBYKIT_BUILD_PYTHON:BOOL=ON$' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "$build is not configured with -DLOBBYKIT_BUILD_PYTHON=ON" >&2
  exit 2
fi
echo "== build $build"
cmake --build "$build" -j"$jobs"

echo "== python tests ($build)"
export PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$jobs}  # the pip install test
if [ -z "${LOBBYKIT_SERVER:-}" ] && [ -x "$build/lobbykit-server" ]; then
  export LOBBYKIT_SERVER="$build/lobbykit-server"
fi
if grep -q '^LOBBYKIT_SANITIZE:BOOL=ON$' "$build/CMakeCache.txt"; then
  # The interpreter is not instrumented: the ASan runtime must be loaded first, and
  # libstdc++ with it (else ASan's __cxa_throw interceptor finds no real one). CPython and
  # pybind11 keep objects alive until exit on purpose, so leak checking is off. The
  # packaging tests build their own uninstrumented library: skipped unless asked for.
  preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
  export LD_PRELOAD="$preload${LD_PRELOAD:+ $LD_PRELOAD}"
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  export LOBBYKIT_SKIP_PACKAGING=${LOBBYKIT_SKIP_PACKAGING:-1}
fi
"$python" -m pytest -q -p no:cacheprovider "$root/tests/python" "$@"
# The voicebot example's own tests (speech, resampling, its track and replies; no server):
# once, in the uninstrumented build.
if ! grep -q '^LOBBYKIT_SANITIZE:BOOL=ON$' "$build/CMakeCache.txt"; then
  echo "== voicebot tests (examples/voicebot)"
  "$python" -m pytest -q -p no:cacheprovider "$root/examples/voicebot/tests"
fi
