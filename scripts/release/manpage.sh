#!/usr/bin/env bash
# Writes a manual page (roff, on stdout) from a daemon's own --help texts, so
# `man cluster-agent` says what `cluster-agent --help` says: every command,
# found by walking the "Commands:" lists of the help down to the last level
# (cluster-master worker list, admin token …), each with all of its options.
# Nothing is listed by hand, so the page cannot miss a command added later
# (test/ops/package-docs.test.ts checks each command and option against the help).
#
#   scripts/release/manpage.sh cluster-agent|cluster-master VERSION EXECUTABLE
set -euo pipefail
package=$1 version=$2 executable=$3
case $package in
  cluster-agent) summary='worker daemon of the cluster worker registry' ;;
  cluster-master) summary='endpoint and admin command of the cluster worker registry' ;;
  *) echo "manpage.sh: unknown package $package" >&2; exit 2 ;;
esac
# roff: a backslash is \e; a line starting with . or ' would be a request.
roff() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
# Help of one command (words after the program name), with no environment: the defaults shown are the built-in ones.
help_of() { env -i "$executable" "$@" --help 2>&1; }
# The next words after "PACKAGE WORDS…" in a help's "Commands:" list (completion prints a script: not a command to document).
subcommands() {
  local prefix="$package${1:+ $1}"
  awk -v prefix="  $prefix " '
    /^Commands:/ { inside = 1; next }
    inside && /^$/ { exit }
    inside && index($0, prefix) == 1 { rest = substr($0, length(prefix) + 1); split(rest, w, " "); print w[1] }
  ' | grep -vx 'completion' || true
}
# One section per command, depth first: "cluster-master worker list", its help as printed.
walk() {
  local words="$1" text
  # shellcheck disable=SC2086 # the command's words, split
  text=$(help_of $words)
  printf '.SS "%s"\n.nf\n' "$package $words"
  printf '%s\n' "$text" | roff
  printf '.fi\n'
  local sub
  for sub in $(printf '%s\n' "$text" | subcommands "$words"); do walk "$words $sub"; done
}

printf '.TH %s 1 "%s" "%s %s"\n' "${package^^}" "$(date -u -d "@${SOURCE_DATE_EPOCH:?}" +%Y-%m-%d)" "$package" "$version"
printf '.SH NAME\n%s \\- %s\n' "$package" "$summary"
top=$(help_of)
printf '.SH SYNOPSIS\n.nf\n'
printf '%s\n' "$top" | roff
printf '.fi\n.SH COMMANDS\n'
for command in $(printf '%s\n' "$top" | subcommands ''); do walk "$command"; done
printf '.SH FILES\n.nf\n/etc/%s/%s.env\n/lib/systemd/system/%s.service\n/usr/share/doc/%s/operators-guide.md\n/usr/share/doc/%s/README.md\n.fi\n' \
  "$package" "${package#cluster-}" "$package" "$package" "$package"
printf '.SH SEE ALSO\n/usr/share/doc/%s/operators-guide.md: installing, configuring, tokens, logs and several masters.\n' "$package"
