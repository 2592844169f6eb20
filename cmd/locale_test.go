package cmd

import (
	"strings"
	"testing"
)

// TestASCIILocale: under a locale that is not UTF-8 (LC_ALL=C, which wins
// over LANG), the renderers print ASCII: "..." for a cut cell, "us" for
// microseconds in messages; the cut cell is as wide as in UTF-8.
func TestASCIILocale(t *testing.T) {
	f := newFakeSAN(t)
	argv := []string{"aoe", "discover", "--probe", "-i", "eth1", "--timeout", "1s"}
	env := map[string]string{"sysfs_dir": "/nonexistent", "LC_ALL": "C", "LANG": "en_US.UTF-8"}
	r := execute(t, argv, runOpts{setup: f.setup, env: env})
	checkGolden(t, "wire/probe-ascii", r.transcript(argv, nil))
	if !strings.Contains(r.stdout, "thirty-...") || strings.Contains(r.stdout, "…") {
		t.Errorf("not ASCII:\n%s", r.stdout)
	}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LC_ALL": "C"}, "got 500us"},
		{map[string]string{"LC_CTYPE": "POSIX", "LANG": "en_US.UTF-8"}, "got 500us"},
		{map[string]string{"LANG": "en_US.UTF-8"}, "got 500µs"},
	} {
		r := execute(t, []string{"aoe", "events", "--interval", "500us"}, runOpts{env: c.env})
		if r.code != ExitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: %+v, want %q", c.env, r, c.want)
		}
	}
}
