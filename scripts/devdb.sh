#!/usr/bin/env bash
# Dev database: an embedded FerretDB v1.24.2 (SQLite backend) speaking the
# MongoDB wire protocol. See the README, "Dev database", and scripts/devdb/main.go.
#
# Usage:
#   scripts/devdb.sh build
#   scripts/devdb.sh start  [--port N] [--data DIR] [--state-dir DIR] [--timeout SECONDS]
#   scripts/devdb.sh stop   [--state-dir DIR]
#   scripts/devdb.sh status [--state-dir DIR]
#   scripts/devdb.sh uri    [--state-dir DIR]
#
# build   Builds .cache/devdb/ferretdb-dev if missing or if scripts/devdb/{go.mod,go.sum,main.go,patches/**.go}
#         changed (hash stamp .cache/devdb/ferretdb-dev.stamp). Silent on a cache hit.
# start   Builds if needed, starts the server in the background on 127.0.0.1, waits (default 60 s)
#         until it answers a wire-protocol ping, prints exactly its URI (mongodb://127.0.0.1:PORT/)
#         on stdout and writes it to <state-dir>/uri. --port 0 (default) picks a free port.
#         If it is already running with the same data dir (and port, when given), prints its URI.
# stop    SIGTERM, waits up to 10 s, then SIGKILL. Exit 0 if it was not running.
# status  Prints "running pid=… uri=… data=… log=…" (exit 0) or "stopped" (exit 1).
# uri     Prints the URI of the running server (exit 0) or nothing (exit 1).
#
# Defaults: --state-dir .cache/devdb/run (or $DEVDB_STATE_DIR), --data <state-dir>/data.
# State dir holds: pid, uri, datadir (path of the data dir), log (server stderr), stdout, data/ (default data).
# Data survives stop/start when the same --data is given (do not run two servers on one data dir).
#
# Environment: GO (go binary; default: go on PATH, else /usr/local/go/bin/go), DEVDB_STATE_DIR,
# DEVDB_UPSTREAM=1 (build FerretDB without the six small fixes described at prepare_patched),
# DEVDB_PUSHDOWN=0 (build without the fifth, the filter pushdown, and so without the sixth),
# DEVDB_SET_PUSHDOWN=0 (build without the sixth, the $set update in SQL, only).
# The server binary itself: ferretdb-dev -listen 127.0.0.1:PORT -data DIR [-log-level warn]
# [-sqlite-synchronous normal|full]; ferretdb-dev -ping mongodb://HOST:PORT/ [-timeout 5s].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/scripts/devdb"
CACHE="$ROOT/.cache/devdb"
BIN="$CACHE/ferretdb-dev"
STAMP="$BIN.stamp"
BUILD_TAGS="ferretdb_no_postgresql"

die() {
  echo "devdb: $*" >&2
  exit 1
}
log() { echo "devdb: $*" >&2; }

abspath() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

find_go() {
  if [[ -n "${GO:-}" ]]; then
    printf '%s\n' "$GO"
  elif command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '%s\n' /usr/local/go/bin/go
  else
    die "Go toolchain not found (install Go >= 1.24 or set GO=/path/to/go)"
  fi
}

hash_stdin() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum | cut -d' ' -f1
  else
    shasum -a 256 | cut -d' ' -f1
  fi
}

# Runs "$@" while holding an exclusive lock on file $1 (if flock exists).
with_lock() {
  local lockfile="$1"
  shift
  if command -v flock >/dev/null 2>&1; then
    (
      flock -w 120 9 || die "timed out waiting for lock $lockfile"
      "$@"
    ) 9>"$lockfile"
  else
    "$@"
  fi
}

source_hash() {
  local go="$1"
  {
    cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" "$SRC"/patches/*.go "$SRC"/patches/sqlite/*.go \
      "$SRC"/patches/set-update/*/*.go
    echo "tags=$BUILD_TAGS patch=$(patch_mode)"
    "$go" version
  } | hash_stdin
}

