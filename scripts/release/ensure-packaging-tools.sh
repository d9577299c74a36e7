#!/usr/bin/env bash
# Installs what building and testing the release artifacts needs, where a
# fresh Debian machine lacks it: dpkg-deb and strip to build the packages,
# lintian to check them, systemd, util-linux (unshare, nsenter) and procps for
# the test that runs them under a real systemd; aarch64-linux-gnu-strip and the
# aarch64 emulator (arm64-emulator.sh: unpacked into .cache, no binfmt handler)
# for the arm64 artifacts. Needs root and apt where anything is missing; prints
# nothing when all is there.
set -euo pipefail

declare -A needs=(
  [dpkg-deb]=dpkg
  [strip]=binutils
  [aarch64-linux-gnu-strip]=binutils-aarch64-linux-gnu
  [xz]=xz-utils
  [lintian]=lintian
  [man]=man-db
  [unshare]=util-linux
  [nsenter]=util-linux
  [pgrep]=procps
  [deb-systemd-helper]=init-system-helpers
)
missing=()
for tool in "${!needs[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${needs[$tool]}")
done
[ -x /lib/systemd/systemd ] || missing+=(systemd)
if [ ${#missing[@]} -eq 0 ]; then
  bash "$(dirname "${BASH_SOURCE[0]}")/arm64-emulator.sh" >/dev/null
  exit 0
fi

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "error: install these packages first (needs root and apt): ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
bash "$(dirname "${BASH_SOURCE[0]}")/arm64-emulator.sh" >/dev/null
