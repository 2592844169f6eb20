#!/bin/sh
# Writes the package's copyright file (DEP-5) to stdout: the project's own
# licence, then one paragraph for every Go module compiled into the binary
# (as `go version -m BINARY` lists them), with the licence file(s) the
# module ships in the module cache. Fails when a module has no licence file.
# Usage: copyright.sh BINARY HEADER  (HEADER: the project's own paragraphs)
set -eu
bin=$1
header=$2
go=${GO:-go}
cache=$($go env GOMODCACHE)
cat "$header"
# Module paths are stored case-encoded in the cache (A -> !a).
$go version -m "$bin" | awk '$1 == "dep" { print $2, $3 }' | sort | while read -r mod ver; do
	dir="$cache/$(printf '%s' "$mod" | sed 's/[A-Z]/!&/g' | tr 'A-Z' 'a-z')@$ver"
	files=$(cd "$dir" 2>/dev/null && ls | grep -iE '^(licen[cs]e|copying|notice)' | LC_ALL=C sort) || true
	lic=$(cd "$dir" 2>/dev/null && ls | grep -iE '^(licen[cs]e|copying)' | LC_ALL=C sort) || true
	if [ -z "$lic" ]; then
		echo "copyright.sh: $mod@$ver: no licence file in $dir" >&2
		exit 1
	fi
	names=
	for f in $lic; do
		t=$(tr '\n' ' ' < "$dir/$f" | tr -s ' ')
		case "$t" in
		*"Apache License"*"Version 2.0"*) n=Apache-2.0 ;;
		*"Permission is hereby granted, free of charge"*) n=Expat ;;
		*"Redistribution and use in source and binary forms"*"Neither the name"*) n=BSD-3-Clause ;;
		*"Redistribution and use in source and binary forms"*) n=BSD-2-Clause ;;
		*) echo "copyright.sh: $mod@$ver: $f: licence not recognised" >&2; exit 1 ;;
		esac
		case " $names " in *" $n "*) ;; *) names="${names:+$names and }$n" ;; esac
	done
	copyright=$(cat $(for f in $files; do echo "$dir/$f"; done) | grep -E '^[[:space:]]*Copyright (\(c\)|\(C\)|©|[0-9])' | sed 's/^[[:space:]]*//' | sed -E 's/^Copyright +//' | LC_ALL=C sort -u | sed '2,$s/^/ /') || true
	[ -n "$copyright" ] || copyright="The authors of $mod"
	printf '\nFiles: vendor/%s/*\nCopyright: %s\nLicense: %s\nComment: Go module %s %s, compiled into /usr/sbin/aoe.\n' "$mod" "$copyright" "$names" "$mod" "$ver"
	for f in $files; do
		# The Apache licence's text is in /usr/share/common-licenses.
		if tr '\n' ' ' < "$dir/$f" | tr -s ' ' | grep -q 'Apache License Version 2.0, January 2004 http://www.apache.org/licenses/ TERMS AND CONDITIONS'; then
			printf ' .\n %s of %s: the Apache License, Version 2.0.\n' "$f" "$mod"
			continue
		fi
		printf ' .\n %s of %s:\n .\n' "$f" "$mod"
		sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /' "$dir/$f"
	done
done
cat <<'LIC'

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy
 of the License at http://www.apache.org/licenses/LICENSE-2.0
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can
 be found in /usr/share/common-licenses/Apache-2.0.

License: BSD-3-Clause
 Each module's own text is in its Comment above.

License: BSD-2-Clause
 Each module's own text is in its Comment above.
LIC
