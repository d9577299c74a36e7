#!/usr/bin/env bash
# Builds the agent and master of an earlier commit of this repository (default 4f532d7, release
# 0.1, protocol version 1) into .cache/old-release/<commit>, for the protocol compatibility tests
# (test/e2e/protocol-compat.test.ts), and prints that directory. Cached by commit: a directory
# with .built is reused as it is, so CI builds it once per cache.
set -euo pipefail
commit="${1:-4f532d7}"
root="$(git rev-parse --show-toplevel)"
full="$(git -C "$root" rev-parse --verify --quiet "${commit}^{commit}")" || {
  echo "old-release: commit $commit is not in this clone (a shallow clone? fetch its history)" >&2
  exit 2
}
dir="$root/.cache/old-release/${full:0:12}"
if [ -f "$dir/.built" ]; then
  echo "$dir"
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
git -C "$root" archive --format=tar "$full" | tar -x -C "$dir"
cd "$dir"
# The store of this machine's own install has every package of that lockfile unless it changed since;
# offline first, the registry only for what is missing. `prepare` runs tsc -b.
if ! pnpm install --frozen-lockfile --offline --reporter=silent >&2; then
  pnpm install --frozen-lockfile --prefer-offline --reporter=silent >&2
fi
[ -f packages/master/dist/main.js ] && [ -f packages/agent/dist/main.js ] || pnpm exec tsc -b >&2
touch .built
echo "$dir"
