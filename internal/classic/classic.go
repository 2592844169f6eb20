// Package classic renders the output of aoetools' C tools and scripts
// (aoeping, aoecfg, aoe-sancheck, aoe-stat) byte for byte, as pure
// functions over the types of the initiator, discover and sysfs packages.
// The cmd package runs the commands; this package only writes what
// aoetools 36 would have written.
package classic

import (
	"fmt"
	"io"
	"strings"
)

// hexLines writes bytes as aoeping does: "%02x " each, a newline after
// every 16, and one more at the end when final.
func hexLines(w io.Writer, b []byte, final bool) {
	var s strings.Builder
	for i, c := range b {
		fmt.Fprintf(&s, "%02x ", c)
		if i%16 == 15 {
			s.WriteByte('\n')
		}
	}
	if final {
		s.WriteByte('\n')
	}
	io.WriteString(w, s.String())
}
