#!/usr/bin/env bash
# Builds the self-contained agent bundle that scripts/install-agent.sh lays down:
# the compiled agent, its production dependencies and the protocol package,
# copied (no dev dependencies, no links into the workspace).
# Usage: scripts/build-agent-bundle.sh [OUT_DIR]   (default .cache/bundle/cluster-agent)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-"$root/.cache/bundle/cluster-agent"}")
cd "$root"
pnpm exec tsc -b packages/agent >&2
rm -rf "$out"
mkdir -p "$(dirname "$out")"
# --legacy: pnpm 10's default deploy needs inject-workspace-packages; the legacy
# mode copies workspace dependencies into the bundle the same way.
pnpm --filter @cluster/agent deploy --prod --legacy "$out" >&2
# Nothing but the runtime: sources, tsconfig and source maps stay behind.
rm -f "$out/tsconfig.json"
# pnpm's hoisted store keeps a link from the bundle back to the workspace
# package itself (.pnpm/node_modules/@cluster/agent); nothing needs it, and it
# would dangle on the worker machine.
while IFS= read -r -d '' link; do
  target=$(realpath -m "$(dirname "$link")/$(readlink "$link")")
  case "$target" in "$out"/*) ;; *) rm -f "$link" ;; esac
done < <(find "$out" -type l -print0)
echo "$out"