# Six fixes to FerretDB v1.24.2 (see prepare_patched), applied at build time to a copy of the module
# (.cache/devdb/ferretdb-src, used via go build -modfile=.cache/devdb/build.mod with a replace):
#  1. id-index: the SQLite backend looks documents up by _id with _ferretdb_sjson->'$._id', but the
#     unique _id index is on _ferretdb_sjson->"_id", so SQLite never uses it: every per-document
#     UPDATE (updateOne/updateMany/findAndModify) scans the whole table, making updateMany of k docs
#     in an N-doc collection O(k*N) (5000 of 10k docs: ~170 s instead of ~6 s). The constant becomes
#     ->'_id' (same JSON path, matches the index; no on-disk format change).
#  2. update-close: the update command defers closing each statement's query iterator to the end of
#     the command; an updateOne stops early and keeps its pooled SQLite connection, so one update
#     command with > ~99 statements (bulkWrite of many updateOne) deadlocks the database's pool
#     (100 connections) forever. The iterator is now closed after each statement.
#  3. in-set: {field: {$in: [k strings]}} compared each document's value with every element in turn
#     (types.Compare), O(n*k): 10,000 ids over 10,000 documents took 2.3 s of matching alone. A
#     string value against an all-string array is now one map lookup (patches/devdb_in_set.go);
#     strings compare bytewise in FerretDB, so the answer is the same.
#  4. update-batch: an update statement wrote each matched document in its own SQLite transaction
#     (0.2 ms a document: 2.1 s for 10,000); it now writes them in transactions of up to 1,000
#     (patches/devdb_batch_update.go). A document that fails to be processed (a bad update) still
#     leaves the documents before it written, as upstream; one that the backend fails to write
#     fails its whole batch (upstream kept the documents before it); earlier batches stay written.
#  5. pushdown: upstream reads and decodes every document for any filter but {_id: X} (0.6 s at
#     10,000 workers). Equality, $in of scalars and $lt/$lte/$gt/$gte on a number or date, on
#     top-level fields, now go to SQL in the form of FerretDB's expression indexes
#     (_ferretdb_sjson->'field'), so SQLite finds the rows through the registry's indexes
#     (patches/sqlite/devdb_pushdown*.go, called from the SQLite backend's Query and Explain).
#     FerretDB still filters every row that comes back, so the SQL only narrows what is read.
#     DEVDB_PUSHDOWN=0 builds without it (the other four stay).
#  6. set-update: an updateMany whose update is a plain $set of top-level scalars (the heartbeats,
#     the inactive flags, the sweep) still read, decoded, re-encoded and wrote back every matched
#     document in Go (0.4 ms a document). When the whole filter has an exact SQL form, it is now
#     one SELECT (do all the rows read have the types on which that form is exact, how many
#     match, which change) and one UPDATE ... SET _ferretdb_sjson = json_set(...) of those by
#     rowid, in one transaction (patches/set-update, called from the update command before FerretDB's own
#     path, which runs unchanged whenever it does not apply). Needs patch 5.
#     DEVDB_SET_PUSHDOWN=0 builds without it (the other five stay).
# DEVDB_UPSTREAM=1 builds the unmodified module instead.
PATCH_VERSION="id-index+update-close+in-set+update-batch-v2"
PUSHDOWN_VERSION="pushdown-v1"
SET_UPDATE_VERSION="set-update-v2"

patch_mode() {
  if [[ "${DEVDB_UPSTREAM:-0}" == 1 ]]; then
    echo upstream
  elif [[ "${DEVDB_PUSHDOWN:-1}" == 0 ]]; then
    echo "$PATCH_VERSION"
  elif [[ "${DEVDB_SET_PUSHDOWN:-1}" == 0 ]]; then
    echo "$PATCH_VERSION+$PUSHDOWN_VERSION"
  else
    echo "$PATCH_VERSION+$PUSHDOWN_VERSION+$SET_UPDATE_VERSION"
  fi
}

# apply_patch FILE FROM TO: replaces the single literal occurrence of FROM in FILE with TO.
apply_patch() {
  local f="$1" from="$2" to="$3" content
  [[ -f "$f" ]] || die "patch target $f missing (FerretDB version changed?); set DEVDB_UPSTREAM=1 to build without patches"
  content="$(cat "$f")"
  local rest="${content#*"$from"}"
  if [[ "$rest" == "$content" || "$rest" == *"$from"* ]]; then
    die "cannot apply patch to $f (FerretDB version changed?); set DEVDB_UPSTREAM=1 to build without patches"
  fi
  printf '%s\n' "${content/"$from"/"$to"}" >"$f"
}

