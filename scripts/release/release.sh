#!/usr/bin/env bash
# `pnpm release`: builds the artifacts operators install, into release/ (or --out DIR):
#
#   cluster-agent-<version>-linux-x64   the agent as one executable (no Node.js needed)
#   cluster-agent_<version>_amd64.deb   that executable, its unit, /etc/cluster-agent/agent.env
#   cluster-master_<version>_amd64.deb  the master the same way, with cluster-master on PATH
#   cluster-agent-<version>-linux-arm64, cluster-agent_<version>_arm64.deb,
#   cluster-master_<version>_arm64.deb  the same for aarch64 (built here, under emulation)
#   SHA256SUMS
#
# Reproducible: SOURCE_DATE_EPOCH is the last commit's time (unless set), and
# every step writes the same bytes from the same sources (see deb.sh, bundle.mjs).
#
# Options: --out DIR, --version V (default: the packages' version),
# --agent-executable-only (what install-agent.sh needs: the x64 one alone), --fast (gzip -1 instead of xz in the
# .deb packages: ~2 min less on 2 cores, ~18 MB larger; for tests), --x64-only (no arm64
# artifacts: the emulated steps take about a minute more).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/scripts/release"
cd "$root"

out="$root/release" version="" agent_only=0 arm64=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(realpath -m "${2:?--out needs a directory}"); shift 2 ;;
    --version) version=${2:?--version needs a value}; shift 2 ;;
    --agent-executable-only) agent_only=1 arm64=0; shift ;;
    # Level 1: gzip -9 of each ~90 MB executable took ~25 s on 2 cores, level 1 ~2 s (35 MB instead of 32).
    --fast) export DEB_COMPRESSION=gzip DEB_COMPRESSION_LEVEL=1; shift ;;
    --x64-only) arm64=0; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "release: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$version" ] || version=$(node -p "require('./packages/agent/package.json').version")
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || { echo "release: '$version' is not a Debian version" >&2; exit 2; }
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

# A work folder of its own: two builds at once (tests run in parallel) must not share one.
work=$(mktemp -d "${TMPDIR:-/tmp}/release.XXXXXX")
# A lane still running when this script ends (it failed, or was stopped) is stopped with it.
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$out"

echo "== compile" >&2
pnpm exec tsc -b packages/agent packages/master >&2

# The agent's steps and the master's need nothing of each other: one lane each, so that
# a 2-core machine builds both at once (each step is one process on one core).
agent_lane() {
  echo "== agent $version" >&2
  # --lite-mode: no optimising compiler, less resident memory; the agent is idle
  # between heartbeats. --no-expose-wasm silences the warning lite mode prints otherwise.
  node "$here/bundle.mjs" --entry packages/agent/dist/main.js --out "$work/agent.cjs" --version "$version" \
    '--v8-flags=--lite-mode --no-expose-wasm'
  bash "$here/sea.sh" "$work/agent.cjs" "$out/cluster-agent-$version-linux-x64"
  local extra=()
  if [ "$arm64" = 1 ]; then
    echo "== agent $version arm64 (emulated)" >&2
    bash "$here/sea.sh" "$work/agent.cjs" "$out/cluster-agent-$version-linux-arm64" arm64
    extra=("arm64=$out/cluster-agent-$version-linux-arm64")
  fi
  if [ "$agent_only" = 0 ]; then
    echo "== package cluster-agent" >&2
    bash "$here/deb.sh" cluster-agent "$version" "$out/cluster-agent-$version-linux-x64" "$out" "${extra[@]}" >/dev/null
  fi
}
master_lane() {
  echo "== master $version" >&2
  node "$here/bundle.mjs" --entry packages/master/dist/main.js --out "$work/master.cjs" --version "$version" \
    --meta-url file:///usr/lib/cluster-master/dist/main.js
  bash "$here/sea.sh" "$work/master.cjs" "$work/cluster-master"
  local extra=()
  if [ "$arm64" = 1 ]; then
    echo "== master $version arm64 (emulated)" >&2
    bash "$here/sea.sh" "$work/master.cjs" "$work/cluster-master-arm64" arm64
    extra=("arm64=$work/cluster-master-arm64")
  fi
  echo "== package cluster-master" >&2
  bash "$here/deb.sh" cluster-master "$version" "$work/cluster-master" "$out" "${extra[@]}" >/dev/null
}
# Each lane runs with set -e in its own subshell; its exit status is its first failure.
agent_lane &
lanes=("$!")
if [ "$agent_only" = 0 ]; then
  master_lane &
  lanes+=("$!")
fi
failed=0
for lane in "${lanes[@]}"; do wait "$lane" || failed=1; done
[ "$failed" = 0 ] || { echo "release: a build step failed (see above)" >&2; exit 1; }

artifacts=("cluster-agent-$version-linux-x64")
[ "$arm64" = 0 ] || artifacts+=("cluster-agent-$version-linux-arm64")
if [ "$agent_only" = 0 ]; then
  artifacts+=("cluster-agent_${version}_amd64.deb" "cluster-master_${version}_amd64.deb")
  [ "$arm64" = 0 ] || artifacts+=("cluster-agent_${version}_arm64.deb" "cluster-master_${version}_arm64.deb")
fi

(cd "$out" && sha256sum "${artifacts[@]}" >SHA256SUMS)
touch -d "@$SOURCE_DATE_EPOCH" "$out/SHA256SUMS" "${artifacts[@]/#/$out/}"
cat "$out/SHA256SUMS" >&2
echo "$out"
