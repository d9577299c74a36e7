#!/usr/bin/env bash
# `pnpm bench`: builds the packages and the benchmark, then runs it.
# Arguments go to the benchmark (see --help). Results: bench-results/*.json.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
# Builds the referenced packages first (tsc -b), then scripts/bench/dist.
pnpm exec tsc -b scripts/bench
exec node scripts/bench/dist/main.js "$@"
