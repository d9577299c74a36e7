#!/usr/bin/env bash
# Prints the path of a promtool (Prometheus's rule checker, for the tests of
# monitoring/): the one on PATH, else Debian's, taken out of the `prometheus`
# package into .cache/promtool without installing it, so that no Prometheus
# server gets installed or started on the machine. `apt-get download` needs
# no root; the package lists are fetched first (root) when apt knows none.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
dir="$root/.cache/promtool"
bin="$dir/usr/bin/promtool"
if [ ! -x "$bin" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: promtool not found and no apt-get to fetch Debian's prometheus package: put promtool on PATH" >&2
    exit 1
  fi
  mkdir -p "$dir/deb"
  if ! (cd "$dir/deb" && apt-get download -qq prometheus >&2 2>/dev/null); then
    if [ "$(id -u)" != 0 ]; then
      echo "error: apt cannot download the prometheus package (run apt-get update as root, or put promtool on PATH)" >&2
      exit 1
    fi
    apt-get update -qq >&2
    (cd "$dir/deb" && apt-get download -qq prometheus >&2)
  fi
  dpkg-deb -x "$dir"/deb/prometheus_*.deb "$dir/extract"
  mkdir -p "$dir/usr/bin"
  mv "$dir/extract/usr/bin/promtool" "$bin"
  rm -rf "$dir/extract" "$dir/deb"
fi
echo "$bin"
