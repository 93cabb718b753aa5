#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test: the C++ and C tests (ctest), the
# integration tests (pytest against the real lobbykit-server) and the Python package's tests
# (tests/python, with the offline pip install and the aiortc voice test), once in a Release build
# and once in an AddressSanitizer + UndefinedBehaviorSanitizer build; the threaded client and
# C API tests once more under ThreadSanitizer; and the browser end-to-end tests (headless
# Chromium, real WebRTC) against the Release server.
# LOBBYKIT_TEST_SANITIZE=0 skips the ASan/UBSan pass, LOBBYKIT_TEST_TSAN=0 the TSan pass,
# LOBBYKIT_TEST_E2E=0 the browser tests, LOBBYKIT_TEST_NETFUZZ=0 the bounded network fuzzer run
# (LOBBYKIT_NETFUZZ_SECONDS, default 60, per build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"

python=/usr/bin/python3
[ -x "$python" ] || python=python3
jobs=$(nproc)

run_suite() {  # build dir, extra cmake args...
  local dir=$1; shift
  echo "== build $dir"
  cmake -S "$root" -B "$dir" -DLOBBYKIT_WERROR=ON -DLOBBYKIT_BUILD_PYTHON=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "== unit tests ($dir)"
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
  echo "== integration tests ($dir)"
  LOBBYKIT_SERVER="$dir/lobbykit-server" \
    "$python" -m pytest -q -p no:cacheprovider "$root/tests/integration"
  "$root/scripts/test-python.sh" "$dir"
  if [ "${LOBBYKIT_TEST_NETFUZZ:-1}" != 0 ]; then
    echo "== network fuzzer, ${LOBBYKIT_NETFUZZ_SECONDS:-60} s ($dir)"
    "$python" "$root/tests/netfuzz/netfuzz.py" --server "$dir/lobbykit-server" \
      --seconds "${LOBBYKIT_NETFUZZ_SECONDS:-60}" --out "$dir/netfuzz-failures"
  fi
}

run_suite "$root/build" -DCMAKE_BUILD_TYPE=Release
if [ "${LOBBYKIT_TEST_E2E:-1}" != 0 ]; then
  echo "== browser end-to-end tests"
  LOBBYKIT_SERVER="$root/build/lobbykit-server" "$root/tests/e2e/run.sh"
fi
if [ "${LOBBYKIT_TEST_SANITIZE:-1}" != 0 ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$root/build-sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOBBYKIT_SANITIZE=ON
fi
if [ "${LOBBYKIT_TEST_TSAN:-1}" != 0 ]; then
  echo "== build $root/build-tsan (ThreadSanitizer: client, C API and example tests)"
  cmake -S "$root" -B "$root/build-tsan" -DLOBBYKIT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOBBYKIT_SANITIZE_THREAD=ON >/dev/null
  cmake --build "$root/build-tsan" -j"$jobs" \
    --target lobbykit_client_tests lobbykit_c_tests c-host cpp-host
  (cd "$root/build-tsan" && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --output-on-failure -j"$jobs" -R '^(c_api|example)[.]|^(client|server):')
fi
# Fuzzing (docs/fuzzing.md): the libFuzzer targets built with clang-14 into build-fuzz/, each
# run for LOBBYKIT_TEST_FUZZ_SECONDS (15) on a copy of its corpus; about 4 minutes with the
# build. LOBBYKIT_TEST_FUZZ=0 skips it.
if [ "${LOBBYKIT_TEST_FUZZ:-1}" != 0 ]; then
  "$root/scripts/fuzz.sh" "${LOBBYKIT_TEST_FUZZ_SECONDS:-15}"
fi
echo "== all tests passed"
