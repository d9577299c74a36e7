#!/usr/bin/env bash
# Runs the whole product on this machine: the dev database (unless MONGODB_URI
# points at a real MongoDB), cluster-master, and a cluster-agent for this
# machine, registered under its host name. Shows the worker active in
# `worker list`, then keeps running until Ctrl-C, which stops everything cleanly.
#
# Environment: MASTER_PORT (default 8080), MONGODB_URI (optional), LOG_LEVEL.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

bash scripts/ensure-tools.sh
pnpm build >/dev/null

state_dir="$root/.cache/devdb/local"
port=${MASTER_PORT:-8080}
worker_id=$(hostname -s 2>/dev/null || hostname)
worker_id=$(printf '%s' "$worker_id" | tr -c 'A-Za-z0-9._-' '-' | cut -c1-64)
master_pid="" agent_pid="" started_db=0

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "== stopping"
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$master_pid" ] && kill -TERM "$master_pid" 2>/dev/null && wait "$master_pid" 2>/dev/null || true
  if [ "$started_db" = 1 ]; then bash scripts/devdb.sh stop --state-dir "$state_dir" >/dev/null || true; fi
  echo "== stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${MONGODB_URI:-}" ]; then
  # Data stays in .cache/devdb/local/data between runs.
  MONGODB_URI=$(bash scripts/devdb.sh start --state-dir "$state_dir")
  started_db=1
  echo "== dev database at $MONGODB_URI"
fi
export MONGODB_URI

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

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$master_pid" 2>/dev/null || { echo "the master did not start" >&2; exit 1; }
  sleep 0.1
done

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
echo "== running; Ctrl-C stops the agent, the master and the dev database"
wait "$agent_pid" "$master_pid"
