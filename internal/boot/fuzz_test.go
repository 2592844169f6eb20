package boot

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any aoe.conf either parses or fails with a *ParseError that
// names the file and a line of it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"AOE_BOOT=yes\nAOE_INTERFACES=\"eth1 eth2\"\nAOE_WAIT='e1.2p1'\n",
		"# comment\n\nAOE_TIMEOUT=90s\n",
		"AOE_BOGUS=1\n", "AOE_BOOT=\"unterminated\n", "AOE_WAIT=e01.2\n", "AOE_INTERFACES=all\n",
		// Overflow, NUL bytes, junk after values.
		"AOE_TIMEOUT=18446744074\n", "AOE_TIMEOUT=2562048h\n", "AOE_TIMEOUT=1ns\n",
		"AOE_BOOT=yes\nAOE_INTERFACES=\"eth0\x00eth1\"\n", "AOE_INTERFACES='eth0\x00eth1'\n",
		"AOE_INTERFACES=eth0\\\x00\n", "# \x00\n", "AOE_BOOT=no # \x00\n", "\x00\x00\x00\x00",
		"AOE_BOOT='yes'junk\n", "export AOE_INITRAMFS=yesplease\n", "export\tAOE_INITRAMFS=YES\n",
		"AOE_WAIT=e1.2p99999999999999999999\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, _, err := Parse("aoe.conf", b)
		if err == nil {
			// What parses is what a shell would read: no NUL in a
			// value, a timeout within its bounds.
			for _, k := range Keys {
				if v, verr := cfg.Value(k); verr != nil || strings.IndexByte(v, 0) >= 0 {
					t.Fatalf("%s = %q, %v", k, v, verr)
				}
			}
			if cfg.Timeout < MinTimeout || cfg.Timeout > MaxTimeout {
				t.Fatalf("timeout %v out of bounds", cfg.Timeout)
			}
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
