#!/usr/bin/env bash
# Installs (or upgrades, or removes) cluster-agent on this worker machine from a
# release artifact: no Node.js, no pnpm, no build needed on the worker.
#
#   sudo scripts/install-agent.sh --from cluster-agent_0.1.0_amd64.deb \
#        --master-url wss://master:8443/agent --token-file ./token [--worker-id ID]
#   sudo scripts/install-agent.sh --from cluster-agent-0.1.0-linux-x64 --master-url … --token-file …
#   sudo scripts/install-agent.sh --from … --master-url … --enroll-token-file ./rack.enroll   (a rack: one file for all)
#   sudo scripts/install-agent.sh --uninstall
#
# With a .deb it installs the package (apt, or dpkg), then writes
# /etc/cluster-agent/agent.env and starts the service. With the executable it
# lays down /usr/local/bin/cluster-agent and /etc/systemd/system/cluster-agent.service
# (from this checkout's systemd/) itself. Without --from, run from a checkout,
# it first builds the executable (scripts/release/release.sh; needs Node.js there).
# Run it again to upgrade; the env file is rewritten from the arguments.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: install-agent.sh [options]

  --from FILE          the release artifact for this machine's architecture (uname -m):
                       x86_64: cluster-agent_<version>_amd64.deb or cluster-agent-<version>-linux-x64,
                       aarch64: cluster-agent_<version>_arm64.deb or cluster-agent-<version>-linux-arm64
                       (default: build it from this checkout)
  --master-url URL     master's agent endpoint, ws:// or wss:// (required to install)
  --worker-id ID       worker id registered on the master (default: this host name)
  --token-file FILE    the worker's token, as `cluster-master worker register` printed it, read
                       from FILE, or from standard input with `--token-file -` (required to install;
                       never on the command line, where every process list and sudo's log show it)
  --enroll-token-file FILE
                       instead of --token-file, for a batch of machines: the enrollment token
                       `cluster-master enroll create` printed (FILE, or - for standard input); the
                       agent fetches a credential of its own with it once and keeps it in
                       /var/lib/cluster-agent, so the same file serves every machine of the batch
  --ca-file FILE       CA certificate that signed the master's certificate (copied, mode 0644)
  --root DIR           install under DIR instead of / (the executable only; implies --no-start)
  --no-start           lay down files but do not enable or start the service
  --dry-run            print what would be done, change nothing
  --uninstall          stop the service and remove what this script installed
  -h, --help           this text
USAGE
}

die() { echo "install-agent: $*" >&2; exit 2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)

from="" master_url="" worker_id="" token="" token_file="" enroll_token_file="" ca_file="" root="/"
start=1 dry_run=0 uninstall=0
# An option that takes a value: refuse a missing one, or the next option in its place.
value() {
  [ $# -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || die "$1 needs a value (see --help)"
  printf '%s' "$2"
}
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=$(value "$@"); shift 2 ;;
    --master-url) master_url=$(value "$@"); shift 2 ;;
    --worker-id) worker_id=$(value "$@"); shift 2 ;;
    --token) die "--token would show the token in every process list and in sudo's log: give --token-file FILE, or --token-file - with the token on standard input" ;;
    --token-file) if [ "${2:-}" = - ]; then token_file=-; shift 2; else token_file=$(value "$@"); shift 2; fi ;;
    --enroll-token) die "--enroll-token would show the enrollment token in every process list and in sudo's log: give --enroll-token-file FILE, or --enroll-token-file - with it on standard input" ;;
    --enroll-token-file) if [ "${2:-}" = - ]; then enroll_token_file=-; shift 2; else enroll_token_file=$(value "$@"); shift 2; fi ;;
    --ca-file) ca_file=$(value "$@"); shift 2 ;;
    --root) root=$(value "$@"); shift 2 ;;
    --no-start) start=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

root=${root%/}
[ "$root" = "" ] || start=0
where=${root:-/}
exe_path="$root/usr/local/bin/cluster-agent"
unit_path="$root/etc/systemd/system/cluster-agent.service"
etc_dir="$root/etc/cluster-agent"
env_path="$etc_dir/agent.env"
ca_path="$etc_dir/ca.pem"
state_dir="$root/var/lib/private/cluster-agent" state_link="$root/var/lib/cluster-agent"
legacy_dir="$root/opt/cluster-agent" # where earlier versions of this script put a Node.js bundle
marker="# Written by scripts/install-agent.sh"

run() {
  if [ "$dry_run" = 1 ]; then
    printf 'would run:'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}
