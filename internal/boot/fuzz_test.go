package boot

import (
	"errors"
	"testing"
)

// FuzzParse: any aoe.conf either parses or fails with a *ParseError that
// names the file and a line of it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"AOE_BOOT=yes\nAOE_INTERFACES=\"eth1 eth2\"\nAOE_WAIT='e1.2p1'\n",
		"# comment\n\nAOE_TIMEOUT=90s\n",
		"AOE_BOGUS=1\n", "AOE_BOOT=\"unterminated\n", "AOE_WAIT=e01.2\n", "AOE_INTERFACES=all\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := Parse("aoe.conf", b)
		if err == nil {
			return
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			return // a value's own error, already wrapped with its key
		}
		if pe.File != "aoe.conf" || pe.Line < 1 {
			t.Fatalf("error %v names file %q line %d", err, pe.File, pe.Line)
		}
	})
}
