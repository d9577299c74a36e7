#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test the project: pnpm at the
# version package.json pins, and the workspace's dependencies from the lockfile.
# Node.js (>= 20.19) and Go (for the dev database) must already be there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

need_node=20.19.0
have_node=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
if ! node -e "const [a,b]=process.argv.slice(1).map(v=>v.split('.').map(Number));process.exit(a[0]>b[0]||(a[0]===b[0]&&(a[1]>b[1]||(a[1]===b[1]&&a[2]>=b[2])))?0:1)" "$have_node" "$need_node" 2>/dev/null; then
  echo "error: Node.js >= $need_node is required (found $have_node)" >&2
  exit 1
fi
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || { echo "error: Go is required to build the dev database" >&2; exit 1; }

pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$pnpm_version" ]; then
  echo "installing pnpm $pnpm_version" >&2
  npm install --global --no-fund --no-audit "pnpm@$pnpm_version" >&2
fi
# --frozen-lockfile: CI must build exactly what the lockfile says. `prepare` builds the packages.
pnpm install --frozen-lockfile --reporter=append-only >&2