# Patch 5 (pushdown): after upstream's {_id: X} pushdown in the SQLite backend's Query and Explain,
# devdbPushdown (patches/sqlite) replaces the WHERE clause when it can push anything down.
patch_pushdown() {
  local dst="$1" f="$1/internal/backends/sqlite/collection.go"
  apply_patch "$f" \
    $'\t\tcase string, types.ObjectID:\n\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n\t\t}\n\t}\n' \
    $'\t\tcase string, types.ObjectID:\n\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n\t\t}\n\t}\n\n\tif w, a, ok := devdbPushdown(params.Filter, meta); ok { // devdb patch: indexed filters\n\t\twhereClause, args = w, a\n\t}\n'
  apply_patch "$f" \
    $'\t\t\tfilterPushdown = true\n\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n\t\t}\n\t}\n' \
    $'\t\t\tfilterPushdown = true\n\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n\t\t}\n\t}\n\n\tif w, a, ok := devdbPushdown(params.Filter, meta); ok { // devdb patch: indexed filters\n\t\tfilterPushdown, whereClause, args = true, w, a\n\t}\n'
  for f in "$SRC"/patches/sqlite/*.go; do
    cp "$f" "$dst/internal/backends/sqlite/$(basename "$f")"
  done
}

# Patch 6 (set-update): the update command offers each multi, non-upsert statement to
# backends.DevdbUpdateSet first (patches/set-update/backends), which the SQLite backend's collection
# implements (patches/set-update/sqlite) with a transaction of its own (patches/set-update/fsql); the
# oplog decorator passes it on only while there is no oplog (patches/set-update/oplog).
patch_set_update() {
  local dst="$1" p="$SRC/patches/set-update"
  apply_patch "$dst/internal/handler/msg_update.go" \
    $'\t\tvar qp backends.QueryParams\n\t\tif !h.DisablePushdown {\n\t\t\tqp.Filter = u.Filter\n\t\t}\n' \
    $'\t\tif u.Multi && !u.Upsert && u.HasUpdateOperators && !h.DisablePushdown { // devdb patch: $set in SQL\n\t\t\tm, n, done, setErr := backends.DevdbUpdateSet(ctx, c, u.Filter, u.Update)\n\t\t\tif setErr != nil {\n\t\t\t\treturn 0, 0, nil, lazyerrors.Error(setErr)\n\t\t\t}\n\n\t\t\tif done {\n\t\t\t\tmatched += m\n\t\t\t\tmodified += n\n\n\t\t\t\tcontinue\n\t\t\t}\n\t\t}\n\n\t\tvar qp backends.QueryParams\n\t\tif !h.DisablePushdown {\n\t\t\tqp.Filter = u.Filter\n\t\t}\n'
  local pkg
  for pkg in backends:backends sqlite:backends/sqlite fsql:util/fsql oplog:backends/decorators/oplog; do
    [[ -d "$dst/internal/${pkg#*:}" ]] || die "patch target $dst/internal/${pkg#*:} missing (FerretDB version changed?)"
    cp "$p/${pkg%%:*}"/*.go "$dst/internal/${pkg#*:}/" || die "cannot copy patches/set-update/${pkg%%:*}"
  done
}

# Prepares $CACHE/ferretdb-src (patched module copy) and $CACHE/build.mod/.sum; prints the -modfile path.
prepare_patched() {
  local go="$1" dir dst="$CACHE/ferretdb-src"
  (cd "$SRC" && "$go" mod download github.com/FerretDB/FerretDB) >&2 || die "go mod download failed"
  dir="$(cd "$SRC" && "$go" list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)" || die "go list -m failed"
  [[ -n "$dir" && -d "$dir/internal" ]] || die "FerretDB module source not found (got '$dir')"
  rm -rf "$dst"
  cp -R "$dir" "$dst"
  chmod -R u+w "$dst"
  apply_patch "$dst/internal/backends/sqlite/metadata/metadata.go" \
    "IDColumn = DefaultColumn + \"->'\$._id'\"" \
    "IDColumn = DefaultColumn + \"->'_id'\""
  apply_patch "$dst/internal/handler/msg_update.go" \
    $'\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n' \
    $'\t\tbatched := common.NewDevdbBatchedUpdates(c) // devdb patch: a transaction per batch, not per document\n\t\tresult, err := common.UpdateDocument(ctx, batched, "update", iter, &u)\n\t\tcloser.Close() // devdb patch: release the pooled connection now\n\t\tif flushErr := batched.Flush(ctx); err == nil {\n\t\t\terr = flushErr\n\t\t}\n'
  apply_patch "$dst/internal/handler/common/filter.go" \
    $'\t\t\t\t\t"$in needs an array",\n\t\t\t\t\texprKey,\n\t\t\t\t)\n\t\t\t}\n\n\t\t\tvar found bool\n\t\t\tfor i := 0; i < arr.Len(); i++ {\n' \
    $'\t\t\t\t\t"$in needs an array",\n\t\t\t\t\texprKey,\n\t\t\t\t)\n\t\t\t}\n\n\t\t\tfound, decided := devdbInStrings(arr, fieldValue) // devdb patch: set lookup\n\t\t\tfor i := 0; !decided && i < arr.Len(); i++ {\n'
  for f in "$SRC"/patches/*.go; do
    cp "$f" "$dst/internal/handler/common/$(basename "$f")"
  done
  if [[ "$(patch_mode)" == *"+$PUSHDOWN_VERSION"* ]]; then
    patch_pushdown "$dst"
  fi
  if [[ "$(patch_mode)" == *"+$SET_UPDATE_VERSION" ]]; then
    patch_set_update "$dst"
  fi
  cp "$SRC/go.mod" "$CACHE/build.mod"
  cp "$SRC/go.sum" "$CACHE/build.sum"
  printf '\nreplace github.com/FerretDB/FerretDB => %s\n' "$dst" >>"$CACHE/build.mod"
  printf '%s\n' "$CACHE/build.mod"
}

do_build() {
  local go want
  go="$(find_go)"
  want="$(source_hash "$go")"
  if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    return 0
  fi
  log "building $BIN (first build downloads modules and takes ~1-2 min)..."
  local tmp="$BIN.tmp.$$" modflag=()
  if [[ "$(patch_mode)" != upstream ]]; then
    modflag=("-modfile=$(prepare_patched "$go")")
  fi
  if ! (cd "$SRC" && CGO_ENABLED=0 "$go" build "${modflag[@]}" -trimpath -buildvcs=false -tags "$BUILD_TAGS" -o "$tmp" .) >&2; then
    rm -f "$tmp"
    die "build failed"
  fi
  mv -f "$tmp" "$BIN"
  printf '%s\n' "$want" >"$STAMP"
  log "built $BIN"
}

cmd_build() {
  [[ $# -eq 0 ]] || die "build takes no arguments"
  mkdir -p "$CACHE"
  with_lock "$CACHE/build.lock" do_build
}

# --- state helpers ---------------------------------------------------------

STATE=""
PORT="0"
DATA=""
TIMEOUT="60"

parse_opts() {
  local allow="$1"
  shift
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --state-dir) [[ $# -ge 2 ]] || die "$1 needs a value"; STATE="$2"; shift 2 ;;
      --state-dir=*) STATE="${1#*=}"; shift ;;
      --port | --data | --timeout)
        [[ "$allow" == start ]] || die "unknown option $1"
        [[ $# -ge 2 ]] || die "$1 needs a value"
        case "$1" in --port) PORT="$2" ;; --data) DATA="$2" ;; --timeout) TIMEOUT="$2" ;; esac
        shift 2
        ;;
      --port=* | --data=* | --timeout=*)
        [[ "$allow" == start ]] || die "unknown option ${1%%=*}"
        case "$1" in --port=*) PORT="${1#*=}" ;; --data=*) DATA="${1#*=}" ;; --timeout=*) TIMEOUT="${1#*=}" ;; esac
        shift
        ;;
      *) die "unknown argument $1" ;;
    esac
  done
  STATE="$(abspath "${STATE:-${DEVDB_STATE_DIR:-$ROOT/.cache/devdb/run}}")"
  if [[ -z "$DATA" ]]; then
    DATA="$STATE/data"
  fi
  DATA="$(abspath "$DATA")"
  [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -le 65535 ]] || die "bad --port $PORT"
  [[ "$TIMEOUT" =~ ^[0-9]+$ && "$TIMEOUT" -ge 1 ]] || die "bad --timeout $TIMEOUT"
}

# Prints the pid of the running server for $STATE, or fails.
running_pid() {
  local pid
  [[ -f "$STATE/pid" ]] || return 1
  pid="$(cat "$STATE/pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: it must be our binary.
  local args
  if [[ -r "/proc/$pid/cmdline" ]]; then
    args="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
  else
    args="$(ps -p "$pid" -o args= 2>/dev/null)" || return 1
  fi
  [[ "$args" == *ferretdb-dev* ]] || return 1
  printf '%s\n' "$pid"
}

ping_uri() {
  "$BIN" -ping "$1" -timeout "${2:-5s}" >/dev/null 2>&1
}

clean_state() {
  rm -f "$STATE/pid" "$STATE/uri" "$STATE/datadir"
}

# --- start -----------------------------------------------------------------

do_start() {
  local pid uri
  if pid="$(running_pid)"; then
    uri="$(cat "$STATE/uri" 2>/dev/null || true)"
    local cur_data
    cur_data="$(cat "$STATE/datadir" 2>/dev/null || true)"
    if [[ "$cur_data" != "$DATA" ]]; then
      die "already running (pid $pid) with data $cur_data; run 'scripts/devdb.sh stop --state-dir $STATE' first"
    fi
    if [[ "$PORT" != 0 && "$uri" != "mongodb://127.0.0.1:$PORT/" ]]; then
      die "already running (pid $pid) at $uri; run 'scripts/devdb.sh stop --state-dir $STATE' first"
    fi
    if [[ -n "$uri" ]] && ping_uri "$uri"; then
      printf '%s\n' "$uri"
      return 0
    fi
    die "already running (pid $pid) but not answering; see $STATE/log"
  fi
  clean_state

  mkdir -p "$STATE" "$DATA"
  : >"$STATE/stdout"
  {
    echo "--- $(date '+%Y-%m-%dT%H:%M:%S%z') start port=$PORT data=$DATA"
  } >>"$STATE/log"

  # setsid: own session, so it survives the caller's terminal/process group. fd 9 (the lock) is closed.
  printf '%s\n' "$DATA" >"$STATE/datadir"
  setsid "$BIN" -listen "127.0.0.1:$PORT" -data "$DATA" </dev/null >"$STATE/stdout" 2>>"$STATE/log" 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$STATE/pid"

  local deadline=$((SECONDS + TIMEOUT)) line=""
  while :; do
    line="$(grep -m1 '^READY ' "$STATE/stdout" 2>/dev/null || true)"
    [[ -n "$line" ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      clean_state
      tail -n 20 "$STATE/log" >&2 || true
      die "server exited before becoming ready (log: $STATE/log)"
    fi
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      clean_state
      tail -n 20 "$STATE/log" >&2 || true
      die "server not ready after ${TIMEOUT}s (log: $STATE/log)"
    fi
    sleep 0.1
  done

  uri="${line#READY }"
  # The server pinged itself before printing READY; confirm from a separate process too.
  if ! ping_uri "$uri" 10s; then
    kill -KILL "$pid" 2>/dev/null || true
    clean_state
    die "server printed READY but does not answer ping at $uri (log: $STATE/log)"
  fi
  printf '%s\n' "$uri" >"$STATE/uri"
  printf '%s\n' "$uri"
}

cmd_start() {
  parse_opts start "$@"
  cmd_build
  mkdir -p "$STATE"
  with_lock "$STATE/.lock" do_start
}

# --- stop ------------------------------------------------------------------

do_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    clean_state
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop after 10s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  clean_state
}

cmd_stop() {
  parse_opts stop "$@"
  [[ -d "$STATE" ]] || return 0
  with_lock "$STATE/.lock" do_stop
}

# --- status / uri ----------------------------------------------------------

cmd_status() {
  parse_opts status "$@"
  local pid uri
  if pid="$(running_pid)" && uri="$(cat "$STATE/uri" 2>/dev/null)" && [[ -x "$BIN" ]] && ping_uri "$uri" 2s; then
    echo "running pid=$pid uri=$uri data=$(cat "$STATE/datadir" 2>/dev/null || true) log=$STATE/log"
    return 0
  fi
  echo "stopped"
  return 1
}

cmd_uri() {
  parse_opts uri "$@"
  local uri
  if running_pid >/dev/null && uri="$(cat "$STATE/uri" 2>/dev/null)" && [[ -n "$uri" ]]; then
    printf '%s\n' "$uri"
    return 0
  fi
  return 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    build) cmd_build "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    uri) cmd_uri "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
