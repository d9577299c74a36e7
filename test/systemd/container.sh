#!/usr/bin/env bash
# Boots systemd as PID 1 of a throwaway machine: fresh PID, mount and UTS
# namespaces; the root an overlay whose lower layer is / (read, never written)
# and whose upper layer is a tmpfs that vanishes with the namespace; fresh
# /proc, /run and /tmp. Never systemd on the machine's own root: its boot-time
# tmpfiles would empty the machine's shared /tmp.
#
#   container.sh boot DIR     starts it (DIR: an empty folder of the test's own);
#                             prints systemd's PID once `systemctl` answers inside
#   container.sh in PID CMD…  runs CMD inside (nsenter into its namespaces and root)
#   container.sh kill PID DIR SIGKILL to systemd: that ends every process of the
#                             namespace; then its cgroups are removed
#
# Inside, DIR is mounted at /srv/host (files in and out). The boot target pulls
# in journald and nothing else the machine has enabled (no database servers,
# no clock sync, no timers); units started by hand run normally.
set -euo pipefail

# systemd manages the cgroup it starts in as its own root. It gets a fresh one
# of its own (and a cgroup namespace, so it sees that one as /), never the
# machine's root cgroup; the controllers stay out of its reach.
cgroup_dirs() { local name=$1; for h in systemd unified; do [ -d "/sys/fs/cgroup/$h" ] && echo "/sys/fs/cgroup/$h/$name"; done; }

boot() {
  local dir=$1
  mkdir -p "$dir/root" "$dir/layer"
  local cgroup="cluster-test-$$-$RANDOM"
  echo "$cgroup" >"$dir/cgroup"
  for d in $(cgroup_dirs "$cgroup"); do mkdir "$d"; done
  # The child: PID 1 of the new PID namespace until it execs systemd.
  # shellcheck disable=SC2016 # expanded by the inner shell
  env DIR="$dir" CGROUP_DIRS="$(cgroup_dirs "$cgroup")" bash -c '
    for d in $CGROUP_DIRS; do echo $$ >"$d/cgroup.procs"; done
    exec unshare --pid --mount --uts --cgroup --fork --propagation private bash -c "$0"' '
    set -euo pipefail
    mount -t tmpfs -o mode=0755 layer "$DIR/layer"
    mkdir "$DIR/layer/upper" "$DIR/layer/work"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$DIR/layer/upper,workdir=$DIR/layer/work" "$DIR/root"
    r=$DIR/root
    mount -t proc proc "$r/proc"
    # Kernel settings are the machine'\''s: read-only inside (systemd-sysctl then skips).
    mount --bind "$r/proc/sys" "$r/proc/sys" && mount -o remount,bind,ro "$r/proc/sys"
    mount --rbind /sys "$r/sys" && mount -o remount,bind,ro "$r/sys"
    mount --bind /dev "$r/dev"
    # The cgroup file systems, mounted afresh inside the cgroup namespace: rooted at the cgroup made for this test.
    mount -t tmpfs -o mode=0755 cgroup "$r/sys/fs/cgroup"
    mkdir "$r/sys/fs/cgroup/systemd"
    mount -t cgroup -o none,name=systemd,xattr cgroup "$r/sys/fs/cgroup/systemd"
    if [ -d /sys/fs/cgroup/unified ]; then
      mkdir "$r/sys/fs/cgroup/unified"
      mount -t cgroup2 -o nsdelegate cgroup2 "$r/sys/fs/cgroup/unified"
    fi
    mount -o remount,ro "$r/sys/fs/cgroup"
    mount -t tmpfs -o mode=0755 run "$r/run"
    mount -t tmpfs -o mode=1777 tmp "$r/tmp"
    mkdir -p "$r/srv/host" && mount --bind "$DIR" "$r/srv/host"
    hostname cluster-test
    # The boot target: journald only.
    cat >"$r/etc/systemd/system/cluster-test.target" <<UNIT
[Unit]
Description=Throwaway test machine
Wants=systemd-journald.socket systemd-journald.service
AllowIsolate=yes
UNIT
    for unit in postgresql.service systemd-timesyncd.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer; do
      ln -sf /dev/null "$r/etc/systemd/system/$unit"
    done
    echo cluster-test >"$r/etc/hostname"
    # A container image'\''s policy-rc.d (exit 101) tells package scripts to start
    # nothing; a worker machine has none. Removed in the overlay only.
    rm -f "$r/usr/sbin/policy-rc.d"
    # pivot_root, then chroot into the new root: with a plain chroot the kernel refuses
    # user namespaces (EPERM), which PrivateUsers=yes in the units needs.
    mkdir -p "$r/run/old-root"
    cd "$r"
    pivot_root . run/old-root
    umount -l /run/old-root
    rmdir /run/old-root
    # Shared propagation inside, as systemd makes it on a host (in a container it leaves that to
    # the container manager): each unit gets its credentials mounted in a mount namespace of its
    # own, then moved to /run/credentials/UNIT; with private mounts that move never reaches the
    # namespace of PID 1, and a DynamicUser= service finds the bare root-only directory instead.
    # The peer groups are new ones, of this namespace alone: nothing propagates to the machine.
    mount --make-rshared /
    exec env -i container=cluster-test PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot . /lib/systemd/systemd --system --unit=cluster-test.target --log-target=kmsg --log-level=warning
  ' </dev/null >"$dir/boot.log" 2>&1 &
  local unshare_pid=$!
  local pid=""
  for _ in $(seq 1 100); do
    pid=$(pgrep -P "$unshare_pid" -x systemd || true)
    [ -n "$pid" ] && break
    kill -0 "$unshare_pid" 2>/dev/null || { cat "$dir/boot.log" >&2; echo "container: the namespace could not be made" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$pid" ] || { cat "$dir/boot.log" >&2; echo "container: systemd did not start" >&2; exit 1; }
  for _ in $(seq 1 200); do
    if in_container "$pid" systemctl is-system-running --wait >/dev/null 2>&1; then echo "$pid"; return 0; fi
    state=$(in_container "$pid" systemctl is-system-running 2>/dev/null || true)
    case $state in running | degraded) echo "$pid"; return 0 ;; esac
    sleep 0.1
  done
  echo "container: systemd did not reach its target (state: ${state:-none})" >&2
  exit 1
}

in_container() {
  local pid=$1
  shift
  nsenter -t "$pid" -m -p -u -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# The namespace's processes are gone once its cgroup empties; then the cgroups go too.
end() {
  local pid=$1 dir=$2 cgroup busy
  kill -KILL "$pid" 2>/dev/null || true
  cgroup=$(cat "$dir/cgroup")
  for _ in $(seq 1 100); do
    busy=0
    for d in $(cgroup_dirs "$cgroup"); do
      if [ -d "$d" ] && [ -n "$(find "$d" -name cgroup.procs -exec cat {} +)" ]; then busy=1; fi
    done
    [ "$busy" = 0 ] && break
    sleep 0.05
  done
  for d in $(cgroup_dirs "$cgroup"); do if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} +; fi; done
}

case ${1:-} in
  boot) boot "$2" ;;
  in) shift; in_container "$@" ;;
  kill) end "$2" "$3" ;;
  *) echo "usage: container.sh boot DIR | in PID CMD… | kill PID DIR" >&2; exit 2 ;;
esac
