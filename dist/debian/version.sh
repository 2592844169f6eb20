#!/bin/sh
# Prints the Debian package version: from the newest v* tag (v0.9.0 ->
# 0.9.0; 3 commits later -> 0.9.0+git3.gHASH; uncommitted changes add
# +dirty), else 0.0~gitHASH, else 0.0~devel outside git.
d=$(git describe --tags --match 'v[0-9]*' --dirty=.dirty 2>/dev/null)
if [ -n "$d" ]; then
	d=${d#v}
	case "$d" in
	*-*-g*) base=${d%%-*}; rest=${d#*-}; n=${rest%%-*}; echo "$base+git$n.${rest#*-}" | tr - . ;;
	*) echo "$d" | tr - . | sed 's/\.dirty$/+dirty/' ;;
	esac
	exit 0
fi
h=$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo 0.0~devel; exit 0; }
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then h="$h.dirty"; fi
echo "0.0~git$h"