say() { echo "install-agent: $*"; }
have_systemd() { [ "$start" = 1 ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }
package_installed() {
  [ "$root" = "" ] && command -v dpkg-query >/dev/null 2>&1 &&
    [ "$(dpkg-query -W -f '${Status}' cluster-agent 2>/dev/null || true)" = "install ok installed" ]
}
done_word() { if [ "$dry_run" = 1 ]; then echo "would be $1"; else echo "$1"; fi; }

if [ "$uninstall" = 1 ]; then
  if package_installed; then
    # The package's own scripts stop the service and, on purge, remove /etc/cluster-agent.
    run dpkg --purge cluster-agent
    say "cluster-agent package $(done_word purged)"
    exit 0
  fi
  if have_systemd && [ -f "$unit_path" ]; then run systemctl disable --now cluster-agent.service || true; fi
  run rm -f "$exe_path" "$env_path" "$env_path.tmp" "$ca_path"
  if [ -f "$unit_path" ] && grep -qF "$marker" "$unit_path"; then run rm -f "$unit_path"; fi
  if [ -f "$legacy_dir/dist/main.js" ]; then run rm -rf "$legacy_dir"; fi
  # The folder goes only when nothing else is left in it (an admin's own token file, say).
  if [ -d "$etc_dir" ]; then run rmdir --ignore-fail-on-non-empty "$etc_dir"; fi
  # The credential an enrolled agent stored (the unit's StateDirectory=, private to its dynamic user): a secret, not left behind.
  if [ -e "$state_dir" ] || [ -L "$state_link" ]; then run rm -rf "$state_dir" "$state_link"; fi
  if have_systemd; then run systemctl daemon-reload; fi
  say "cluster-agent $(done_word removed) from '$where'"
  exit 0
fi

# Validate everything before touching anything.
[ -n "$master_url" ] || die "--master-url is required"
[[ "$master_url" =~ ^wss?://[^[:space:]/]+(/[^[:space:]]*)?$ ]] || die "--master-url must be ws://host[:port]/path or wss://…, got '$master_url'"
# One credential: the worker's own token, or an enrollment token the agent trades for one.
[ -z "$token_file" ] || [ -z "$enroll_token_file" ] || die "give either --token-file or --enroll-token-file, not both"
enroll=0 token_what="token file" token_origin="'cluster-master worker register'"
if [ -n "$enroll_token_file" ]; then
  enroll=1 token_file=$enroll_token_file token_what="enrollment token file" token_origin="'cluster-master enroll create'"
fi
if [ "$token_file" = - ]; then
  token=$(tr -d '[:space:]')
elif [ -n "$token_file" ]; then
  [ -r "$token_file" ] || die "cannot read $token_what '$token_file'"
  token=$(tr -d '[:space:]' <"$token_file")
fi
[ -n "$token_file" ] || die "--token-file is required (FILE, or - to read the token from standard input), or --enroll-token-file for a batch enrolled with 'cluster-master enroll create'"
[ -n "$token" ] || die "the $token_what '$token_file' is empty"
[[ "$token" =~ ^[A-Za-z0-9_-]{16,256}$ ]] || die "the token does not look like one printed by $token_origin"
if [ -z "$worker_id" ]; then worker_id=$(hostname -s 2>/dev/null || hostname); fi
[[ "$worker_id" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || die "invalid worker id '$worker_id' (letters, digits, '.', '_', '-'; at most 64)"
if [ -n "$ca_file" ]; then [ -r "$ca_file" ] || die "cannot read CA file '$ca_file'"; fi

# The artifact must be built for this machine: an aarch64 executable on x86_64 (or the
# reverse) would install fine and then fail at every start with "Exec format error".
# A .deb says its Architecture; an executable's ELF header says its machine (e_machine).
machine=$(uname -m)
check_arch() { # ARTIFACT_ARCH (x86_64, aarch64 or what the file said)
  [ "$1" = "$machine" ] && return 0
  case $machine in
    x86_64) want='cluster-agent_<version>_amd64.deb or cluster-agent-<version>-linux-x64' ;;
    aarch64) want='cluster-agent_<version>_arm64.deb or cluster-agent-<version>-linux-arm64' ;;
    *) want='nothing: the release has x86_64 (amd64) and aarch64 (arm64) artifacts only' ;;
  esac
  die "'$from' is built for $1, but this machine is $machine (uname -m): use $want"
}

kind=""
if [ -n "$from" ]; then
  [ -f "$from" ] && [ -r "$from" ] || die "cannot read '$from'"
  if dpkg-deb -f "$from" Package >/dev/null 2>&1; then
    [ "$(dpkg-deb -f "$from" Package)" = cluster-agent ] || die "'$from' is not the cluster-agent package"
    [ "$root" = "" ] || die "--root works with the executable only; a .deb installs under /"
    case $(dpkg-deb -f "$from" Architecture) in amd64) check_arch x86_64 ;; arm64) check_arch aarch64 ;; *) check_arch "$(dpkg-deb -f "$from" Architecture)" ;; esac
    kind=deb
  elif [ "$(head -c 4 "$from" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    # e_machine: 2 bytes at offset 18, little-endian on both targets (62 x86-64, 183 AArch64).
    case $(od -An -tu2 -j18 -N2 "$from" | tr -d ' ') in 62) check_arch x86_64 ;; 183) check_arch aarch64 ;; *) check_arch "an unknown machine (ELF e_machine $(od -An -tu2 -j18 -N2 "$from" | tr -d ' '))" ;; esac
    kind=exe
  else
    die "'$from' is neither a .deb nor the cluster-agent executable"
  fi
