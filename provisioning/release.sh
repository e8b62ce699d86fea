#!/usr/bin/env bash
# Builds, packages and signs a release of the appliance.
#
#   provisioning/release.sh --key KEY [--out DIR] [--notes FILE]
#
# KEY is a signing key made once with `appliance release key --out KEY` (keep it off the box;
# its public half goes in update.public_keys). Writes to DIR (default: target/release-files):
#   appliance-<version>-<arch>-linux.tar.gz   the binary and NOTES.md, signed (ed25519, zipsign)
#   releases.json                             GitHub's releases shape, for a directory source
# Upload the .tar.gz to the GitHub release tagged v<version> (or copy DIR to the box's mirror).
set -euo pipefail
cd "$(dirname "$0")/.."

key="" out="target/release-files" notes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --key) key="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --notes) notes="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -n "$key" ] || { echo "usage: $0 --key KEY [--out DIR] [--notes FILE]" >&2; exit 2; }
[ -f "$key" ] || { echo "no signing key at $key (make one: appliance release key --out $key)" >&2; exit 2; }

target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --locked --profile dist -p appliance
bin="$target_dir/dist/appliance"
version=$("$bin" --version | awk '{print $2}')
arch=$(uname -m)
name="appliance-$version-$arch-linux.tar.gz"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/appliance"
if [ -n "$notes" ]; then cp "$notes" "$stage/NOTES.md"; else
  printf '# SothebAIs appliance %s\n\n%s\n' "$version" "$(git log -1 --format='%h %s')" > "$stage/NOTES.md"
fi
mkdir -p "$out"
tar -czf "$stage/unsigned.tar.gz" -C "$stage" appliance NOTES.md
"$bin" release sign --key "$key" "$stage/unsigned.tar.gz" "$out/$name"

python3 - "$out" "$name" "$version" "$stage/NOTES.md" <<'PY'
import json, os, sys, datetime
out, name, version, notes = sys.argv[1:]
path = os.path.join(out, "releases.json")
releases = json.load(open(path)) if os.path.exists(path) else []
releases = [r for r in releases if r.get("tag_name") != "v" + version]
releases.insert(0, {
    "tag_name": "v" + version, "name": version, "body": open(notes).read(),
    "draft": False, "prerelease": False,
    "published_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "assets": [{"name": name, "browser_download_url": name}],
})
json.dump(releases, open(path, "w"), indent=2)
PY

size=$(stat -c %s "$bin")
echo "release $version: $out/$name"
echo "binary: $((size / 1000000)) MB ($size bytes; target < 20 MB); release file: $(( $(stat -c %s "$out/$name") / 1000000 )) MB"
