#!/bin/sh
# Prints the version of a build: the release in the tree's VERSION file
# (git tags do not travel with this repository), plus the commit as build
# metadata when built from git: 0.9.0+git.20261206114737.59921dc (the
# commit's UTC time, then its hash), with .dirty after it for uncommitted
# changes to tracked files, plain 0.9.0 outside git. The same string is the
# Debian package version (+ sorts after the release, later commits after
# earlier ones: 0.9.0 < 0.9.0+git.20261206114737.59921dc < 0.9.1).
# Usage: version.sh [TOPDIR]
top=${1:-.}
v=$(tr -d ' \t\r\n' < "$top/VERSION" 2>/dev/null)
case "$v" in
[0-9]*.[0-9]*.[0-9]*) ;;
*) echo "version.sh: $top/VERSION must hold a version such as 1.2.3, got '$v'" >&2; exit 1 ;;
esac
h=$(git -C "$top" rev-parse --short=7 HEAD 2>/dev/null) || { echo "$v"; exit 0; }
# The commit's time (UTC) before its hash: hashes do not sort, and dpkg
# and apt order builds of the same release by what follows +git.
t=$(TZ=UTC git -C "$top" log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD 2>/dev/null) || { echo "$v"; exit 0; }
if [ -n "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ]; then h="$h.dirty"; fi
echo "$v+git.$t.$h"
