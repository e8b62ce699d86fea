#!/usr/bin/env bash
# The disk image's test, as the CI runs it: builds the image around the given appliance binary
# (reused when none of its inputs changed: the binary, these scripts, the unit, the slot guard),
# then boots it under QEMU (provisioning/image/test.py).
#
#   provisioning/image/ci.sh BINARY
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prov="$(dirname "$here")"
binary="$1"
cache="${SOTHEBAIS_IMAGE_CACHE:-${HOME:-/root}/.cache/sothebais/image}"
mkdir -p "$cache"
stripped="$cache/appliance.stripped"
strip -o "$stripped" "$binary"
key=$(cat "$stripped" "$here"/build.sh "$here"/firstboot "$here"/welcome "$here"/*.service \
  "$here"/appliance.toml "$prov"/slot-guard "$prov"/systemd/sothebais.service | sha256sum | cut -c1-16)
image="$cache/box-$key.img"
sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
if [ ! -f "$image" ]; then
  rm -f "$cache"/box-*.img
  echo "building the disk image ($key)"
  $sudo_ "$here/build.sh" --binary "$stripped" --out "$image.part"
  mv "$image.part" "$image"
else
  echo "the disk image is unchanged ($key)"
fi
python3 "$here/test.py" "$image" --timeout 900