else
  kind=exe
  if [ "$dry_run" = 1 ]; then
    from="$repo_root/.cache/install-agent/cluster-agent-linux-x64"
    say "would build the executable with scripts/release/release.sh --agent-executable-only"
  else
    bash "$script_dir/ensure-tools.sh"
    out=$(bash "$script_dir/release/release.sh" --agent-executable-only --out "$repo_root/.cache/install-agent")
    from=$(find "$out" -maxdepth 1 -name 'cluster-agent-*-linux-x64' | head -n 1)
  fi
fi

upgrade=0
if [ "$kind" = deb ]; then
  package_installed && upgrade=1
  # Installed first, configured after: the package ships an unconfigured env file and starts nothing.
  if command -v apt-get >/dev/null 2>&1; then
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -o Dpkg::Options::=--force-confold "$(realpath "$from")"
  else
    run dpkg -i --force-confold "$from"
  fi
else
  [ -e "$exe_path" ] && upgrade=1
  # Copied next to the old one, then renamed over it: a failed copy leaves the old install working.
  run mkdir -p "$(dirname "$exe_path")"
  run install -m 0755 "$from" "$exe_path.new"
  run mv -f "$exe_path.new" "$exe_path"
  if [ -f "$legacy_dir/dist/main.js" ]; then run rm -rf "$legacy_dir"; fi
  run mkdir -p "$(dirname "$unit_path")"
  if [ "$dry_run" = 1 ]; then
    say "would write $unit_path (mode 0644) running /usr/local/bin/cluster-agent"
  else
    { echo "$marker; run it with --uninstall to remove."
      sed "s|^ExecStart=/usr/bin/cluster-agent |ExecStart=/usr/local/bin/cluster-agent |" "$repo_root/systemd/cluster-agent.service"
    } >"$unit_path"
    chmod 0644 "$unit_path"
  fi
fi

# The environment file holds the token: created 0600 from the start, never world-readable.
run mkdir -p "$etc_dir"
run chmod 0755 "$etc_dir"
ca_line="#AGENT_CA_FILE="
if [ -n "$ca_file" ]; then
  run install -m 0644 "$ca_file" "$ca_path"
  ca_line="AGENT_CA_FILE=/etc/cluster-agent/ca.pem"
fi
if [ "$enroll" = 1 ]; then
  # AGENT_TOKEN empty: the agent uses the credential it stored once it has one, the enrollment token before.
  token_lines="AGENT_TOKEN=
AGENT_ENROLL_TOKEN=$token"
else
  token_lines="AGENT_TOKEN=$token"
fi
if [ "$dry_run" = 1 ]; then
  say "would write $env_path (mode 0600) for worker '$worker_id' and master '$master_url'$([ "$enroll" = 1 ] && echo ', enrolling with the enrollment token')"
else
  (
    umask 077
    cat >"$env_path.tmp" <<ENV
$marker; run it again to change these.
AGENT_MASTER_URL=$master_url
AGENT_WORKER_ID=$worker_id
$token_lines
$ca_line
LOG_LEVEL=info
ENV
  )
  chmod 0600 "$env_path.tmp"
  mv "$env_path.tmp" "$env_path"
fi

action=$([ $upgrade = 1 ] && echo upgraded || echo installed)
if have_systemd; then
  run systemctl daemon-reload
  run systemctl enable cluster-agent.service
  run systemctl restart cluster-agent.service
  say "cluster-agent $(done_word "$action and started"); follow it with: journalctl -u cluster-agent -f"
else
  say "cluster-agent $(done_word "$action") under '$where' (service not started)"
fi
