#!/usr/bin/env bash
# Writes the operator's guide that both packages install as
# /usr/share/doc/<package>/operators-guide.md: the "## Operations" part of
# README.md (installing, tokens, logs and their events, health and metrics,
# upgrades, several masters), cut out at build time so it cannot drift from
# the README, with links into the source tree turned into plain text (they
# lead nowhere on an installed host).
#
#   scripts/release/operators-guide.sh VERSION > operators-guide.md
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=${1:?usage: operators-guide.sh VERSION}
operations=$(awk '/^## Operations$/ { on = 1; next } on && /^## / { exit } on' "$root/README.md")
[ -n "$operations" ] || { echo "operators-guide.sh: README.md has no '## Operations' section" >&2; exit 1; }
cat <<HEAD
# cluster worker registry $version: operator's guide

How to install, run, follow and upgrade \`cluster-master\` and \`cluster-agent\`
(the "Operations" part of the project's README, as of this version). Every
command and option: \`man cluster-master\`, \`man cluster-agent\`, or \`--help\`
after any command (\`cluster-master worker list --help\`). A JSON log read
back readable: \`journalctl -u cluster-agent -o cat | cluster-agent pretty\`.
HEAD
# Headings one level up (### Installing -> ## Installing); [text](relative target) -> text.
printf '%s\n' "$operations" | sed 's/^###/##/' | perl -pe 's/\[([^\]]+)\]\((?![a-z][a-z0-9+.-]*:)[^)]*\)/$1/g'
