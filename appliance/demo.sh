#!/usr/bin/env bash
# Runs the appliance's demo on a fresh Debian machine: installs what the host's voice and the
# H.264 encoder's build need (flite, nasm; from Debian, idempotently), then
# `cargo run --release -p appliance -- run` with any extra arguments (`--duration 30`, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for p in flite nasm; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  echo "installing: ${missing[*]}"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
exec cargo run --release -p appliance -- run "$@"
