package cmd

import (
	"strings"
	"testing"
)

// TestEventsIntervalFloor: --interval below 10ms (a nanosecond would burn a
// CPU), zero, negative or unparsable is a usage error, before anything is
// read; never a panic.
func TestEventsIntervalFloor(t *testing.T) {
	for _, v := range []string{"1ns", "9ms", "9999us", "0", "0s", "-1s", "2562048h", "fast"} {
		r := execute(t, []string{"aoe", "events", "--sysfs", fixtures + "/basic", "--no-uevents", "--no-err", "--interval", v}, runOpts{})
		if r.code != ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "interval") || !strings.Contains(r.stderr, "Run 'aoe events --help'") {
			t.Errorf("--interval %s: %+v", v, r)
		}
	}
	r := execute(t, []string{"aoe", "events", "--interval", "1ns"}, runOpts{})
	if want := "aoe events: --interval must be at least 10ms, got 1ns\n"; !strings.HasPrefix(r.stderr, want) {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}
