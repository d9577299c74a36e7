#!/usr/bin/env bash
# Prints the folder that holds what runs an aarch64 program on this x86-64
# machine, fetching it on first use: Debian's qemu-aarch64-static (user-mode
# emulation) and the aarch64 C and C++ runtime libraries Node.js links
# against, as a sysroot for qemu's -L.
#
#   dir=$(bash scripts/release/arm64-emulator.sh)
#   "$dir/qemu-aarch64-static" -L "$dir/sysroot" ./cluster-agent-<version>-linux-arm64 --version
#
# The packages are downloaded with apt and only their files are unpacked, into
# .cache/tools/arm64-emulator: installing qemu-user-static would put binfmt
# handlers in /usr/lib/binfmt.d, which a systemd host registers for every
# program on the machine at its next boot. Nothing here registers anything, and
# nothing outside the cache folder is written.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir="$root/.cache/tools/arm64-emulator"
packages=(qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)

if [ -x "$dir/qemu-aarch64-static" ] && [ -f "$dir/sysroot/lib/libstdc++.so.6" ]; then
  echo "$dir"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || { echo "arm64-emulator: needs apt-get to fetch ${packages[*]} from Debian" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/arm64-emulator.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
download() { (cd "$work" && apt-get download -qq "${packages[@]}" 2>&1 | grep -v 'unsandboxed as root' >&2 || true); }
download
if [ "$(find "$work" -name '*.deb' | wc -l)" -lt ${#packages[@]} ]; then
  [ "$(id -u)" = 0 ] || { echo "arm64-emulator: apt-get could not download ${packages[*]}; run apt-get update as root" >&2; exit 1; }
  apt-get update -qq >&2
  download
fi
[ "$(find "$work" -name '*.deb' | wc -l)" -ge ${#packages[@]} ] || { echo "arm64-emulator: could not download ${packages[*]}" >&2; exit 1; }

mkdir -p "$work/out/sysroot"
for deb in "$work"/*.deb; do
  case $(basename "$deb") in
    qemu-user-static_*) dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/out" --strip-components=3 ./usr/bin/qemu-aarch64-static ;;
    *) dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/out/sysroot" --strip-components=3 ./usr/aarch64-linux-gnu/lib ;;
  esac
done
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$work/out" "$dir"
echo "$dir"
