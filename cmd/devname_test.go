package cmd

import (
	"errors"
	"strings"
	"testing"
)

// TestSuggestDevice: near-miss device names get the canonical name they
// mean; names that mean none get no suggestion.
func TestSuggestDevice(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"e01.2", "e1.2"},
		{"e1.02", "e1.2"},
		{"e001.002", "e1.2"},
		{"e0.0", ""}, // canonical
		{"e00.0", "e0.0"},
		{"/dev/etherd/e1.2", "e1.2"},
		{"/dev/etherd/e01.2", "e1.2"},
		{"etherd/e1.2", "e1.2"},
		{"/dev/etherd/e1.2p1", "e1.2"},
		{"1.2", "e1.2"},
		{"01.2", "e1.2"},
		{"E1.2", "e1.2"},
		{"e1.2p1", "e1.2"},
		{"e1.2p12", "e1.2"},
		{" e1.2 ", "e1.2"},
		{"e65534.254", ""},
		{"E65534.254", "e65534.254"},
		// No suggestion: nothing near, or out of range.
		{"e1.255", ""},
		{"e65535.0", ""},
		{"e1.2p", ""},
		{"e1.2px", ""},
		{"sda", ""},
		{"/dev/sda", ""},
		{"/dev/e1.2", ""},
		{"e1", ""},
		{"e1.", ""},
		{".2", ""},
		{"e-1.2", ""},
		{"e+1.2", ""},
		{"", ""},
		{"e1.2\x1b", ""},
	} {
		if got := suggestDevice(c.in); got != c.want {
			t.Errorf("suggestDevice(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestAddressArg: one message for every command taking DEV, a usage
// error, with the suggestion when there is one.
func TestAddressArg(t *testing.T) {
	if a, err := addressArg("e1.2"); err != nil || a.Shelf != 1 || a.Slot != 2 {
		t.Fatalf("e1.2: %v %v", a, err)
	}
	_, err := addressArg("/dev/etherd/e1.2")
	if !errors.Is(err, ErrUsage) || err.Error() != `"/dev/etherd/e1.2" is not an AoE device name; did you mean e1.2?` {
		t.Errorf("/dev/etherd/e1.2: %v", err)
	}
	_, err = addressArg("sda\x1b")
	if !errors.Is(err, ErrUsage) || !strings.HasPrefix(err.Error(), `"sda\x1b" is not an AoE device name (want eSHELF.SLOT`) {
		t.Errorf("sda: %v", err)
	}
	// Every command taking DEV says it the same way.
	for _, argv := range [][]string{
		{"aoe", "ping", "e1.2p1"},
		{"aoe", "cfg", "e1.2p1"},
		{"aoe", "mask", "e1.2p1"},
		{"aoe", "reserve", "e1.2p1"},
		{"aoe", "read", "e1.2p1"},
		{"aoe", "write", "e1.2p1"},
		{"aoe", "bench", "e1.2p1"},
		{"aoe", "nbd", "e1.2p1"},
		{"aoe", "revalidate", "--sysfs", fixtures + "/basic", "e1.2p1"},
		{"aoe", "flush", "--sysfs", fixtures + "/basic", "e1.2p1"},
		{"aoe", "discover", "--sysfs", fixtures + "/basic", "--wait", "e1.3,e1.2p1"},
	} {
		r := execute(t, argv, runOpts{})
		if r.code != ExitUsage || !strings.Contains(r.stderr, `"e1.2p1" is not an AoE device name; did you mean e1.2?`) || len(r.writes) != 0 {
			t.Errorf("%v: %+v", argv, r)
		}
	}
}
