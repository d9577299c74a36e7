#!/usr/bin/env bash
# Installs (or upgrades in place, or removes) cluster-agent on this worker machine.
#
#   sudo scripts/install-agent.sh --master-url wss://master:8443/agent --token-file ./token [--worker-id ID]
#   sudo scripts/install-agent.sh --uninstall
#
# It lays down a self-contained bundle in /opt/cluster-agent, the systemd unit,
# /etc/cluster-agent/agent.env (mode 0600: it holds the token), then enables and
# (re)starts the service. Run it again to upgrade: the bundle is swapped whole
# and the service restarted; an existing env file is rewritten from the arguments.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: install-agent.sh [options]

  --master-url URL     master's agent endpoint, ws:// or wss:// (required to install)
  --worker-id ID       worker id registered on the master (default: this host name)
  --token TOKEN        the worker's token, as `cluster-master worker register` printed it
  --token-file FILE    read the token from FILE instead (one of --token/--token-file is required)
  --ca-file FILE       CA certificate that signed the master's certificate (copied, mode 0644)
  --bundle DIR         an already built bundle (default: built from this checkout)
  --root DIR           install under DIR instead of / (for packaging and tests; implies --no-start)
  --node PATH          node binary the unit runs (default: `command -v node`)
  --no-start           lay down files but do not enable or start the service
  --dry-run            print what would be done, change nothing
  --uninstall          stop and disable the service and remove everything this script installed
  -h, --help           this text
USAGE
}

die() { echo "install-agent: $*" >&2; exit 2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)

master_url="" worker_id="" token="" token_file="" ca_file="" bundle="" root="/" node_bin=""
start=1 dry_run=0 uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --master-url) master_url=${2-}; shift 2 ;;
    --worker-id) worker_id=${2-}; shift 2 ;;
    --token) token=${2-}; shift 2 ;;
    --token-file) token_file=${2-}; shift 2 ;;
    --ca-file) ca_file=${2-}; shift 2 ;;
    --bundle) bundle=${2-}; shift 2 ;;
    --root) root=${2-}; shift 2 ;;
    --node) node_bin=${2-}; shift 2 ;;
    --no-start) start=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

root=${root%/}
[ "$root" = "" ] || start=0
opt_dir="$root/opt/cluster-agent"
etc_dir="$root/etc/cluster-agent"
unit_path="$root/etc/systemd/system/cluster-agent.service"
env_path="$etc_dir/agent.env"

run() {
  if [ "$dry_run" = 1 ]; then
    printf 'would run:'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}
say() { echo "install-agent: $*"; }

have_systemd() { [ "$start" = 1 ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }

if [ "$uninstall" = 1 ]; then
  if have_systemd; then
    run systemctl disable --now cluster-agent.service || true
  fi
  run rm -rf "$opt_dir" "$opt_dir.new" "$etc_dir"
  run rm -f "$unit_path"
  if have_systemd; then run systemctl daemon-reload; fi
  say "removed cluster-agent"
  exit 0
fi

# Validate everything before touching anything.
[ -n "$master_url" ] || die "--master-url is required"
[[ "$master_url" =~ ^wss?://[^[:space:]/]+(/[^[:space:]]*)?$ ]] || die "--master-url must be ws://host[:port]/path or wss://…, got '$master_url'"
if [ -n "$token_file" ]; then
  [ -z "$token" ] || die "give --token or --token-file, not both"
  [ -r "$token_file" ] || die "cannot read token file '$token_file'"
  token=$(tr -d '[:space:]' <"$token_file")
fi
[ -n "$token" ] || die "--token or --token-file is required"
[[ "$token" =~ ^[A-Za-z0-9_-]{16,256}$ ]] || die "the token does not look like one printed by 'cluster-master worker register'"
if [ -z "$worker_id" ]; then worker_id=$(hostname -s 2>/dev/null || hostname); fi
[[ "$worker_id" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || die "invalid worker id '$worker_id' (letters, digits, '.', '_', '-'; at most 64)"
if [ -n "$ca_file" ]; then [ -r "$ca_file" ] || die "cannot read CA file '$ca_file'"; fi
if [ -z "$node_bin" ]; then node_bin=$(command -v node || true); fi
[ -n "$node_bin" ] && [ -x "$node_bin" ] || die "node not found; install Node.js >= 20.19 or pass --node"
case "$node_bin" in /*) ;; *) die "--node must be an absolute path" ;; esac

if [ -z "$bundle" ]; then
  if [ "$dry_run" = 1 ]; then
    bundle="$repo_root/.cache/bundle/cluster-agent"
    say "would build the bundle with scripts/build-agent-bundle.sh"
  else
    bundle=$(bash "$script_dir/build-agent-bundle.sh")
  fi
fi
if [ "$dry_run" = 0 ]; then
  [ -f "$bundle/dist/main.js" ] || die "bundle '$bundle' has no dist/main.js"
fi

upgrade=0
[ -d "$opt_dir" ] && upgrade=1

# The bundle: copy next to the old one, then swap, so a failed copy leaves the old install working.
run mkdir -p "$root/opt"
run rm -rf "$opt_dir.new"
run cp -a "$bundle" "$opt_dir.new"
run rm -rf "$opt_dir"
run mv "$opt_dir.new" "$opt_dir"
run chmod -R u=rwX,go=rX "$opt_dir"

# The unit, pointed at this machine's node.
run mkdir -p "$(dirname "$unit_path")"
if [ "$dry_run" = 1 ]; then
  say "would write $unit_path (mode 0644) running $node_bin"
else
  sed "s|^ExecStart=/usr/bin/node |ExecStart=$node_bin |" "$repo_root/systemd/cluster-agent.service" >"$unit_path"
  chmod 0644 "$unit_path"
fi

# The environment file holds the token: created 0600 from the start, never world-readable.
run mkdir -p "$etc_dir"
run chmod 0755 "$etc_dir"
ca_line="#AGENT_CA_FILE="
if [ -n "$ca_file" ]; then
  run install -m 0644 "$ca_file" "$etc_dir/ca.pem"
  ca_line="AGENT_CA_FILE=/etc/cluster-agent/ca.pem"
fi
if [ "$dry_run" = 1 ]; then
  say "would write $env_path (mode 0600) for worker '$worker_id' and master '$master_url'"
else
  (
    umask 077
    cat >"$env_path.tmp" <<ENV
# Written by install-agent.sh; run it again to change these.
AGENT_MASTER_URL=$master_url
AGENT_WORKER_ID=$worker_id
AGENT_TOKEN=$token
$ca_line
LOG_LEVEL=info
ENV
  )
  chmod 0600 "$env_path.tmp"
  mv "$env_path.tmp" "$env_path"
fi

if have_systemd; then
  run systemctl daemon-reload
  run systemctl enable cluster-agent.service
  run systemctl restart cluster-agent.service
  say "$([ $upgrade = 1 ] && echo upgraded || echo installed) and started; follow it with: journalctl -u cluster-agent -f"
else
  say "$([ $upgrade = 1 ] && echo upgraded || echo installed) under '${root:-/}' (service not started)"
fi
