package cmd

import (
	"net"
	"strings"
	"testing"

	"github.com/goaoe/aoe/initiator/aoetest"
)

// TestWireSearchQuiet: a search that found targets says nothing on stderr
// about how it ended (--help says it); one that found none says that a
// slow target may need --timeout. sancheck -v says it.
func TestWireSearchQuiet(t *testing.T) {
	f := newFakeSAN(t)
	f.ifaces = append(f.ifaces, net.Interface{Index: 6, Name: "eth4", MTU: 1500, HardwareAddr: hostMAC(6), Flags: net.FlagUp | net.FlagBroadcast})
	f.nets["eth4"] = &aoetest.Network{} // no target there
	opts := runOpts{setup: f.setup, env: map[string]string{"sysfs_dir": "/nonexistent"}}
	for _, argv := range [][]string{
		{"aoe", "discover", "--probe", "-i", "eth0"},
		{"aoe", "discover", "--probe", "-i", "eth0", "--json"},
		{"aoe", "sancheck", "-i", "eth0"},
		{"aoe", "cfg", "--all", "-i", "eth0"},
	} {
		if r := execute(t, argv, opts); r.code != 0 || r.stderr != "" || r.stdout == "" {
			t.Errorf("%v: %+v", argv, r)
		}
	}
	r := execute(t, []string{"aoe", "discover", "--probe", "-i", "eth4"}, opts)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "no AoE target answered on eth4") || !strings.Contains(r.stderr, "a slower target may be missing (--timeout 5s waits that long)") {
		t.Errorf("no target: %+v", r)
	}
	r = execute(t, []string{"aoe", "sancheck", "-v", "-i", "eth0"}, opts)
	if r.code != 0 || !strings.Contains(r.stderr, "a slower target may be missing") {
		t.Errorf("sancheck -v: %+v", r)
	}
}
