#!/usr/bin/env bash
# Installs Debian's chromium when missing: the web page's tests drive it headless
# (through puppeteer-core, which downloads no browser of its own). Prints its path.
set -euo pipefail
for name in chromium chromium-browser; do
  if path=$(command -v "$name"); then echo "$path"; exit 0; fi
done
if ! command -v apt-get >/dev/null; then
  echo "error: chromium is missing and there is no apt-get to install it" >&2
  exit 1
fi
echo "installing chromium (apt-get)" >&2
sudo_=""
[ "$(id -u)" = 0 ] || sudo_="sudo"
$sudo_ apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >&2
command -v chromium
