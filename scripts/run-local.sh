#!/usr/bin/env bash
# Runs the whole product on this machine: the dev database (unless MONGODB_URI
# points at a real MongoDB), cluster-master, and a cluster-agent for this
# machine, registered under its host name. Shows the worker active in
# `worker list`, then keeps running until Ctrl-C, which stops everything cleanly.
#
# Usage: bash scripts/run-local.sh [--no-build]
#   --no-build   skip installing dependencies and building; use what is built
#
# Environment: MASTER_PORT (default 8080), MONGODB_URI (optional), LOG_LEVEL,
# DEVDB_STATE_DIR (the dev database's state dir, as for scripts/devdb.sh;
# default .cache/devdb/run, so `scripts/devdb.sh status` finds it),
# RUN_LOCAL_STATE_DIR (where a running run-local.sh leaves its pid, so a
# second one sees it; default .cache/run-local).
#
# A second run while one is running, or with the port taken, says so in one
# line and exits 1 without touching anything. The dev database is stopped at
# the end only if this run started it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-local.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

port=${MASTER_PORT:-8080}
state_dir=${RUN_LOCAL_STATE_DIR:-$root/.cache/run-local}
worker_id=$(hostname -s 2>/dev/null || hostname)
worker_id=$(printf '%s' "$worker_id" | tr -c 'A-Za-z0-9._-' '-' | cut -c1-64)

# --- is one running already? (checked before anything is built, started or registered)

# Prints the pid of a live run-local.sh recorded in $state_dir, or fails.
running_pid() {
  local pid args
  pid=$(cat "$state_dir/pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" != $$ ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: it must be this script.
  if [ -r "/proc/$pid/cmdline" ]; then args=$(tr '\0' ' ' <"/proc/$pid/cmdline"); else args=$(ps -p "$pid" -o args= 2>/dev/null) || return 1; fi
  [[ "$args" == *run-local.sh* ]] || return 1
  printf '%s\n' "$pid"
}

# True when something accepts connections on 127.0.0.1:$1.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if pid=$(running_pid); then
  other_port=$(cat "$state_dir/port" 2>/dev/null || echo '?')
  other_uri=$(cat "$state_dir/uri" 2>/dev/null || true)
  echo "run-local.sh is already running (pid $pid, master on ws://127.0.0.1:$other_port/agent): use it${other_uri:+ (in another terminal: export MONGODB_URI=$other_uri)}, or stop it first with Ctrl-C in its terminal or kill $pid" >&2
  exit 1
fi
if port_taken "$port"; then
  echo "port $port on 127.0.0.1 is taken by another program (a master started by hand?): stop it, or pick another port: MASTER_PORT=$((port + 1)) bash scripts/run-local.sh" >&2
  exit 1
fi
mkdir -p "$state_dir"
printf '%s\n' $$ >"$state_dir/pid"
printf '%s\n' "$port" >"$state_dir/port"
rm -f "$state_dir/uri"

master_pid="" agent_pid="" started_db=0
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "== stopping"
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$master_pid" ] && kill -TERM "$master_pid" 2>/dev/null && wait "$master_pid" 2>/dev/null || true
  # Only a database this run started: another run, a test or a person may be using one that was already there.
  if [ "$started_db" = 1 ]; then bash scripts/devdb.sh stop >/dev/null || true; fi
  [ "$(cat "$state_dir/pid" 2>/dev/null)" = $$ ] && rm -f "$state_dir/pid" "$state_dir/port" "$state_dir/uri"
  echo "== stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$build" = 1 ]; then
  bash scripts/ensure-tools.sh
  pnpm build >/dev/null
fi

if [ -z "${MONGODB_URI:-}" ]; then
  # The dev database's default state dir (data stays there between runs), so
  # `scripts/devdb.sh status` and `scripts/devdb.sh stop` find it.
  if ! bash scripts/devdb.sh uri >/dev/null 2>&1; then started_db=1; fi
  MONGODB_URI=$(bash scripts/devdb.sh start)
  echo "== dev database at $MONGODB_URI ($([ "$started_db" = 1 ] && echo "started now; stopped at the end" || echo "already running; left running"))"
fi
export MONGODB_URI
printf '%s\n' "$MONGODB_URI" >"$state_dir/uri"

master() { node packages/master/dist/main.js "$@"; }

master db init >/dev/null

# Register this machine, or give it a fresh token if it already is.
if master worker show "$worker_id" >/dev/null 2>&1; then
  token_json=$(master worker token "$worker_id" --json)
else
  token_json=$(master worker register "$worker_id" 127.0.0.1 --json)
fi
token=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).token)' <<<"$token_json")

echo "== master on ws://127.0.0.1:$port/agent"
# Each daemon in its own session: Ctrl-C reaches only this script, which then
# stops the agent first (its clean goodbye), then the master, one signal each.
setsid node packages/master/dist/main.js serve --host 127.0.0.1 --port "$port" &
master_pid=$!

# A /healthz answer counts only if it names this run's master by its pid: the
# port was free when checked, but another master (or program) may have taken
# it since, and then this master dies of the port in use while the other
# answers. setsid runs the master in place (this shell has no job control, so
# setsid is not a group leader and does not fork): $master_pid is the master's.
up=0
for _ in $(seq 1 100); do
  kill -0 "$master_pid" 2>/dev/null || break
  if health=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null); then
    answered=$(sed -n 's/.*"pid":\([0-9][0-9]*\).*/\1/p' <<<"$health")
    if [ "$answered" = "$master_pid" ]; then up=1; break; fi
    echo "port $port is answered by another master (pid ${answered:-unknown}), not the one this run started (pid $master_pid): stop that one, or pick another port: MASTER_PORT=$((port + 1)) bash scripts/run-local.sh" >&2
    exit 1
  fi
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "the master did not start on port $port (see its log above)" >&2
  exit 1
fi

echo "== agent for worker '$worker_id'"
AGENT_TOKEN=$token setsid node --lite-mode --no-expose-wasm packages/agent/dist/main.js run \
  --master-url "ws://127.0.0.1:$port/agent" --worker-id "$worker_id" &
agent_pid=$!
unset token token_json

for _ in $(seq 1 100); do
  if master worker list --active --json | grep -q "\"$worker_id\""; then break; fi
  sleep 0.2
done
echo
master worker list
echo
echo "== in another terminal, for the admin CLI against this database:"
echo "export MONGODB_URI=$MONGODB_URI"
echo "== running; Ctrl-C stops the agent, the master$([ "$started_db" = 1 ] && echo " and the dev database")"
wait "$agent_pid" "$master_pid"
