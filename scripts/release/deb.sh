#!/usr/bin/env bash
# Builds a daemon's Debian packages from its single executables and the files
# under packaging/<package>/ (control, conffiles, environment file, settings
# for the maintainer scripts) and packaging/common/ (script templates, copyright).
#
#   scripts/release/deb.sh cluster-agent|cluster-master VERSION EXECUTABLE OUT_DIR [ARCH=EXECUTABLE ...]
#
# EXECUTABLE runs on this machine and makes the amd64 package (and the manual
# page, from its --help); each ARCH=EXECUTABLE (arm64=...) makes one more
# package with the same files around that executable. Prints each package's path.
#
# Reproducible: every file's time is SOURCE_DATE_EPOCH, owners are root,
# dpkg-deb sorts the entries and uses SOURCE_DATE_EPOCH for the archive.
# DEB_COMPRESSION (xz by default; gzip or none for quick test builds) picks the compressor,
# DEB_COMPRESSION_LEVEL (dpkg-deb -z; its default when unset) how hard it works.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
package=$1 version=$2 executable=$(realpath "$3") out_dir=$(realpath -m "$4")
shift 4
declare -A executables=([amd64]="$executable")
arches=(amd64)
for extra in "$@"; do
  arch=${extra%%=*}
  [[ "$extra" == *=* && "$arch" =~ ^[a-z0-9]+$ ]] || { echo "deb.sh: '$extra' is not ARCH=EXECUTABLE" >&2; exit 2; }
  executables[$arch]=$(realpath "${extra#*=}")
  arches+=("$arch")
done
: "${SOURCE_DATE_EPOCH:?set SOURCE_DATE_EPOCH (scripts/release/release.sh does)}"
compression=${DEB_COMPRESSION:-xz}
level=()
if [ -n "${DEB_COMPRESSION_LEVEL:-}" ]; then
  [[ "$DEB_COMPRESSION_LEVEL" =~ ^[0-9]$ ]] || { echo "deb.sh: DEB_COMPRESSION_LEVEL '$DEB_COMPRESSION_LEVEL' is not 0-9" >&2; exit 2; }
  level=(-z"$DEB_COMPRESSION_LEVEL")
fi
src="$root/packaging/$package"
[ -f "$src/control" ] || { echo "deb.sh: no packaging/$package" >&2; exit 2; }
# ENV_FILE, CONFIG_DIR, CONFIGURED, HINT
# shellcheck disable=SC1091
. "$src/package.conf"

stage=$(mktemp -d "${TMPDIR:-/tmp}/deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
umask 022
chmod 0755 "$stage"
doc="$stage/usr/share/doc/$package"
mkdir -p "$stage/DEBIAN" "$stage/lib/systemd/system" "$stage/$CONFIG_DIR" "$doc" "$stage/usr/share/lintian/overrides" "$stage/usr/bin"

# Where the executable goes in the package; each architecture's is put there in the loop below.
case $package in
  cluster-agent)
    bin_path=usr/bin/cluster-agent
    readme="$root/packages/agent/README.md"
    ;;
  cluster-master)
    bin_path=usr/lib/cluster-master/cluster-master
    # The executable reads its version from ../package.json beside dist/ (see bundle.mjs --meta-url).
    install -d -m 0755 "$stage/usr/lib/cluster-master"
    printf '{"name":"cluster-master","version":"%s"}\n' "$version" >"$stage/usr/lib/cluster-master/package.json"
    # The fleet page's files, found from the package root as in the workspace (src/package-root.ts).
    install -d -m 0755 "$stage/usr/lib/cluster-master/web"
    install -m 0644 "$root"/packages/master/web/* "$stage/usr/lib/cluster-master/web/"
    install -m 0755 "$src/cluster-master.sh" "$stage/usr/bin/cluster-master"
    readme="$root/packages/master/README.md"
    ;;
  *) echo "deb.sh: unknown package $package" >&2; exit 2 ;;
esac

install -m 0644 "$root/systemd/$package.service" "$stage/lib/systemd/system/$package.service"
install -m 0600 "$src/$(basename "$ENV_FILE")" "$stage/$ENV_FILE"
install -m 0644 "$readme" "$doc/README.md"
install -m 0644 "$root/packaging/common/copyright" "$doc/copyright"
# The operator's guide: the README's Operations part (scripts/release/operators-guide.sh).
bash "$root/scripts/release/operators-guide.sh" "$version" >"$doc/operators-guide.md"
chmod 0644 "$doc/operators-guide.md"
install -m 0644 "$src/lintian-overrides" "$stage/usr/share/lintian/overrides/$package"
date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
  "$package" "$version" "$version" "$(sed -n 's/^Maintainer: //p' "$src/control")" "$date" | gzip -9 -n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
# A manual page from the command's own --help (the executable runs on this machine).
mkdir -p "$stage/usr/share/man/man1"
bash "$root/scripts/release/manpage.sh" "$package" "$version" "$executable" | gzip -9 -n >"$stage/usr/share/man/man1/$package.1.gz"
chmod 0644 "$stage/usr/share/man/man1/$package.1.gz"
# Bash completion, printed by the command itself (yargs); bash-completion loads it on first use.
install -d -m 0755 "$stage/usr/share/bash-completion/completions"
"$executable" completion >"$stage/usr/share/bash-completion/completions/$package"
chmod 0644 "$stage/usr/share/bash-completion/completions/$package"

for script in postinst prerm postrm; do
  sed -e "s|@PACKAGE@|$package|g" -e "s|@ENV_FILE@|$ENV_FILE|g" -e "s|@CONFIG_DIR@|$CONFIG_DIR|g" \
    -e "s|@HINT@|$HINT|g" "$root/packaging/common/$script.in" |
    C=$CONFIGURED awk '{ i = index($0, "@CONFIGURED@"); if (i) $0 = substr($0, 1, i - 1) ENVIRON["C"] substr($0, i + 12); print }' >"$stage/DEBIAN/$script"
  chmod 0755 "$stage/DEBIAN/$script"
done
install -m 0644 "$src/conffiles" "$stage/DEBIAN/conffiles"
mkdir -p "$out_dir"

# One package per architecture: the same tree, that architecture's executable.
for arch in "${arches[@]}"; do
  install -m 0755 "${executables[$arch]}" "$stage/$bin_path"
  installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  sed -e "s|@VERSION@|$version|" -e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@ARCH@|$arch|" "$src/control" >"$stage/DEBIAN/control"
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
  chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  deb="$out_dir/${package}_${version}_${arch}.deb"
  dpkg-deb --root-owner-group -Z"$compression" "${level[@]}" --build "$stage" "$deb" >&2
  echo "$deb"
done
