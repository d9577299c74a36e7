#!/usr/bin/env bash
# Writes a manual page (roff, on stdout) from a daemon's own --help texts, so
# `man cluster-agent` says what `cluster-agent --help` says.
#
#   scripts/release/manpage.sh cluster-agent|cluster-master VERSION EXECUTABLE
set -euo pipefail
package=$1 version=$2 executable=$3
case $package in
  cluster-agent) summary='worker daemon of the cluster worker registry'; sections=('' run probe) ;;
  cluster-master) summary='endpoint and admin command of the cluster worker registry'; sections=('' serve worker db) ;;
  *) echo "manpage.sh: unknown package $package" >&2; exit 2 ;;
esac
# roff: a backslash is \e; a line starting with . or ' would be a request.
roff() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }

printf '.TH %s 1 "%s" "%s %s"\n' "${package^^}" "$(date -u -d "@${SOURCE_DATE_EPOCH:?}" +%Y-%m-%d)" "$package" "$version"
printf '.SH NAME\n%s \\- %s\n' "$package" "$summary"
for section in "${sections[@]}"; do
  if [ -z "$section" ]; then printf '.SH SYNOPSIS\n'; else printf '.SH %s\n' "${section^^}"; fi
  printf '.nf\n'
  # shellcheck disable=SC2086 # an empty section adds no argument
  env -i "$executable" $section --help 2>&1 | roff
  printf '.fi\n'
done
printf '.SH FILES\n.nf\n/etc/%s/%s.env\n/lib/systemd/system/%s.service\n/usr/share/doc/%s/README.md\n.fi\n' \
  "$package" "${package#cluster-}" "$package" "$package"
