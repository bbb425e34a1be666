#!/usr/bin/env bash
# Installs the Debian packages Sculpt needs (only those missing), then builds build/ (Release).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t packages < tools/debian-packages.txt
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
