package cmd

import (
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/blockio"
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

// TestBenchTableASCII: the bench table's srtt says "us" for microseconds
// under a locale that is not UTF-8, "µs" under UTF-8, and "-" before any
// RTT sample; a test without latencies prints "-".
func TestBenchTableASCII(t *testing.T) {
	p99 := 0.0015
	res := []blockio.BenchResult{{Test: "rand-read", BlockSize: 4096, QueueDepth: 1, LatencyP50Seconds: &p99, LatencyP99Seconds: &p99, LatencyMaxSeconds: &p99,
		Paths: []blockio.BenchPath{
			blockio.NewBenchPath(initiator.PathStats{Interface: "eth0", MAC: "02:00:00:00:00:01", SRTT: 500 * time.Microsecond, RTO: 5 * time.Millisecond}, 1),
			blockio.NewBenchPath(initiator.PathStats{Interface: "eth1", MAC: "02:00:00:00:00:02"}, 1),
		}},
		{Test: "seq-read", BlockSize: 1 << 20, QueueDepth: 4, Paths: []blockio.BenchPath{}}}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LC_ALL": "C", "LANG": "en_US.UTF-8"}, "srtt 500us)"},
		{map[string]string{"LANG": "en_US.UTF-8"}, "srtt 500µs)"},
	} {
		var out strings.Builder
		o := &benchOptions{diskOptions: diskOptions{globalOptions: &globalOptions{env: &Env{Stdout: &out, Getenv: func(k string) string { return c.env[k] }}}}}
		if err := writeBenchTable(o, res); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), c.want) || !strings.Contains(out.String(), "srtt -)") || !strings.Contains(out.String(), "1.50ms") {
			t.Errorf("%v: want %q, srtt - and 1.50ms:\n%s", c.env, c.want, out.String())
		}
		if c.env["LC_ALL"] == "C" && strings.Contains(out.String(), "µ") {
			t.Errorf("%v: not ASCII:\n%s", c.env, out.String())
		}
		if !lineHas(out.String(), "seq-read", "-", "-", "-") {
			t.Errorf("no latency: want -:\n%s", out.String())
		}
	}
}
