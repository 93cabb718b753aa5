#!/usr/bin/env bash
# Installs the Debian packages lobbykit needs to build and test, only the ones missing.
# Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libwebsockets-dev libwebsockets-evlib-uv libuv1-dev rapidjson-dev doctest-dev
  libsqlite3-dev libssl-dev libargon2-dev
  python3 python3-pytest python3-pytest-timeout python3-websockets
  python3-dev pybind11-dev python3-setuptools python3-wheel python3-pip python3-aiortc python3-numpy python3-venv python3-mypy
  python3-pocketsphinx pocketsphinx-en-us espeak-ng sox
  nginx-core openssl
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
