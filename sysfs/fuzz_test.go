package sysfs

import (
	"strings"
	"testing"
)

// FuzzParseInterfaceList: the names are non-empty, carry no separator,
// and come from the input in order.
func FuzzParseInterfaceList(f *testing.F) {
	for _, s := range []string{"eth0 eth1\n", "eth0,eth1", "  ", "", "eth0\x00eth1", "é\tx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rest := s
		for _, n := range ParseInterfaceList(s) {
			if n == "" || strings.ContainsAny(n, " ,\t\n") {
				t.Fatalf("name %q from %q", n, s)
			}
			i := strings.Index(rest, n)
			if i < 0 {
				t.Fatalf("name %q not in %q in order", n, s)
			}
			rest = rest[i+len(n):]
		}
	})
}
