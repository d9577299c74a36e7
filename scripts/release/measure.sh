#!/usr/bin/env bash
# Puts the released agent executable next to today's `node dist/main.js` and
# prints, for each: the file size, start-up time (wall time of `probe --json`
# and of `--help`, median of N runs) and the steady resident memory of `run`
# against a real master (VmRSS, and its anonymous and file-backed parts, after
# SETTLE_S seconds; median of 3 runs), each executable's page cache dropped first.
#
#   scripts/release/measure.sh [AGENT_EXECUTABLE]   (default: release/cluster-agent-*-linux-x64)
#
# Environment: RUNS (default 11), SETTLE_S (default 20). Starts its own dev
# database and master (node dist/main.js) on the loopback, and stops them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
exe=${1:-$(find release -maxdepth 1 -name 'cluster-agent-*-linux-x64' | head -n 1)}
[ -x "$exe" ] || { echo "measure: no agent executable (run pnpm release first)" >&2; exit 2; }
exe=$(realpath "$exe")
runs=${RUNS:-11} settle=${SETTLE_S:-20}

work=$(mktemp -d "${TMPDIR:-/tmp}/measure.XXXXXX")
master_pid=""
cleanup() {
  [ -n "$master_pid" ] && kill -TERM "$master_pid" 2>/dev/null && wait "$master_pid" 2>/dev/null || true
  bash scripts/devdb.sh stop --state-dir "$work/devdb" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

node_agent=(node --lite-mode --no-expose-wasm packages/agent/dist/main.js)
sea_agent=("$exe")

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# Median wall time in ms of a command, run $runs times.
startup_ms() {
  for _ in $(seq 1 "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
  done | median
}

export MONGODB_URI
MONGODB_URI=$(bash scripts/devdb.sh start --state-dir "$work/devdb")
node packages/master/dist/main.js db init >/dev/null
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
node packages/master/dist/main.js serve --host 127.0.0.1 --port "$port" >"$work/master.log" 2>&1 &
master_pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

# kB of VmRSS, RssAnon, RssFile of a `run` after $settle seconds.
steady_rss() {
  local id=$1; shift
  local token
  token=$(node packages/master/dist/main.js worker register "$id" 127.0.0.1 --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0,"utf8")).token)')
  AGENT_TOKEN=$token "$@" run --master-url "ws://127.0.0.1:$port/agent" --worker-id "$id" >"$work/$id.log" 2>&1 &
  local pid=$!
  sleep "$settle"
  grep -q '"admitted"' "$work/$id.log" || { echo "measure: agent $id was not admitted" >&2; cat "$work/$id.log" >&2; exit 1; }
  awk '/^VmRSS|^RssAnon|^RssFile/ { printf "%s ", $2 } END { print "" }' "/proc/$pid/status"
  kill -TERM "$pid"
  wait "$pid" || true
}

# The executable's cached pages dropped first (dd iflag=nocache count=0 advises the kernel
# for that one file): a file just written is wholly in the page cache, and then
# fault-around maps ~8 MB more of it into each process than a file read on demand.
drop_cache() { dd if="$1" iflag=nocache count=0 status=none; }

report() {
  local key=$1 name=$2 size=$3; shift 3
  local probe help rss=() i
  drop_cache "$(realpath "$(command -v "$1")")"
  probe=$(startup_ms "$@" probe --json)
  help=$(startup_ms "$@" --help)
  for i in 1 2 3; do rss+=("$(steady_rss "m-$key-$i" "$@")"); done
  local vm anon file
  vm=$(printf '%s\n' "${rss[@]}" | awk '{ print $1 }' | median)
  anon=$(printf '%s\n' "${rss[@]}" | awk '{ print $2 }' | median)
  file=$(printf '%s\n' "${rss[@]}" | awk '{ print $3 }' | median)
  printf '| %s | %s | %s ms | %s ms | %.1f MB | %.1f MB | %.1f MB |\n' "$name" "$size" "$probe" "$help" \
    "$(echo "$vm / 1024" | bc -l)" "$(echo "$anon / 1024" | bc -l)" "$(echo "$file / 1024" | bc -l)"
}

node_size="node $(du -m "$(realpath "$(command -v node)")" | cut -f1) MB + agent $(du -sm --apparent-size packages/agent/dist | cut -f1) MB + node_modules"
sea_size="$(du -m --apparent-size "$exe" | cut -f1) MB"
echo "runs=$runs settle=${settle}s $(nproc) cores; $(node --version)"
echo '| agent | size | probe --json (median) | --help (median) | steady VmRSS | RssAnon | RssFile |'
echo '|---|---|---|---|---|---|---|'
report node 'node --lite-mode dist/main.js' "$node_size" "${node_agent[@]}"
report sea 'single executable' "$sea_size" "${sea_agent[@]}"
