#!/usr/bin/env bash
# Makes a single executable application (Node.js SEA) out of one CommonJS
# bundle: this machine's node binary, stripped of its symbols, with the bundle
# injected as the NODE_SEA_BLOB resource. The result needs no Node.js installed.
#
#   scripts/release/sea.sh BUNDLE.cjs OUT_EXECUTABLE
#
# The steps are Node 20's (docs: "Single executable applications"):
# --experimental-sea-config writes the blob, postject injects it and flips the fuse.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bundle=$(realpath "$1")
out=$(realpath -m "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/sea.XXXXXX")
trap 'rm -rf "$work"' EXIT

# No code cache, no snapshot: both would make the blob depend on this V8 build's
# heap layout and on timing, and cost more than they save for daemons that start once.
# Relative names: no path of this build ends up in the blob.
cp "$bundle" "$work/main.cjs"
cat >"$work/sea-config.json" <<JSON
{ "main": "main.cjs", "output": "blob", "disableExperimentalSEAWarning": true, "useCodeCache": false, "useSnapshot": false }
JSON
(cd "$work" && node --experimental-sea-config sea-config.json >&2)

node_bin=$(realpath "$(command -v node)")
cp "$node_bin" "$work/exe"
chmod u+w "$work/exe"
# Symbols and debug sections are ~half of an official node binary; nothing at run time reads them.
strip --strip-all --remove-section=.comment "$work/exe"
"$root/node_modules/.bin/postject" "$work/exe" NODE_SEA_BLOB "$work/blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >&2
chmod 0755 "$work/exe"
mkdir -p "$(dirname "$out")"
mv "$work/exe" "$out"
