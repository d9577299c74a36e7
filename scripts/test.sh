#!/usr/bin/env bash
# The one command that runs every check on a fresh machine: installs pnpm and
# the dependencies, builds the dev database, lints, typechecks, then runs all
# tests (unit, integration, end-to-end) against a dev database it starts and
# stops again, also when a test fails. Extra arguments go to vitest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

bash scripts/ensure-tools.sh
# lintian, systemd and friends for the release artifacts' tests.
bash scripts/release/ensure-packaging-tools.sh
bash scripts/devdb.sh build
# The web page's tests drive Debian's headless chromium (installed here when missing).
bash scripts/ensure-chromium.sh >/dev/null
# promtool for the checks of monitoring/ (taken out of Debian's prometheus package into .cache when missing).
bash scripts/ensure-promtool.sh >/dev/null

echo "== lint"
pnpm lint
echo "== typecheck and build"
pnpm typecheck

state_dir="$root/.cache/devdb/test"
if [ -z "${MONGODB_URI:-}" ]; then
  rm -rf "$state_dir"
  trap 'bash scripts/devdb.sh stop --state-dir "$state_dir" >/dev/null 2>&1 || true' EXIT
  MONGODB_URI=$(bash scripts/devdb.sh start --state-dir "$state_dir")
  export MONGODB_URI
  export DEVDB_STATE_DIR="$state_dir"
  echo "== dev database at $MONGODB_URI"
fi

echo "== tests"
pnpm exec vitest run "$@"
